"""The other direction: domains register handlers for CRM-side changes.

The puller (backend_adapter) reads changed CRM rows and hands each page to the handler of
its source table, inside the portal transaction that also moves the cursor. Handlers own the
domain's rules (a read copy is upserted; a repair status never moves backwards).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from portal.mail.service import Mailing


@dataclass(frozen=True)
class PullContext:
    """What handlers may need beyond the session: e-mail for customers told of a change.
    `mailing` is None where nobody is to be told (tools, some tests)."""

    mailing: Mailing | None = None


PullHandler = Callable[[Session, list[dict[str, Any]], PullContext], int]

# Domain modules that register handlers; imported by name so the adapter needs no domain import.
HANDLER_MODULES = ("portal.accounts.sync", "portal.customer.sync", "portal.partner.sync", "portal.repairs.sync")

_HANDLERS: dict[str, PullHandler] = {}


def pull_handler(source: str) -> Callable[[PullHandler], PullHandler]:
    """Register `fn(session, rows, context) -> applied` for the CRM table `source`."""

    def register(fn: PullHandler) -> PullHandler:
        _HANDLERS[source] = fn
        return fn

    return register


def handlers() -> dict[str, PullHandler]:
    for module in HANDLER_MODULES:
        importlib.import_module(module)
    return dict(_HANDLERS)
