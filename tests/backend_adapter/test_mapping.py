"""Each versioned event type maps to its CRM row: pinned by fixture files, one per case."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from backend_adapter import crm_schema as crm
from backend_adapter.mapping import MappingError, known_types, to_crm

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "mapping").glob("*.json"))


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    def text(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.strftime("%Y-%m-%d %H:%M:%S")
        return v.isoformat() if isinstance(v, date) else v

    return {k: text(v) for k, v in row.items()}


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_event_maps_to_the_expected_crm_row(fixture: Path) -> None:
    case = json.loads(fixture.read_text())
    event = case["event"]
    write = to_crm(event["type"], event["version"], event["payload"], datetime.fromisoformat(event["created_at"]))
    assert (write.table, write.external_id) == (case["expect"]["table"], case["expect"]["external_id"])
    assert _comparable(write.row) == case["expect"]["row"]
    # Every mapped column exists in the CRM team's schema.
    assert set(write.row) <= set(crm.metadata.tables[write.table].c.keys())


def test_every_mapped_event_type_has_a_fixture() -> None:
    covered = {(json.loads(f.read_text())["event"]["type"], json.loads(f.read_text())["event"]["version"]) for f in FIXTURES}
    assert set(known_types()) <= covered


@pytest.mark.parametrize(
    ("event_type", "version", "payload"),
    [
        ("contact.upserted", 2, {}),
        ("no.such.event", 1, {}),
        ("contact.upserted", 1, {"email": "x@example.com"}),
        ("contact.upserted", 1, {"external_id": "x", "email": "x", "role": "customer", "created_at": "not a date"}),
        ("rma_unit.upserted", 1, {"external_id": "x", "rma_number": "RMA-AAAAAA-1", "created_at": "2026-01-01T00:00:00"}),
        ("rma_event.recorded", 1, {"external_id": "x", "rma_number": "RMA-AAAAAA-1", "status": "received", "occurred_at": "soon"}),
    ],
)
def test_unmappable_events_raise_a_mapping_error(event_type: str, version: int, payload: dict[str, Any]) -> None:
    with pytest.raises(MappingError):
        to_crm(event_type, version, payload, datetime.fromisoformat("2026-01-01T00:00:00+00:00"))
