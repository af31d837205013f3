"""Authorization matrix entries for the desk routes (merged into matrix.MATRIX).

Only staff and admins reach the desk; every other signed-in user gets 404 and a guest is
asked to sign in. An unknown RMA number is 404 for everyone."""

from __future__ import annotations

from tests.portal.security.matrix import NOBODY, STAFF_ROLES, Case, Obj, only

UNKNOWN = "RMA-NOPE00"


def _rma(expect_known: dict[str, str], **form: str) -> tuple[Case, ...]:
    return (
        Case(expect_known, params={"number": Obj("desk_rma")}, form=form, label="desk_rma"),
        Case(NOBODY, params={"number": UNKNOWN}, form=form, label="unknown"),
    )


ENTRIES: dict[tuple[str, str], tuple[Case, ...]] = {
    ("/staff/repairs", "GET"): (
        Case(only(*STAFF_ROLES), query="queue=requested&page=1"),
        Case(only(*STAFF_ROLES), query="queue=overdue", label="overdue"),
        Case(only(*STAFF_ROLES), query="q=RMA-DESK01", label="search"),
    ),
    ("/staff/repairs/receive", "GET"): (Case(only(*STAFF_ROLES)),),
    # An empty form: the page answers what to type (the route was reached, nothing changed).
    ("/staff/repairs/receive", "POST"): (
        Case(only(*STAFF_ROLES, result="invalid"), form={"code": "", "codes": ""}),
        Case(only(*STAFF_ROLES), form={"code": UNKNOWN}, label="unknown code"),
    ),
    ("/staff/repairs/{number}", "GET"): _rma(only(*STAFF_ROLES)),
    # A move lifecycle.TRANSITIONS does not allow (requested -> closed) is refused.
    ("/staff/repairs/{number}/move", "POST"): _rma(only(*STAFF_ROLES, result="invalid"), unit="RMA-DESK01-1", to="closed"),
    ("/staff/repairs/{number}/note", "POST"): _rma(only(*STAFF_ROLES), note="Checked by the matrix."),
    # The unit is not being diagnosed: no quote.
    ("/staff/repairs/{number}/quote", "POST"): _rma(
        only(*STAFF_ROLES, result="invalid"), quote_unit="RMA-DESK01-1", amount="10", currency="USD", valid_until="2999-01-01"
    ),
}
