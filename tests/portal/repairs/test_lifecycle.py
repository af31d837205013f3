"""The order of repair states is one order on both sides, and every state can be explained."""

from __future__ import annotations

import pytest

from backend_adapter.crm_schema import RMA_STATUS_RANK
from portal.repairs.lifecycle import (
    CUSTOMER_CANCELLABLE,
    EXPLAIN,
    LABELS,
    NOTIFY,
    RANK,
    RECEIVABLE,
    TERMINAL,
    TRANSITIONS,
    RmaStatus,
    can_move,
    later,
)


def test_the_portal_and_the_crm_store_rank_statuses_alike() -> None:
    assert {status.value: rank for status, rank in RANK.items()} == RMA_STATUS_RANK
    assert set(RANK) == set(RmaStatus)


@pytest.mark.parametrize(("origin", "target"), [(a, b) for a, moves in TRANSITIONS.items() for b in moves], ids=lambda s: s.value)
def test_every_desk_move_goes_forward(origin: RmaStatus, target: RmaStatus) -> None:
    # No exceptions: a move the desk offers is never undone by the CRM's guard or the pull.
    assert later(origin, target), f"{origin} → {target} does not move forward"
    assert can_move(origin, target)


def test_every_status_has_its_moves_a_label_and_an_explanation() -> None:
    assert set(TRANSITIONS) == set(RmaStatus)
    assert set(LABELS) == set(RmaStatus)
    assert set(EXPLAIN) == set(RmaStatus)
    assert all(LABELS[s] and all(EXPLAIN[s]) for s in RmaStatus)


def test_side_exits_end_the_case_and_only_closing_beats_them() -> None:
    for exit_ in (RmaStatus.REJECTED, RmaStatus.CANCELLED):
        assert exit_ in TERMINAL
        assert TRANSITIONS[exit_] == ()
        beaten_by = {s for s in RmaStatus if later(exit_, s)}
        assert beaten_by == {RmaStatus.CLOSED}
    assert not later(RmaStatus.REPAIRED, RmaStatus.REPLACED)
    assert not later(RmaStatus.REPLACED, RmaStatus.REPAIRED)


def test_the_customers_own_moves_and_the_desk_sets_are_consistent() -> None:
    assert CUSTOMER_CANCELLABLE <= RECEIVABLE
    assert all(RmaStatus.CANCELLED in TRANSITIONS[s] for s in CUSTOMER_CANCELLABLE)
    assert all(RmaStatus.RECEIVED in TRANSITIONS[s] for s in RECEIVABLE - {RmaStatus.REQUESTED})
    assert set(RmaStatus) >= NOTIFY
    assert RmaStatus.REQUESTED not in NOTIFY
