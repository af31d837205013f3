"""Authorization matrix entries for the partner API and its client pages (merged into matrix.MATRIX).

- The client pages are for partner admins of the client's own account (partner_x); everyone
  else signed in gets 404, guests sign in.
- The API routes take no session: a signed-in browser is refused exactly like a guest
  ("401": no bearer token). `/oauth/token` answers the matrix's request (an unsupported grant)
  with 400 for everyone. The bearer checks themselves (tokens, expiry, revocation, scope,
  partner binding) are proven in tests/portal/partner/test_api.py; these routes skip CSRF
  (test_csrf.CSRF_EXEMPT) because no cookie authenticates them.
"""

from __future__ import annotations

from tests.portal.security.matrix import NOBODY, PARTNER_X, PUBLIC, Case, Obj, only, outcomes


def _per_client(result: str = "ok") -> tuple[Case, ...]:
    return (
        Case(expect=only(PARTNER_X, result=result), params={"client_pk": Obj("api_client:P-X")}, label="client:P-X"),
        Case(expect=NOBODY, params={"client_pk": Obj("api_client:P-Y")}, label="client:P-Y"),
        Case(expect=NOBODY, params={"client_pk": "987654"}, label="missing"),
    )


BEARER_ONLY = outcomes("401")

ENTRIES: dict[tuple[str, str], tuple[Case, ...]] = {
    ("/partner/api-clients", "GET"): (Case(only(PARTNER_X)),),
    ("/partner/api-clients", "POST"): (Case(only(PARTNER_X, result="invalid"), form={"name": ""}),),
    ("/partner/api-clients/{client_pk}/rotate", "POST"): _per_client(),
    ("/partner/api-clients/{client_pk}/revoke", "POST"): _per_client(),
    ("/oauth/token", "POST"): (Case(outcomes("invalid"), form={"grant_type": "authorization_code"}),),
    ("/api/v1/reports", "GET"): (Case(BEARER_ONLY, query="period=2026-01"),),
    ("/api/v1/reports", "POST"): (Case(BEARER_ONLY, form={"kind": "inventory"}),),
    ("/api/v1/openapi.json", "GET"): (Case(PUBLIC),),
}
