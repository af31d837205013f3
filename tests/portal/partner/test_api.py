"""The partner API over HTTP: client-credentials tokens, bearer checks, JSON report submissions,
idempotent retries, partner binding; and the extranet pages where partner admins manage clients."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import func, select

from portal.accounts.models import Role, User
from portal.db import utcnow
from portal.events.models import OutboxEvent
from portal.partner import api_service
from portal.partner.models import ApiClient, ApiToken, ReportSource, ReportSubmission, SellThroughReportLine
from portal.security.tokens import sha256_hex
from tests.portal.partner.reports.test_service import DAY, PERIOD, seed_products
from tests.portal.security.helpers import sign_in


def line(customer: str, *, sku: str = "NW-MB-B650", quantity: object = 2) -> dict[str, object]:
    return {
        "sold_on": DAY.isoformat(),
        "sku": sku,
        "quantity": quantity,
        "unit_price": "1299.00",
        "currency": "CNY",
        "customer_name": customer,
        "country": "CN",
        "postcode": "518000",
        "serial": "",
        "invoice_ref": f"INV-{customer}",
    }


def report(*lines: dict[str, object], mode: str = "add") -> dict[str, object]:
    return {"kind": "sell_through", "period": PERIOD, "mode": mode, "lines": list(lines)}


@pytest.fixture
def partners(uow: Any, make_account: Any, make_user: Any) -> dict[str, User]:
    seed_products(uow)
    make_account("P-A", "partner", name="Alpha Partner")
    make_account("P-B", "partner", name="Beta Partner")
    return {
        "A": make_user("ada@alpha.example", Role.PARTNER_ADMIN, account_id="P-A"),
        "B": make_user("bob@beta.example", Role.PARTNER_ADMIN, account_id="P-B"),
    }


def new_client(uow: Any, admin: User, scopes: tuple[str, ...] = api_service.SCOPES) -> tuple[str, str]:
    with uow() as db:
        client, secret = api_service.create_client(db, admin, name="ERP", scopes=list(scopes))
        return client.client_id, secret


def get_token(web: Any, client_id: str, secret: str, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    if scope is not None:
        data["scope"] = scope
    response = web.post("/oauth/token", data=data)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def count(uow: Any, model: Any) -> int:
    with uow() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


# -- tokens ------------------------------------------------------------------------------------------
def test_token_by_basic_auth_and_by_form_fields(client: Any, uow: Any, partners: dict[str, User]) -> None:
    client_id, secret = new_client(uow, partners["A"])
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "reports:read reports:write"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"  # the security headers are on API answers too
    form_token = get_token(client, client_id, secret, scope="reports:read")
    assert form_token != body["access_token"]
    with uow() as db:
        stored = db.get(ApiToken, sha256_hex(form_token))
        assert stored is not None
        assert stored.scopes == ["reports:read"]
        assert stored.expires_at - stored.issued_at == timedelta(minutes=15)
        assert db.scalars(select(ApiToken.token_hash)).all().count(form_token) == 0  # only the hash is kept


def test_token_refusals_follow_rfc_6749(client: Any, uow: Any, partners: dict[str, User]) -> None:
    client_id, secret = new_client(uow, partners["A"], scopes=("reports:read",))
    bad = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret + "x"})
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"
    assert bad.headers["www-authenticate"].startswith("Basic")
    unknown = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "pc_nobody", "client_secret": secret})
    assert (unknown.status_code, unknown.json()["error"]) == (401, "invalid_client")
    for scope in ("reports:delete", "reports:write"):  # unknown, and not granted to this client
        refused = client.post(
            "/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": scope}
        )
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_scope"), scope
    grant = client.post("/oauth/token", data={"grant_type": "password", "client_id": client_id, "client_secret": secret})
    assert (grant.status_code, grant.json()["error"]) == (400, "unsupported_grant_type")
    assert count(uow, ApiToken) == 0


def test_expired_unknown_and_missing_tokens_are_401_invalid_token(client: Any, uow: Any, partners: dict[str, User]) -> None:
    token = get_token(client, *new_client(uow, partners["A"]))
    assert client.get("/api/v1/reports", headers=bearer(token)).status_code == 200
    with uow() as db:
        stored = db.get(ApiToken, sha256_hex(token))
        assert stored is not None
        stored.expires_at = utcnow() - timedelta(seconds=1)
    for headers in (bearer(token), bearer("made-up"), {}):
        response = client.get("/api/v1/reports", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
        assert 'Bearer realm="partner-api", error="invalid_token"' in response.headers["www-authenticate"]


def test_a_signed_in_browser_session_is_no_credential_for_the_api(client: Any, uow: Any, partners: dict[str, User]) -> None:
    with uow() as db:
        user = db.get(User, partners["A"].id)
        assert user is not None
        user.totp_secret, user.totp_enabled = pyotp.random_base32(), True
    sign_in(client, client.app.state.portal, "ada@alpha.example")
    assert client.get("/api/v1/reports").status_code == 401
    assert client.post("/api/v1/reports", json=report(line("Alpha Co"))).status_code == 401
    assert count(uow, ReportSubmission) == 0


def test_revoking_a_client_ends_its_tokens_at_once(client: Any, uow: Any, partners: dict[str, User]) -> None:
    client_id, secret = new_client(uow, partners["A"])
    token = get_token(client, client_id, secret)
    with uow() as db:
        pk = db.scalar(select(ApiClient.id).where(ApiClient.client_id == client_id))
        assert pk is not None
        api_service.revoke_client(db, partners["A"], pk)
    assert client.get("/api/v1/reports", headers=bearer(token)).status_code == 401
    again = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    assert again.status_code == 401


def test_a_read_token_cannot_write(client: Any, uow: Any, partners: dict[str, User]) -> None:
    token = get_token(client, *new_client(uow, partners["A"]), scope="reports:read")
    response = client.post("/api/v1/reports", json=report(line("Alpha Co")), headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert count(uow, ReportSubmission) == 0
    write_only = get_token(client, *new_client(uow, partners["A"], scopes=("reports:write",)))
    assert client.get("/api/v1/reports", headers=bearer(write_only)).status_code == 403


# -- submissions ---------------------------------------------------------------------------------------
def test_submission_answers_per_line_and_commits_the_accepted_lines(client: Any, uow: Any, partners: dict[str, User]) -> None:
    token = get_token(client, *new_client(uow, partners["A"]))
    body = report(line("Alpha Co"), line("Beta Co", sku="NW-XX-404"), line("Gamma Co", quantity="lots"), line("Delta Co", quantity=3))
    response = client.post("/api/v1/reports", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [(r["line"], r["status"]) for r in answer["lines"]] == [(1, "accepted"), (2, "rejected"), (3, "rejected"), (4, "accepted")]
    assert answer["lines"][1]["errors"][0]["field"] == "sku"
    assert "NW-XX-404" in answer["lines"][1]["errors"][0]["message"]
    assert answer["lines"][2]["errors"][0]["field"] == "quantity"
    assert answer["submission"]["version"] == 1
    assert answer["submission"]["accepted_lines"] == 2
    with uow() as db:
        submission = db.scalars(select(ReportSubmission)).one()
        assert (submission.partner_account_id, submission.source, submission.period) == ("P-A", ReportSource.API, PERIOD)
        names = sorted(db.scalars(select(SellThroughReportLine.end_customer_name)))
        assert names == ["Alpha Co", "Delta Co"]
        assert db.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "sell_through_line.upserted")) == 2
    listed = client.get(f"/api/v1/reports?period={PERIOD}", headers=bearer(token)).json()["submissions"]
    assert [(s["id"], s["version"], s["source"]) for s in listed] == [(submission.external_id, 1, "api")]


def test_nothing_accepted_is_422_with_the_line_results_and_commits_nothing(client: Any, uow: Any, partners: dict[str, User]) -> None:
    token = get_token(client, *new_client(uow, partners["A"]))
    response = client.post("/api/v1/reports", json=report(line("Beta Co", sku="NW-XX-404")), headers=bearer(token))
    assert response.status_code == 422
    assert response.json()["lines"][0]["status"] == "rejected"
    assert count(uow, ReportSubmission) == 0
    malformed = client.post("/api/v1/reports", content=b"{not json", headers={**bearer(token), "Content-Type": "application/json"})
    assert (malformed.status_code, malformed.json()["error"]) == (400, "invalid_request")
    period = client.post("/api/v1/reports", json={**report(line("A")), "period": "March"}, headers=bearer(token))
    assert (period.status_code, period.json()["field"]) == (400, "period")


def test_a_retry_with_the_same_idempotency_key_gets_the_same_answer_and_commits_once(
    client: Any, uow: Any, partners: dict[str, User]
) -> None:
    token = get_token(client, *new_client(uow, partners["A"]))
    body = report(line("Alpha Co"), line("Beta Co"))
    first = client.post("/api/v1/reports", json=body, headers=bearer(token, "batch-0001"))
    retry = client.post("/api/v1/reports", json=body, headers=bearer(token, "batch-0001"))
    assert first.status_code == retry.status_code == 200
    assert first.json() == retry.json()
    assert count(uow, ReportSubmission) == 1
    assert count(uow, SellThroughReportLine) == 2
    other = client.post("/api/v1/reports", json=report(line("Gamma Co")), headers=bearer(token, "batch-0001"))
    assert (other.status_code, other.json()["error"]) == (409, "idempotency_key_reused")
    # Without a key, the same lines again are refused line by line as already accepted.
    same = client.post("/api/v1/reports", json=body, headers=bearer(token))
    assert same.status_code == 422
    assert [e["code"] for r in same.json()["lines"] for e in r["errors"]] == ["duplicate", "duplicate"]
    assert count(uow, ReportSubmission) == 1


def test_a_partners_token_never_reads_or_writes_another_partners_data(client: Any, uow: Any, partners: dict[str, User]) -> None:
    token_a = get_token(client, *new_client(uow, partners["A"]))
    token_b = get_token(client, *new_client(uow, partners["B"]))
    assert client.post("/api/v1/reports", json=report(line("Alpha Co")), headers=bearer(token_a, "k1")).status_code == 200
    assert client.get("/api/v1/reports", headers=bearer(token_b)).json() == {"submissions": []}
    # B's write lands in B's account only, even under the key A used.
    answer_b = client.post("/api/v1/reports", json=report(line("Alpha Co")), headers=bearer(token_b, "k1"))
    assert answer_b.status_code == 200
    assert answer_b.json()["submission"]["version"] == 1
    with uow() as db:
        owners = sorted(db.scalars(select(ReportSubmission.partner_account_id)))
    assert owners == ["P-A", "P-B"]
    seen_by_a = client.get("/api/v1/reports", headers=bearer(token_a)).json()["submissions"]
    assert len(seen_by_a) == 1
    assert seen_by_a[0]["id"] != answer_b.json()["submission"]["id"]


def test_the_openapi_document_describes_the_api(client: Any) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {"/oauth/token", "/api/v1/reports", "/api/v1/openapi.json"}
    flows = doc["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flows["tokenUrl"] == "/oauth/token"
    assert set(flows["scopes"]) == {"reports:read", "reports:write"}
    assert doc["paths"]["/api/v1/reports"]["post"]["security"] == [{"oauth2": ["reports:write"]}]


# -- extranet pages ------------------------------------------------------------------------------------
def _admin_browser(web: Any, uow: Any, user: User) -> Any:
    with uow() as db:
        row = db.get(User, user.id)
        assert row is not None
        row.totp_secret, row.totp_enabled = pyotp.random_base32(), True
    sign_in(web, web.app.state.portal, user.email)
    return web


def _secret_on(page: str) -> tuple[str, str]:
    client_id = re.search(r"<code>(pc_[0-9a-f]+)</code>", page)
    secret = re.search(r'<code class="secret">([^<]+)</code>', page)
    assert client_id, page[:2000]
    assert secret, page[:2000]
    return client_id.group(1), secret.group(1)


def test_partner_admin_creates_rotates_and_revokes_clients(client: Any, uow: Any, partners: dict[str, User]) -> None:
    web = _admin_browser(client, uow, partners["A"])
    assert "No API client yet." in web.get("/partner/api-clients").text
    invalid = web.submit("/partner/api-clients", {"name": ""}, form_page="/partner/api-clients")
    assert invalid.status_code == 422
    created = web.post(
        "/partner/api-clients",
        data={"csrf_token": web.csrf("/partner/api-clients"), "name": "Warehouse ERP", "scopes": ["reports:write", "reports:read"]},
    )
    assert created.status_code == 200
    client_id, secret = _secret_on(created.text)
    listing = web.get("/partner/api-clients").text
    assert "Warehouse ERP" in listing
    assert client_id in listing
    assert secret not in listing  # shown once
    with uow() as db:
        stored = db.scalars(select(ApiClient)).one()
        assert stored.partner_account_id == "P-A"
        assert stored.secret_hash == sha256_hex(secret)
    old_token = get_token(client, client_id, secret)
    rotated = web.submit(f"/partner/api-clients/{stored.id}/rotate", form_page="/partner/api-clients")
    assert rotated.status_code == 200
    same_id, new_secret = _secret_on(rotated.text)
    assert same_id == client_id
    assert new_secret != secret
    refused = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    assert refused.status_code == 401
    assert client.get("/api/v1/reports", headers=bearer(old_token)).status_code == 401
    new_token = get_token(client, client_id, new_secret)
    revoked = web.submit(f"/partner/api-clients/{stored.id}/revoke", form_page="/partner/api-clients")
    assert revoked.headers["location"] == "/partner/api-clients"
    assert "Revoked" in web.get("/partner/api-clients").text
    assert client.get("/api/v1/reports", headers=bearer(new_token)).status_code == 401


def test_client_pages_are_404_for_other_partners_and_non_admins(
    client: Any, make_client: Any, uow: Any, partners: dict[str, User], make_user: Any
) -> None:
    with uow() as db:
        foreign, _secret = api_service.create_client(db, partners["B"], name="Beta ERP", scopes=["reports:read"])
        foreign_pk = foreign.id
    web = _admin_browser(client, uow, partners["A"])
    token = web.csrf("/partner/api-clients")
    for action in ("rotate", "revoke"):
        response = web.post(f"/partner/api-clients/{foreign_pk}/{action}", data={"csrf_token": token}, follow_redirects=False)
        assert response.status_code == 404, action
    assert "Beta ERP" not in web.get("/partner/api-clients").text
    with uow() as db:
        still = db.get(ApiClient, foreign_pk)
        assert still is not None
        assert still.revoked_at is None
        assert still.rotated_at is None
    make_user("pat@alpha.example", Role.PARTNER, account_id="P-A")
    member = make_client()
    member.login("pat@alpha.example")
    assert member.get("/partner/api-clients", follow_redirects=False).status_code == 404
    created = member.post(
        "/partner/api-clients", data={"csrf_token": member.csrf("/partner"), "name": "x", "scopes": "reports:read"}, follow_redirects=False
    )
    assert created.status_code == 404
    assert count(uow, ApiClient) == 1
