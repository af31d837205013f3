"""From versioned outbox events to CRM rows. One function per (event type, payload version);
an event nobody maps is a permanent error (parked as dead, replayable once mapped)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, NamedTuple


class MappingError(Exception):
    pass


class CrmWrite(NamedTuple):  # one per event: a tuple is cheaper to build than a frozen dataclass
    table: str
    external_id: str
    row: dict[str, Any]


def crm_timestamp(value: str | datetime | None) -> datetime | None:
    """ISO text or aware datetime → naive UTC, as the CRM store keeps timestamps."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    if parsed.tzinfo is UTC:  # the usual case (portal timestamps): no conversion needed
        return parsed.replace(tzinfo=None)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


Mapper = Callable[[dict[str, Any], datetime], CrmWrite]
_MAPPERS: dict[tuple[str, int], Mapper] = {}


def mapper(event_type: str, version: int = 1) -> Callable[[Mapper], Mapper]:
    def register(fn: Mapper) -> Mapper:
        _MAPPERS[(event_type, version)] = fn
        return fn

    return register


def _require(payload: dict[str, Any], *names: str) -> None:
    for name in names:  # runs for every event: no list unless something is missing
        if name not in payload:
            missing = [n for n in names if n not in payload]
            raise MappingError(f"payload lacks {', '.join(missing)}")


@mapper("contact.upserted")
def contact_v1(payload: dict[str, Any], occurred_at: datetime) -> CrmWrite:
    _require(payload, "external_id", "email", "role", "created_at")
    return CrmWrite(
        table="crm_contact",
        external_id=payload["external_id"],
        row={
            "account_id": payload.get("account_id"),
            "email": payload["email"],
            "name": payload.get("name") or "",
            "locale": payload.get("locale") or "en",
            "role": payload["role"],
            "active": bool(payload.get("active", True)),
            "created_at": crm_timestamp(payload["created_at"]),
            "updated_at": crm_timestamp(occurred_at),
        },
    )


@mapper("partner_application.upserted")
def partner_application_v1(payload: dict[str, Any], occurred_at: datetime) -> CrmWrite:
    _require(payload, "external_id", "company", "contact_email", "status", "created_at")
    return CrmWrite(
        table="crm_partner_application",
        external_id=payload["external_id"],
        row={
            "company": payload["company"],
            "country": payload.get("country"),
            "contact_email": payload["contact_email"],
            "status": payload["status"],
            "account_id": payload.get("account_id"),
            "created_at": crm_timestamp(payload["created_at"]),
            "updated_at": crm_timestamp(occurred_at),
        },
    )


@mapper("rma_unit.upserted")
def rma_unit_v1(payload: dict[str, Any], occurred_at: datetime) -> CrmWrite:
    """One unit of an RMA is one `crm_rma` row (`rma_number` is the unit's `RMA-XXXXXX-n`)."""
    _require(payload, "external_id", "rma_number", "status", "created_at")
    return CrmWrite(
        table="crm_rma",
        external_id=payload["external_id"],
        row={
            "rma_number": payload["rma_number"],
            "account_id": payload.get("account_id"),
            "contact_email": payload.get("contact_email"),
            "serial": payload.get("serial"),
            "sku": payload.get("sku"),
            "order_number": payload.get("order_number"),
            "reason": payload.get("reason"),
            "warranty_status": payload.get("warranty_status") or "unknown",
            "status": payload["status"],
            "created_at": crm_timestamp(payload["created_at"]),
            "updated_at": crm_timestamp(occurred_at),
        },
    )


@mapper("rma_event.recorded")
def rma_event_v1(payload: dict[str, Any], occurred_at: datetime) -> CrmWrite:
    _require(payload, "external_id", "rma_number", "status", "occurred_at")
    visible = payload.get("customer_visible")
    return CrmWrite(
        table="crm_rma_event",
        external_id=payload["external_id"],
        row={
            "rma_number": payload["rma_number"],
            "status": payload["status"],
            "note": payload.get("note") or "",
            "source": payload.get("source") or "portal",
            "customer_visible": True if visible is None else bool(visible),
            "occurred_at": crm_timestamp(payload["occurred_at"]),
            "updated_at": crm_timestamp(occurred_at),
        },
    )


def _crm_date(value: str) -> date:
    return date.fromisoformat(value)


@mapper("inventory_line.upserted")
def inventory_line_v1(payload: dict[str, Any], occurred_at: datetime) -> CrmWrite:
    """One accepted partner inventory line; a line missing from a later version comes withdrawn."""
    _require(payload, "external_id", "partner_account_id", "report_external_id", "as_of", "sku", "quantity_on_hand")
    return CrmWrite(
        table="crm_inventory_line",
        external_id=payload["external_id"],
        row={
            "partner_account_id": payload["partner_account_id"],
            "report_external_id": payload["report_external_id"],
            "as_of": _crm_date(payload["as_of"]),
            "location": payload.get("location"),
            "sku": payload["sku"],
            "quantity_on_hand": int(payload["quantity_on_hand"]),
            "withdrawn": bool(payload.get("withdrawn", False)),
            "updated_at": crm_timestamp(occurred_at),
        },
    )


@mapper("sell_through_line.upserted")
def sell_through_line_v1(payload: dict[str, Any], occurred_at: datetime) -> CrmWrite:
    """One accepted partner sell-through line; a line missing from a later version comes withdrawn."""
    _require(payload, "external_id", "partner_account_id", "report_external_id", "sold_on", "sku", "quantity")
    return CrmWrite(
        table="crm_sell_through_line",
        external_id=payload["external_id"],
        row={
            "partner_account_id": payload["partner_account_id"],
            "report_external_id": payload["report_external_id"],
            "sold_on": _crm_date(payload["sold_on"]),
            "sku": payload["sku"],
            "quantity": int(payload["quantity"]),
            "unit_price_cents": payload.get("unit_price_cents"),
            "currency": payload.get("currency"),
            "end_customer_name": payload.get("end_customer_name"),
            "end_customer_country": payload.get("end_customer_country"),
            "end_customer_postcode": payload.get("end_customer_postcode"),
            "serial": payload.get("serial"),
            "withdrawn": bool(payload.get("withdrawn", False)),
            "updated_at": crm_timestamp(occurred_at),
        },
    )


def to_crm(event_type: str, version: int, payload: dict[str, Any], occurred_at: datetime) -> CrmWrite:
    fn = _MAPPERS.get((event_type, version))
    if fn is None:
        raise MappingError(f"no mapping for {event_type} v{version}")
    try:
        return fn(payload, occurred_at)
    except (KeyError, TypeError, ValueError) as exc:
        raise MappingError(f"bad {event_type} v{version} payload: {exc}") from exc


def known_types() -> list[tuple[str, int]]:
    return sorted(_MAPPERS)
