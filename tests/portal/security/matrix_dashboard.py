"""Authorization matrix entries for the partner dashboard and the staff partner overview.

Partners see their own account's dashboard (and CSV); staff see every partner, one partner's
dashboard at /staff/partners/{account_id}; a customer account id or an unknown one is 404.
"""

from __future__ import annotations

from tests.portal.security.matrix import NOBODY, PARTNER_X, PARTNER_Y, STAFF_ROLES, Case, Obj, only

ENTRIES: dict[tuple[str, str], tuple[Case, ...]] = {
    ("/partner/dashboard", "GET"): (Case(only(PARTNER_X, PARTNER_Y), query="month=2026-01&category=boards&region=SG"),),
    ("/partner/dashboard.csv", "GET"): (Case(only(PARTNER_X, PARTNER_Y), query="month=2026-01"),),
    ("/staff/partners", "GET"): (Case(only(*STAFF_ROLES), query="month=2026-01"),),
    ("/staff/partners/{account_id}", "GET"): (
        Case(only(*STAFF_ROLES), params={"account_id": Obj("dashboard_partner:P-X")}, label="P-X"),
        Case(only(*STAFF_ROLES), params={"account_id": Obj("dashboard_partner:P-Y")}, label="P-Y"),
        Case(NOBODY, params={"account_id": "C-A"}, label="customer account"),
        Case(NOBODY, params={"account_id": "P-NOPE"}, label="missing"),
    ),
}
