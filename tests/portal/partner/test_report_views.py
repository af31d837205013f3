"""Partner report upload pages over HTTP: upload, preview with reasons, download rejected, commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.accounts.models import Role
from portal.partner.models import ReportSubmission, ReportUpload
from tests.portal.partner.reports.test_service import BAD, GOOD, PERIOD, csv_bytes, sale, seed_products


def _partner_client(client: Any, uow: Any, make_account: Any, make_user: Any) -> Any:
    make_account("P-100", "partner")
    seed_products(uow)
    make_user("pia@partner.example", Role.PARTNER, account_id="P-100")
    client.login("pia@partner.example")
    return client


def _upload(web: Any, data: bytes, mode: str = "add") -> Any:
    token = web.csrf("/partner/reports/upload")
    return web.post(
        "/partner/reports/upload",
        data={"csrf_token": token, "kind": "sell_through", "period": PERIOD, "mode": mode},
        files={"file": ("march.csv", data, "text/csv")},
        follow_redirects=False,
    )


def test_upload_preview_download_commit(client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    web = _partner_client(client, uow, make_account, make_user)
    form = web.get("/partner/reports/upload")
    assert form.status_code == 200
    assert "/partner/reports/template/sell_through.xlsx?lang=zh" in form.text
    assert "Add these lines to the period&#39;s report" in form.text
    sent = _upload(web, csv_bytes(GOOD + BAD))
    assert sent.status_code == 303
    page = web.get(sent.headers["location"])
    assert "Unknown SKU “NW-XX-404”." in page.text
    assert "Quantity: “lots” is not a number." in page.text
    assert "Submit the 3 accepted lines" in page.text
    download = web.get(sent.headers["location"] + "/rejected")
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    assert "Echo Co" in download.content.decode("utf-8-sig")
    committed = web.submit(sent.headers["location"] + "/commit", {}, form_page=sent.headers["location"])
    assert committed.headers["location"] == "/partner/reports"
    listing = web.get("/partner/reports").text
    assert "Report for" in listing
    assert "version 1" in listing
    assert PERIOD in listing
    assert "march.csv" in listing
    again = _upload(web, csv_bytes(GOOD + BAD))
    assert again.status_code == 422
    assert "Already submitted" in again.text
    twice = web.submit(sent.headers["location"] + "/commit", {}, form_page=sent.headers["location"])
    assert twice.status_code == 409
    assert "already been committed" in twice.text
    with uow() as db:
        assert len(db.scalars(select(ReportSubmission)).all()) == 1


def test_replace_mode_from_the_form(client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    web = _partner_client(client, uow, make_account, make_user)
    first = _upload(web, csv_bytes(GOOD))
    web.submit(first.headers["location"] + "/commit", {}, form_page=first.headers["location"])
    second = _upload(web, csv_bytes([sale("Alpha Co", quantity="7")]), mode="replace")
    web.submit(second.headers["location"] + "/commit", {}, form_page=second.headers["location"])
    listing = web.get("/partner/reports").text
    assert "Superseded" in listing
    assert "Current" in listing
    with uow() as db:
        versions = {s.version: s.accepted_count for s in db.scalars(select(ReportSubmission))}
    assert versions == {1: 3, 2: 1}


def test_template_download_and_form_errors(client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    web = _partner_client(client, uow, make_account, make_user)
    xlsx = web.get("/partner/reports/template/inventory.xlsx?lang=zh")
    assert xlsx.status_code == 200
    assert xlsx.content[:2] == b"PK"
    assert web.get("/partner/reports/template/inventory.pdf").status_code == 404
    token = web.csrf("/partner/reports/upload")
    bad = web.post("/partner/reports/upload", data={"csrf_token": token, "kind": "sell_through", "period": "soon"}, follow_redirects=False)
    assert bad.status_code == 422
    assert "Enter the period as YYYY-MM" in bad.text
    assert 'value="soon"' in bad.text
    with uow() as db:
        assert db.scalars(select(ReportUpload)).first() is None


def test_a_large_upload_shows_its_progress_then_its_preview(
    client: Any, uow: Any, state: Any, make_account: Any, make_user: Any, monkeypatch: Any
) -> None:
    from portal.partner.reports import service, worker

    monkeypatch.setattr(service, "INLINE_BYTES", 10)
    web = _partner_client(client, uow, make_account, make_user)
    sent = _upload(web, csv_bytes(GOOD + BAD))
    assert sent.status_code == 303
    page = web.get(sent.headers["location"])
    assert "Checking your file: 0 lines so far." in page.text
    assert 'data-progress-url="' + sent.headers["location"] + '/progress.json"' in page.text
    assert "Submit the" not in page.text
    polled = web.get(sent.headers["location"] + "/progress.json").json()
    assert (polled["status"], polled["done"]) == ("queued", False)
    assert polled["message"].startswith("Checking your file: 0 lines so far.")
    assert state.report_wakeup.is_set()  # the view woke this process's worker

    worker.run_pending(state.db)
    assert web.get(sent.headers["location"] + "/progress.json").json()["done"] is True
    page = web.get(sent.headers["location"])
    assert "Submit the 3 accepted lines" in page.text
    assert "Unknown SKU “NW-XX-404”." in page.text

    queued = web.submit(sent.headers["location"] + "/commit", {}, form_page=sent.headers["location"])
    assert queued.headers["location"] == sent.headers["location"]
    assert "Storing the 3 accepted lines." in web.get(sent.headers["location"]).text
    worker.run_pending(state.db)
    assert "This file has been submitted." in web.get(sent.headers["location"]).text
    with uow() as db:
        assert db.scalar(select(ReportSubmission.accepted_count)) == 3
