"""The partner API in operation: the token endpoint's rate limits, the audit trail of API clients,
answers in the caller's language, and the purge of expired tokens and idempotency records."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Role, User
from portal.db import utcnow
from portal.i18n import Catalogues
from portal.partner import api_service
from portal.partner.models import ApiClient, ApiToken, IdempotencyRecord, ReportSubmission
from portal.partner.reports.validation import LineResult, Problem
from portal.security.models import AuditEvent
from tests.portal.partner.reports.test_service import seed_products
from tests.portal.partner.test_api import _admin_browser, _secret_on, bearer, count, get_token, line, new_client, report

TOKEN_FORM = {"grant_type": "client_credentials"}


@pytest.fixture
def alpha(uow: Any, make_account: Any, make_user: Any) -> User:
    seed_products(uow)
    make_account("P-A", "partner", name="Alpha Partner")
    return make_user("ada@alpha.example", Role.PARTNER_ADMIN, account_id="P-A")  # type: ignore[no-any-return]


def tokens(uow: Any) -> int:
    with uow() as db:
        return int(db.scalar(select(func.count()).select_from(ApiToken)) or 0)


# -- rate limits -------------------------------------------------------------------------------------
def _first_refusal(client: Any, data: dict[str, str], budget: int) -> tuple[int, Any]:
    """Ask until refused (at most two windows' worth, in case a window turns over meanwhile)."""
    for attempt in range(2 * budget + 2):
        response = client.post("/oauth/token", data=data)
        if response.status_code == 429:
            return attempt, response
    raise AssertionError("never rate limited")


def test_token_requests_are_limited_per_client_with_an_oauth_style_429(client: Any, uow: Any, alpha: User) -> None:
    client_id, secret = new_client(uow, alpha)
    budget = api_service.TOKEN_CLIENT.max_hits
    granted, refused = _first_refusal(client, {**TOKEN_FORM, "client_id": client_id, "client_secret": secret}, budget)
    assert granted >= budget
    assert tokens(uow) == granted  # the refused request issued nothing
    assert refused.json()["error"] == "slow_down"
    assert refused.json()["error_description"] == "Too many token requests; retry later."
    assert int(refused.headers["retry-after"]) in range(1, api_service.TOKEN_CLIENT.window_s + 2)
    assert refused.headers["cache-control"] == "no-store"
    # Another client from the same address is not held back by the first one's limit.
    other = get_token(client, *new_client(uow, alpha))
    assert client.get("/api/v1/reports", headers={"Authorization": f"Bearer {other}"}).status_code == 200


def test_token_requests_are_limited_per_address_whatever_the_client_id(client: Any, uow: Any, alpha: User) -> None:
    budget = api_service.TOKEN_IP.max_hits
    for attempt in range(2 * budget + 2):
        # A guesser: a new client_id each time, so only the per-address limit can stop it.
        response = client.post("/oauth/token", data={**TOKEN_FORM, "client_id": f"pc_guess{attempt}", "client_secret": "x"})
        if response.status_code == 429:
            break
        assert response.status_code == 401
    else:
        raise AssertionError("never rate limited")
    assert attempt >= budget
    assert response.json()["error"] == "slow_down"
    assert int(response.headers["retry-after"]) >= 1
    # Refusals of any kind count: a malformed request from the same address is refused the same way.
    assert client.post("/oauth/token", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 429
    client_id, secret = new_client(uow, alpha)
    assert client.post("/oauth/token", data={**TOKEN_FORM, "client_id": client_id, "client_secret": secret}).status_code == 429
    assert tokens(uow) == 0


# -- audit -------------------------------------------------------------------------------------------
def test_creating_rotating_and_revoking_a_client_is_audited(client: Any, uow: Any, alpha: User) -> None:
    web = _admin_browser(client, uow, alpha)
    created = web.post(
        "/partner/api-clients",
        data={"csrf_token": web.csrf("/partner/api-clients"), "name": "Warehouse ERP", "scopes": ["reports:read"]},
    )
    client_id, _secret = _secret_on(created.text)
    with uow() as db:
        pk = db.scalar(select(ApiClient.id).where(ApiClient.client_id == client_id))
    assert web.submit(f"/partner/api-clients/{pk}/rotate", form_page="/partner/api-clients").status_code == 200
    assert web.submit(f"/partner/api-clients/{pk}/revoke", form_page="/partner/api-clients").status_code == 303
    web.submit(f"/partner/api-clients/{pk}/revoke", form_page="/partner/api-clients")  # already revoked: nothing new to record
    with uow() as db:
        events = db.scalars(select(AuditEvent).where(AuditEvent.action.like("api_client.%")).order_by(AuditEvent.id)).all()
        trail = [(e.action, e.actor_user_id, e.actor_email, e.target, e.detail.get("partner"), bool(e.ip)) for e in events]
        first_detail = events[0].detail
    assert trail == [
        ("api_client.created", alpha.id, "ada@alpha.example", client_id, "P-A", True),
        ("api_client.rotated", alpha.id, "ada@alpha.example", client_id, "P-A", True),
        ("api_client.revoked", alpha.id, "ada@alpha.example", client_id, "P-A", True),
    ]
    assert first_detail["name"] == "Warehouse ERP"
    assert first_detail["scopes"] == ["reports:read"]
    assert not any(_secret in str(e.detail) for e in events)  # never the secret


def test_a_refused_client_creation_leaves_no_audit_entry(client: Any, uow: Any, alpha: User) -> None:
    web = _admin_browser(client, uow, alpha)
    assert web.submit("/partner/api-clients", {"name": ""}, form_page="/partner/api-clients").status_code == 422
    with uow() as db:
        assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("api_client.%"))) == 0


# -- language ----------------------------------------------------------------------------------------
def test_line_messages_follow_accept_language_and_codes_stay_english(client: Any, uow: Any, alpha: User) -> None:
    token = get_token(client, *new_client(uow, alpha))
    body = report(line("Alpha Co"), line("Beta Co", sku="NW-XX-404"))
    answer = client.post("/api/v1/reports", json=body, headers={**bearer(token), "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert answer.status_code == 200, answer.text
    problem = answer.json()["lines"][1]["errors"][0]
    assert (problem["code"], problem["detail"]) == ("unknown_sku", "sku_unknown")
    assert problem["message"] == "未知的 SKU“NW-XX-404”。"
    english = client.post("/api/v1/reports", json=report(line("Gamma Co", sku="NW-XX-404")), headers=bearer(token))
    assert english.json()["lines"][0]["errors"][0]["message"] == "Unknown SKU “NW-XX-404”."


def test_the_service_speaks_the_language_it_is_given() -> None:
    zh = Catalogues().get("zh")
    result = LineResult(row=2, cells=(), line=None, problems=(Problem("sku", "sku_unknown", {"value": "X-1"}),))
    with api_service.speaking(zh):
        assert api_service._line_result(1, result)["errors"][0]["message"] == "未知的 SKU“X-1”。"
        assert api_service.translate("This value is required.") != "This value is required."
    assert api_service._line_result(1, result)["errors"][0] == {
        "code": "unknown_sku",
        "detail": "sku_unknown",
        "field": "sku",
        "message": "Unknown SKU “X-1”.",
    }


def test_oauth_and_bearer_errors_keep_their_codes_and_an_ascii_challenge_in_chinese(client: Any, uow: Any, alpha: User) -> None:
    zh = {"Accept-Language": "zh-CN"}
    refused = client.post("/oauth/token", data={**TOKEN_FORM, "client_id": "pc_nobody", "client_secret": "x"}, headers=zh)
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
    assert refused.json()["error_description"] == "客户端身份验证失败。"
    no_token = client.get("/api/v1/reports", headers=zh)
    assert (no_token.status_code, no_token.json()["error"]) == (401, "invalid_token")
    no_token.headers["www-authenticate"].encode("ascii")  # a header stays ASCII whatever the language
    read_only = get_token(client, *new_client(uow, alpha, scopes=("reports:read",)))
    scope = client.post("/api/v1/reports", json=report(line("A")), headers={**bearer(read_only), **zh})
    assert (scope.status_code, scope.json()["error"]) == (403, "insufficient_scope")
    assert "reports:write" in scope.json()["error_description"]


# -- housekeeping ------------------------------------------------------------------------------------
def test_purge_expired_deletes_expired_tokens_and_day_old_idempotency_records(client: Any, uow: Any, alpha: User) -> None:
    token = get_token(client, *new_client(uow, alpha))
    now = utcnow()
    with uow() as db:
        pk = db.scalar(select(ApiClient.id))
        assert pk is not None
        for name, expires in (("expired", now - timedelta(seconds=1)), ("live", now + timedelta(minutes=5))):
            db.add(ApiToken(token_hash=name.ljust(64, "0"), client_id=pk, scopes=[], issued_at=now, expires_at=expires))
        for key, age in (("old", timedelta(hours=25)), ("recent", timedelta(hours=23))):
            db.add(IdempotencyRecord(client_id=pk, key=key, request_hash="0" * 64, status_code=200, response={}, created_at=now - age))
    with uow() as db:
        assert api_service.purge_expired(db, now) == (1, 1)
    with uow() as db:
        assert sorted(db.scalars(select(IdempotencyRecord.key))) == ["recent"]
        assert db.get(ApiToken, "live".ljust(64, "0")) is not None
        assert db.get(ApiToken, "expired".ljust(64, "0")) is None
    assert client.get("/api/v1/reports", headers=bearer(token)).status_code == 200  # a live token keeps working
    with uow() as db:
        assert api_service.purge_expired(db, now + timedelta(days=2)) == (2, 1)
    assert client.get("/api/v1/reports", headers=bearer(token)).status_code == 401


# -- hostile input -----------------------------------------------------------------------------------
def test_control_characters_in_values_are_answered_not_a_server_error(client: Any, uow: Any, alpha: User) -> None:
    token = get_token(client, *new_client(uow, alpha))
    body = report(line("Nul\u0000Co"), line("Beta", sku="NW-\u0000-404"))
    answer = client.post("/api/v1/reports", json=body, headers=bearer(token, "nul-1"))
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")
    assert "NUL" in answer.json()["message"]
    assert client.post("/api/v1/reports", json={**report(line("A")), "\u0000": 1}, headers=bearer(token)).status_code == 400
    assert count(uow, ReportSubmission) == 0
    # Other control characters are data like any other: the line is checked and answered.
    tabbed = client.post("/api/v1/reports", json=report(line("Tab\tCo\u0007")), headers=bearer(token, "ctl-1"))
    assert tabbed.status_code < 500, tabbed.text
    again = client.post("/api/v1/reports", json=report(line("Tab\tCo\u0007")), headers=bearer(token, "ctl-1"))
    assert (again.status_code, again.json()) == (tabbed.status_code, tabbed.json())
    deep = client.post("/api/v1/reports", content=b"[" * 100_000, headers={**bearer(token), "Content-Type": "application/json"})
    assert (deep.status_code, deep.json()["error"]) == (400, "invalid_request")
    json_type = {**bearer(token), "Content-Type": "application/json"}
    big = client.post("/api/v1/reports", content=b" " * (4 * 1024 * 1024 + 1), headers=json_type)
    assert (big.status_code, big.json()["error"]) == (413, "request_too_large")


def test_nul_characters_in_client_credentials_are_an_invalid_client(client: Any, uow: Any, alpha: User) -> None:
    client_id, secret = new_client(uow, alpha)
    for data in ({"client_id": client_id + "\u0000", "client_secret": secret}, {"client_id": client_id, "client_secret": "\u0000"}):
        refused = client.post("/oauth/token", data={**TOKEN_FORM, **data})
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
    basic = base64.b64encode(b"pc_\x00:x").decode()
    refused = client.post("/oauth/token", data=TOKEN_FORM, headers={"Authorization": f"Basic {basic}"})
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
    assert client.get("/api/v1/reports?period=2026-0%00", headers=bearer("x\u0000")).status_code == 401
    crowded = client.post("/oauth/token", data={**TOKEN_FORM, **{f"f{i}": "x" for i in range(30)}})
    assert (crowded.status_code, crowded.json()["error"]) == (400, "invalid_request")
