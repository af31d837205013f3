from __future__ import annotations

from typing import Any

from portal.accounts.models import Role


def test_healthz_answers_ok(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_both_databases(client: Any) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "portal_db": "ok", "crm_db": "ok"}


def test_readyz_is_503_when_the_crm_store_is_unreachable(client: Any, state: Any) -> None:
    from portal.db import make_engine

    state.crm_engine.dispose()
    state.crm_engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["crm_db"].startswith("error")


def test_metrics_are_prometheus_text(client: Any) -> None:
    client.get("/")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'portal_http_requests_total{method="GET",route="/",status="200"}' in response.text


def test_unknown_page_is_a_friendly_404(client: Any) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert "Go to the home page" in response.text


def test_home_page_leads_to_the_main_tasks(client: Any) -> None:
    page = client.get("/").text
    for link in (
        'href="/repair-status"',
        'href="/warranty"',
        'href="/kb"',
        'href="/login"',
        'href="/login?next=/partner"',
        'href="/partner/apply"',
    ):
        assert link in page


def test_an_http_crm_needs_no_crm_database(settings: Any, tmp_path: Any) -> None:
    from dataclasses import replace

    from click.testing import CliRunner
    from starlette.testclient import TestClient

    from portal.app import create_app
    from portal.cli import main

    http_settings = replace(settings, crm_database_url="https://crm.example/api")
    with TestClient(create_app(http_settings, background=False)) as web:
        assert web.get("/readyz").json() == {"status": "ok", "crm_db": "ok", "portal_db": "ok"}
    env = {"DATABASE_URL": settings.database_url, "CRM_DATABASE_URL": "https://crm.example/api", "DATA_DIR": str(tmp_path)}
    migrated = CliRunner().invoke(main, ["migrate"], env=env)
    assert migrated.exit_code == 0, migrated.output
    assert "nothing to create" in migrated.output
    seeded = CliRunner().invoke(main, ["seed-demo"], env=env)
    assert seeded.exit_code != 0
    assert "HTTP API" in seeded.output


def test_the_navigation_marks_the_section_of_the_current_page(client: Any, make_user: Any) -> None:
    import re

    def current(path: str) -> list[str]:
        page = client.get(path)
        assert page.status_code == 200, path
        nav = page.text.split('<nav class="main-nav"', 1)[1].split("</nav>", 1)[0]
        return re.findall(r'<a href="([^"]+)" aria-current="page"', nav)

    assert current("/repair-status") == ["/repair-status"]  # a guest; "/repairs" is another section
    assert current("/warranty") == ["/warranty"]
    make_user("nav@example.com", Role.CUSTOMER)
    client.login("nav@example.com")
    assert current("/orders") == ["/orders"]
    assert current("/repairs") == ["/repairs"]
    assert current("/account") == []
