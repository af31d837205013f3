"""`portal kb import PATH` (CONTRACTS.md)."""

from __future__ import annotations

import click


@click.group()
def kb() -> None:
    """Knowledge-base articles."""
