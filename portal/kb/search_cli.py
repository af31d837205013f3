"""`portal search reindex` (CONTRACTS.md)."""

from __future__ import annotations

import click


@click.group()
def search() -> None:
    """The knowledge-base search index."""
