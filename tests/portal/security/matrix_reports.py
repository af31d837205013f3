"""Authorization matrix entries for the partner report routes (merged into matrix.MATRIX).

Partner users of any role reach the report pages; an upload is its partner account's only
(another partner, customers and staff get 404 — staff views come later); guests sign in.
"""

from __future__ import annotations

from tests.portal.security.matrix import NOBODY, PARTNER_X, PARTNER_Y, Case, Obj, only

PARTNERS = (PARTNER_X, PARTNER_Y)
OWNERS = {"P-X": PARTNER_X, "P-Y": PARTNER_Y}


def _per_upload(result: str = "ok") -> tuple[Case, ...]:
    cases = [
        Case(expect=only(owner, result=result), params={"upload_id": Obj(f"report_upload:{account}")}, label=f"upload:{account}")
        for account, owner in OWNERS.items()
    ]
    cases.append(Case(expect=NOBODY, params={"upload_id": "987654"}, label="missing"))
    return tuple(cases)


ENTRIES: dict[tuple[str, str], tuple[Case, ...]] = {
    ("/partner/reports", "GET"): (Case(only(*PARTNERS)),),
    ("/partner/reports/upload", "GET"): (Case(only(*PARTNERS)),),
    ("/partner/reports/upload", "POST"): (Case(only(*PARTNERS, result="invalid"), form={"kind": "inventory", "period": ""}),),
    ("/partner/reports/uploads/{upload_id}", "GET"): _per_upload(),
    # The world's uploads have no accepted line: the owner reaches the commit and is told so (409).
    ("/partner/reports/uploads/{upload_id}/commit", "POST"): _per_upload(result="invalid"),
    ("/partner/reports/uploads/{upload_id}/rejected", "GET"): _per_upload(),
    ("/partner/reports/uploads/{upload_id}/progress.json", "GET"): _per_upload(),
    ("/partner/reports/template/{kind}.{fmt}", "GET"): (
        Case(only(*PARTNERS), params={"kind": "sell_through", "fmt": "xlsx"}, query="lang=zh"),
        Case(NOBODY, params={"kind": "orders", "fmt": "csv"}, label="unknown kind"),
    ),
}
