"""Authorization matrix entries for the partner web-form report routes (merged into matrix.MATRIX).

Partner users of any role start and fill in reports online; a draft is its partner account's
only (another partner, customers and staff get 404, as for a missing draft); guests sign in.
"""

from __future__ import annotations

from tests.portal.security.matrix import NOBODY, PARTNER_X, PARTNER_Y, Case, Obj, only

PARTNERS = (PARTNER_X, PARTNER_Y)
OWNERS = {"P-X": PARTNER_X, "P-Y": PARTNER_Y}


def _per_draft(result: str = "ok", **form: str) -> tuple[Case, ...]:
    cases = [
        Case(expect=only(owner, result=result), params={"draft_id": Obj(f"report_draft:{account}")}, label=f"draft:{account}", form=form)
        for account, owner in OWNERS.items()
    ]
    cases.append(Case(expect=NOBODY, params={"draft_id": "987654"}, label="missing", form=form))
    return tuple(cases)


ENTRIES: dict[tuple[str, str], tuple[Case, ...]] = {
    ("/partner/reports/new", "GET"): (Case(only(*PARTNERS)),),
    ("/partner/reports/new", "POST"): (Case(only(*PARTNERS, result="invalid"), form={"kind": "inventory", "period": ""}),),
    ("/partner/reports/drafts/{draft_id}", "GET"): _per_draft(),
    # The world's drafts hold a line with an unknown SKU: "Check and submit" answers 422 and stores nothing.
    ("/partner/reports/drafts/{draft_id}", "POST"): _per_draft(result="invalid", action="submit", first="0", count="0"),
    ("/partner/reports/drafts/{draft_id}/discard", "POST"): _per_draft(),
}
