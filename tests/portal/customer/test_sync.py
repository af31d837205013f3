"""CRM-owned customer data written by other systems reaches the portal's read copies after
one pull cycle; re-pulling changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Table, func, select, update

from backend_adapter import crm_schema as crm
from backend_adapter.connectors.base import Cursor
from backend_adapter.connectors.sql import SqlConnector
from backend_adapter.puller import Puller
from portal.customer.models import Invoice, Order, OrderLine, Product, Serial
from portal.demo import seed
from portal.models import metadata
from portal.partner.models import SalesTarget

T0 = datetime(2026, 11, 1, 9, 0)
READ_COPIES = ("product", "customer_order", "customer_order_line", "serial", "invoice", "sales_target")


@pytest.fixture
def crm_connector(state: Any) -> SqlConnector:
    return SqlConnector(state.crm_engine)


def _insert(state: Any, table: Table, *rows: dict[str, Any]) -> None:
    with state.crm_engine.begin() as conn:
        conn.execute(table.insert(), list(rows))


def _update(state: Any, table: Table, key: dict[str, Any], **values: Any) -> None:
    with state.crm_engine.begin() as conn:
        conn.execute(update(table).where(*[table.c[k] == v for k, v in key.items()]).values(**values))


def _snapshot(uow: Callable[..., Any]) -> dict[str, list[tuple[Any, ...]]]:
    with uow() as session:
        return {
            name: sorted(tuple(row) for row in session.execute(select(metadata.tables[name])))  # type: ignore[misc]
            for name in READ_COPIES
        }


def _write_erp_order(state: Any) -> None:
    _insert(
        state,
        crm.crm_product,
        {"sku": "NW-SW-8P", "name": "8-port PoE switch", "category": "networking", "warranty_months": 36, "active": True, "updated_at": T0},
    )
    _insert(
        state,
        crm.crm_order,
        {
            "order_number": "SO-1",
            "account_id": None,
            "customer_email": "Alice@Example.COM",
            "status": "paid",
            "ordered_at": datetime(2026, 10, 30, 8, 15),
            "currency": "USD",
            "total_cents": 25_000,
            "updated_at": T0,
        },
    )
    _insert(
        state,
        crm.crm_order_line,
        *[
            {"order_number": "SO-1", "line_no": n, "sku": "NW-SW-8P", "quantity": 1, "unit_price_cents": 5_000, "updated_at": T0}
            for n in (1, 2, 3, 4, 5)
        ],
    )
    _insert(
        state,
        crm.crm_serial,
        {
            "serial": "NWSW100001",
            "sku": "NW-SW-8P",
            "order_number": "SO-1",
            "shipped_at": None,
            "sold_to_account_id": None,
            "warranty_starts_on": None,
            "updated_at": T0,
        },
    )
    _insert(
        state,
        crm.crm_invoice,
        {
            "invoice_number": "INV-1",
            "order_number": "SO-1",
            "account_id": None,
            "customer_email": "Alice@Example.COM",
            "amount_due_cents": 25_000,
            "currency": "USD",
            "status": "open",
            "issued_at": datetime(2026, 10, 30, 9, 0),
            "due_on": date(2026, 11, 29),
            "updated_at": T0,
        },
    )


def test_erp_rows_appear_after_one_pull_and_repulling_changes_nothing(state: Any, crm_connector: SqlConnector, uow: Any) -> None:
    _write_erp_order(state)
    puller = Puller(state.db, crm_connector, page_size=2)
    applied = puller.pull_once()
    assert {k: v for k, v in applied.items() if v} == {
        "crm_product": 1,
        "crm_order": 1,
        "crm_order_line": 5,
        "crm_serial": 1,
        "crm_invoice": 1,
    }
    with uow() as session:
        order = session.get(Order, "SO-1")
        assert order is not None
        assert order.customer_email == "alice@example.com"
        assert order.ordered_at == datetime(2026, 10, 30, 8, 15, tzinfo=UTC)
        assert [line.line_no for line in order.lines] == [1, 2, 3, 4, 5]
        product = session.get(Product, "NW-SW-8P")
        assert product is not None
        assert (product.warranty_months, product.active) == (36, True)
        invoice = session.get(Invoice, "INV-1")
        assert invoice is not None
        assert (invoice.customer_email, invoice.due_on, invoice.status) == ("alice@example.com", date(2026, 11, 29), "open")
        serial = session.get(Serial, "NWSW100001")
        assert serial is not None
        assert (serial.shipped_at, serial.warranty_starts_on) == (None, None)
    before = _snapshot(uow)
    puller.pull_once()
    assert _snapshot(uow) == before


def test_a_later_crm_change_is_applied_by_the_next_pull(state: Any, crm_connector: SqlConnector, uow: Any) -> None:
    _write_erp_order(state)
    puller = Puller(state.db, crm_connector, page_size=2)
    puller.pull_once()
    later = datetime(2026, 11, 2, 14, 0)
    _update(state, crm.crm_order, {"order_number": "SO-1"}, status="shipped", updated_at=later)
    _update(state, crm.crm_order_line, {"order_number": "SO-1", "line_no": 3}, quantity=7, updated_at=later)
    _update(
        state,
        crm.crm_serial,
        {"serial": "NWSW100001"},
        shipped_at=datetime(2026, 11, 2, 10, 0),
        warranty_starts_on=date(2026, 11, 5),
        updated_at=later,
    )
    _update(state, crm.crm_invoice, {"invoice_number": "INV-1"}, status="paid", amount_due_cents=0, updated_at=later)
    _update(state, crm.crm_product, {"sku": "NW-SW-8P"}, active=False, updated_at=later)
    puller.pull_once()
    with uow() as session:
        order = session.get(Order, "SO-1")
        assert order is not None
        assert order.status == "shipped"
        assert order.updated_at == later.replace(tzinfo=UTC)
        assert [line.quantity for line in order.lines] == [1, 1, 7, 1, 1]
        serial = session.get(Serial, "NWSW100001")
        assert serial is not None
        assert (serial.shipped_at, serial.warranty_starts_on) == (datetime(2026, 11, 2, 10, 0, tzinfo=UTC), date(2026, 11, 5))
        invoice = session.get(Invoice, "INV-1")
        assert invoice is not None
        assert (invoice.status, invoice.amount_due_cents) == ("paid", 0)
        product = session.get(Product, "NW-SW-8P")
        assert product is not None
        assert product.active is False
    before = _snapshot(uow)
    puller.pull_once()
    assert _snapshot(uow) == before


def test_order_lines_with_composite_keys_page_without_loss_or_repeat(state: Any, crm_connector: SqlConnector, uow: Any) -> None:
    # Many lines share one timestamp (and a few have none): the (order_number, line_no) cursor
    # must walk across pages; line 10 sorts after line 9 (numeric, not text).
    rows = [
        {"order_number": f"SO-{o}", "line_no": n, "sku": "NW-NAS-4B", "quantity": n, "unit_price_cents": 100, "updated_at": T0}
        for o in (1, 2, 3)
        for n in range(1, 12)
    ]
    rows += [
        {"order_number": "SO-9", "line_no": n, "sku": "NW-NAS-4B", "quantity": 1, "unit_price_cents": 100, "updated_at": None}
        for n in (1, 2)
    ]
    _insert(state, crm.crm_order_line, *rows)
    seen: list[tuple[str, int]] = []
    page = crm_connector.changes_since("crm_order_line", Cursor(), limit=4)
    while page.rows:
        seen += [(r["order_number"], r["line_no"]) for r in page.rows]
        page = crm_connector.changes_since("crm_order_line", page.cursor, limit=4)
    assert seen[:2] == [("SO-9", 1), ("SO-9", 2)]  # NULL updated_at counts as the epoch: first
    assert sorted(seen) == sorted((r["order_number"], r["line_no"]) for r in rows)
    assert len(seen) == len(set(seen))

    assert Puller(state.db, crm_connector, page_size=4).pull_once()["crm_order_line"] == len(rows)
    with uow() as session:
        assert session.scalar(select(func.count()).select_from(OrderLine)) == len(rows)
        assert session.get(OrderLine, ("SO-2", 10)) is not None


def test_the_demo_data_arrives_in_full(state: Any, settings: Any, uow: Any) -> None:
    seed(settings, echo=lambda _line: None)
    Puller(state.db, SqlConnector(state.crm_engine), page_size=50).pull_once()
    pairs = [
        (crm.crm_product, Product),
        (crm.crm_order, Order),
        (crm.crm_order_line, OrderLine),
        (crm.crm_serial, Serial),
        (crm.crm_invoice, Invoice),
        (crm.crm_sales_target, SalesTarget),
    ]
    with state.crm_engine.connect() as conn:
        expected = {table.name: conn.scalar(select(func.count()).select_from(table)) for table, _ in pairs}
    with uow() as session:
        actual = {table.name: session.scalar(select(func.count()).select_from(model)) for table, model in pairs}
    assert actual == expected
    assert all(expected.values())
    before = _snapshot(uow)
    Puller(state.db, SqlConnector(state.crm_engine), page_size=50).pull_once()
    assert _snapshot(uow) == before
