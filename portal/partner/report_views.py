"""Partner report uploads: upload → preview → commit, rejected-lines download, templates, listing."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.errors import Conflict, Invalid, NotFound
from portal.partner.models import ReportKind
from portal.partner.reports import drafts, service
from portal.web import PARTNER_ROLES, Ctx, view

KINDS = [(kind.value, label) for kind, label in service.KIND_LABELS.items()]
# Report files may be large (1,000,000 lines ≈ 100 MB): streamed to the database, checked in the
# background. Above this the request is refused (413) before it is read.
MAX_REPORT_BYTES = 256 * 1024 * 1024


def _upload_id(ctx: Ctx) -> int:
    raw = str(ctx.request.path_params.get("upload_id", ""))
    if not raw.isdigit() or len(raw) > 12:
        raise NotFound()
    return int(raw)


def _download(filename: str, content_type: str, data: bytes) -> Response:
    ascii_name = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in filename) or "report"
    return Response(
        data,
        media_type=content_type,
        headers={
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


def _render_upload(ctx: Ctx, values: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    assert ctx.user is not None
    return ctx.render(
        "partner/reports/upload.html",
        status=status,
        values=values,
        errors=errors,
        kinds=KINDS,
        modes=list(service.MODE_LABELS.items()),
        pending=service.pending_uploads(ctx.db, ctx.user),
        service=service,
    )


@view(methods=("GET", "POST"), roles=PARTNER_ROLES, max_body=MAX_REPORT_BYTES)
def upload(ctx: Ctx) -> Response:
    assert ctx.user is not None
    service.partner_of(ctx.user)
    query = ctx.request.query_params
    values = {
        "kind": ctx.field("kind") or query.get("kind", ReportKind.SELL_THROUGH.value),
        "period": ctx.field("period") or query.get("period", ""),
        "mode": ctx.field("mode") or service.Mode.ADD.value,
    }
    if ctx.request.method != "POST":
        return _render_upload(ctx, values, {})
    files = ctx.file_streams("file")
    try:
        stored = service.start_upload(
            ctx.db,
            ctx.user,
            kind=values["kind"],
            period=values["period"],
            mode=values["mode"],
            filename=files[0].filename if files else "",
            stream=files[0].file if files else None,
            gettext=ctx._,
        )
    except Invalid as exc:
        return _render_upload(ctx, values, exc.errors, status=422)
    if stored.status in service.BUSY:
        ctx.state.report_wakeup.set()
    return ctx.redirect(f"/partner/reports/uploads/{stored.id}")


@view(roles=PARTNER_ROLES)
def preview(ctx: Ctx) -> Response:
    assert ctx.user is not None
    shown = service.preview(ctx.db, ctx.user, _upload_id(ctx))
    return ctx.render("partner/reports/preview.html", preview=shown, upload=shown.upload, service=service, error=None)


@view(methods=("POST",), roles=PARTNER_ROLES)
def commit(ctx: Ctx) -> Response:
    assert ctx.user is not None
    upload_id = _upload_id(ctx)
    try:
        submission = service.commit_upload(ctx.db, ctx.user, upload_id, gettext=ctx._)
    except (Conflict, Invalid) as exc:
        message = exc.message if isinstance(exc, Conflict) else "; ".join(exc.errors.values())
        shown = service.preview(ctx.db, ctx.user, upload_id)
        return ctx.render("partner/reports/preview.html", status=409, preview=shown, upload=shown.upload, service=service, error=message)
    if submission is None:  # a large file: the background worker stores it
        ctx.state.report_wakeup.set()
        return ctx.redirect(f"/partner/reports/uploads/{upload_id}")
    ctx.flash(
        ctx._(
            "Report for %(period)s submitted as version %(version)s: %(count)s lines.",
            period=submission.period,
            version=submission.version,
            count=submission.accepted_count,
        )
    )
    return ctx.redirect("/partner/reports")


@view(roles=PARTNER_ROLES)
def progress(ctx: Ctx) -> Response:
    """Polled by the preview page while the background worker has the upload."""
    assert ctx.user is not None
    state = service.progress(ctx.db, ctx.user, _upload_id(ctx))
    state["message"] = ctx._(
        "Checking your file: %(lines)s lines so far. This page updates itself when the check is done.", lines=state["lines"]
    )
    return JSONResponse(state, headers={"Cache-Control": "no-store"})


@view(roles=PARTNER_ROLES)
def rejected(ctx: Ctx) -> Response:
    assert ctx.user is not None
    filename, content_type, data = service.rejected_export(ctx.db, ctx.user, _upload_id(ctx), gettext=ctx._)
    return _download(filename, content_type, data)


@view(roles=PARTNER_ROLES)
def template(ctx: Ctx) -> Response:
    assert ctx.user is not None
    service.partner_of(ctx.user)
    params = ctx.request.path_params
    language = ctx.request.query_params.get("lang", "zh" if ctx.locale.startswith("zh") else "en")
    filename, content_type, data = service.template_file(str(params["kind"]), str(params["fmt"]), language)
    return _download(filename, content_type, data)


@view(roles=PARTNER_ROLES)
def reports(ctx: Ctx) -> Response:
    assert ctx.user is not None
    return ctx.render(
        "partner/reports/index.html",
        groups=service.submissions(ctx.db, ctx.user),
        pending=service.pending_uploads(ctx.db, ctx.user),
        drafts=drafts.open_drafts(ctx.db, ctx.user),
        service=service,
    )


routes = [
    Route("/partner/reports", reports, name="partner_reports"),
    Route("/partner/reports/upload", upload, methods=["GET", "POST"], name="partner_report_upload"),
    Route("/partner/reports/uploads/{upload_id}", preview, name="partner_report_preview"),
    Route("/partner/reports/uploads/{upload_id}/commit", commit, methods=["POST"], name="partner_report_commit"),
    Route("/partner/reports/uploads/{upload_id}/progress.json", progress, name="partner_report_progress"),
    Route("/partner/reports/uploads/{upload_id}/rejected", rejected, name="partner_report_rejected"),
    Route("/partner/reports/template/{kind}.{fmt}", template, name="partner_report_template"),
]
