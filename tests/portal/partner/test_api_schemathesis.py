"""Schemathesis against the partner API's own OpenAPI document, in process (ASGI), with a real token.

Every operation is fuzzed with data that fits the document (positive, plus the document's own
examples) and data that does not (negative); no answer may be a server error, and every answer
must be one the document describes (status code, content type and body schema). Deterministic:
derandomized and no example database, so a failure reproduces on the next run.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from portal.accounts.models import Role
from portal.partner import api_service
from tests.portal.partner.reports.test_service import seed_products

EXAMPLES = 50
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str], seen: Counter[tuple[str, int]]) -> None:
    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode))
    def exercise(case: Any) -> None:
        response = case.call(headers=headers)
        seen[(operation.label, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    exercise()


def test_schemathesis_finds_no_server_error_and_every_answer_matches_the_document(
    app: Any, client: Any, uow: Any, make_account: Any, make_user: Any
) -> None:
    seed_products(uow)
    make_account("P-A", "partner", name="Alpha Partner")
    admin = make_user("ada@alpha.example", Role.PARTNER_ADMIN, account_id="P-A")
    with uow() as db:
        api_client, secret = api_service.create_client(db, admin, name="ERP", scopes=list(api_service.SCOPES))
        client_id = api_client.client_id
    issued = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    assert issued.status_code == 200, issued.text
    headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}

    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    started = time.monotonic()
    seen: Counter[tuple[str, int]] = Counter()
    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(result.ok(), mode, headers, seen)
    elapsed = time.monotonic() - started
    print(f"schemathesis: {sum(seen.values())} calls in {elapsed:.1f} s: {sorted(seen.items())}")
    # Schemathesis leaves out the operation that serves the document itself.
    assert {label for label, _status in seen} == {"POST /oauth/token", "GET /api/v1/reports", "POST /api/v1/reports"}
    # The fuzzing got past authentication into the validator, and the document's example commits.
    assert seen[("POST /api/v1/reports", 422)] > 0
    assert seen[("POST /api/v1/reports", 200)] > 0
    assert seen[("GET /api/v1/reports", 200)] > 0
