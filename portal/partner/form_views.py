"""Partner reports filled in online: choose kind + period, edit the lines of a draft (add, edit,
remove; saved as a draft), check and submit through the same validation and commit as a file.

Works without JavaScript: every button posts the whole visible page of lines, so nothing typed
is lost, then the page comes back (303) or, when something is wrong, is shown again with the
reasons (422). Long drafts are edited a page of lines at a time (`lines_per_page`): the draft
view takes at most FORM_FIELDS fields a post (about 60 sell-through lines; a page of inputs
longer than that is hard to work with anyway).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response
from starlette.routing import Route

from portal.errors import Invalid, NotFound
from portal.partner.models import ReportKind, ReportUpload
from portal.partner.reports import drafts, service
from portal.partner.reports.columns import Column
from portal.web import PARTNER_ROLES, Ctx, view

KINDS = [(kind.value, label) for kind, label in service.KIND_LABELS.items()]
FORM_FIELDS = 600  # what the draft view accepts in one form post (`view(max_fields=...)`)
OTHER_FIELDS = 10  # csrf_token, first, count, action (and room to spare)
MAX_PROBLEMS_LISTED = 20  # in the error summary at the top (every cell shows its own)
DATE_COLUMNS = frozenset({"as_of", "sold_on"})
NUMBER_INPUT = {"quantity": "numeric", "unit_price": "decimal"}
INPUT_SIZE = {
    "currency": 4,
    "country": 4,
    "quantity": 6,
    "unit_price": 9,
    "postcode": 8,
    "sku": 12,
    "customer_name": 18,
    "invoice_ref": 12,
    "serial": 12,
    "location": 14,
}


def lines_per_page(kind: ReportKind) -> int:
    return max(1, (FORM_FIELDS - OTHER_FIELDS) // len(drafts.columns(kind)))


def _draft_id(ctx: Ctx) -> int:
    raw = str(ctx.request.path_params.get("draft_id", ""))
    if not raw.isdigit() or len(raw) > 12:
        raise NotFound()
    return int(raw)


def _int(value: str, default: int = 0) -> int:
    return int(value) if value.isdigit() and len(value) <= 6 else default


# -- choose kind and period ----------------------------------------------------------------------
def _render_new(ctx: Ctx, values: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    assert ctx.user is not None
    return ctx.render(
        "partner/reports/new.html",
        status=status,
        values=values,
        errors=errors,
        kinds=KINDS,
        open_drafts=drafts.open_drafts(ctx.db, ctx.user),
        drafts=drafts,
        service=service,
        max_lines=drafts.MAX_LINES,
    )


@view(methods=("GET", "POST"), roles=PARTNER_ROLES)
def new(ctx: Ctx) -> Response:
    assert ctx.user is not None
    service.partner_of(ctx.user)
    query = ctx.request.query_params
    values = {
        "kind": ctx.field("kind") or query.get("kind", ReportKind.SELL_THROUGH.value),
        "period": ctx.field("period") if ctx.request.method == "POST" else query.get("period", drafts.default_period()),
    }
    if ctx.request.method != "POST":
        return _render_new(ctx, values, {})
    try:
        draft = drafts.create_draft(ctx.db, ctx.user, kind=values["kind"], period=values["period"])
    except Invalid as exc:
        return _render_new(ctx, values, exc.errors, status=422)
    return ctx.redirect(f"/partner/reports/drafts/{draft.id}")


# -- the editable table ----------------------------------------------------------------------------
@dataclass
class Cell:
    column: Column
    id: str  # the input's id (c-<line>-<column>)
    name: str  # the input's name (l<line>-<column>)
    value: str
    errors: list[str]


@dataclass
class Line:
    index: int  # 0-based, in the whole draft
    number: int  # as shown: 1-based
    cells: list[Cell]
    line_errors: list[str]  # problems of the whole line (a duplicate)

    @property
    def first_id(self) -> str:
        return self.cells[0].id


@dataclass
class Listed:
    """An entry of the error summary: the message and where the cell is."""

    text: str
    href: str


def _cell_id(index: int, name: str) -> str:
    return f"c-{index}-{name}"


def _page_of(kind: ReportKind, index: int) -> int:
    return index // lines_per_page(kind) + 1


def _render_draft(
    ctx: Ctx,
    draft: ReportUpload,
    *,
    page: int,
    checked: drafts.Check | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    kind = draft.kind
    columns = drafts.columns(kind)
    all_lines = drafts.lines_of(draft)
    size = lines_per_page(kind)
    pages = max(1, -(-len(all_lines) // size))
    page = max(1, min(page, pages))
    first = (page - 1) * size
    problems = checked.by_line() if checked is not None else {}
    labels = {column.name: ctx._(column.label) for column in columns}
    shown: list[Line] = []
    for index in range(first, min(first + size, len(all_lines))):
        values = all_lines[index]
        line_problems = problems.get(index, [])
        cells = [
            Cell(
                column,
                _cell_id(index, column.name),
                f"l{index}-{column.name}",
                values.get(column.name, ""),
                [p.text(ctx._) for p in line_problems if p.field == column.name],
            )
            for column in columns
        ]
        line_errors = [p.text(ctx._) for p in line_problems if p.field not in labels]
        shown.append(Line(index, index + 1, cells, line_errors))
    listed: list[Listed] = []
    base = f"/partner/reports/drafts/{draft.id}"
    if checked is not None:
        for problem in checked.problems[:MAX_PROBLEMS_LISTED]:
            target = _cell_id(problem.line, problem.field if problem.field in labels else columns[0].name)
            on_page = first <= problem.line < first + size
            href = f"#{target}" if on_page else f"{base}?page={_page_of(kind, problem.line)}&check=1#{target}"
            where = ctx._("Line %(line)s", line=problem.line + 1)
            if problem.field in labels:
                where = ctx._("Line %(line)s, %(column)s", line=problem.line + 1, column=labels[str(problem.field)])
            listed.append(Listed(f"{where}: {problem.text(ctx._)}", href))
    period = service.parse_period(draft.period)
    return ctx.render(
        "partner/reports/form.html",
        status=status,
        draft=draft,
        kind_label=ctx._(service.KIND_LABELS[kind]),
        columns=columns,
        labels=labels,
        lines=shown,
        total=len(all_lines),
        filled=sum(1 for line in all_lines if not drafts.is_blank(line)),
        page=page,
        pages=pages,
        first=first,
        listed=listed,
        hidden_problems=max(0, len(checked.problems) - len(listed)) if checked is not None else 0,
        checked=checked,
        failure=checked.failure_text(ctx._) if checked is not None else "",
        errors=errors or {},
        date_columns=DATE_COLUMNS,
        number_input=NUMBER_INPUT,
        input_size=INPUT_SIZE,
        period_first=period.first.isoformat(),
        period_last=period.last.isoformat(),
        max_lines=drafts.MAX_LINES,
        saved=drafts.saved_label(draft),
    )


def _posted_lines(ctx: Ctx, draft: ReportUpload) -> tuple[int, list[dict[str, str]]]:
    """The lines of the page the form showed: (index of its first line, the lines as typed)."""
    size = lines_per_page(draft.kind)
    first = _int(ctx.field("first"))
    count = min(_int(ctx.field("count")), size)
    names = [column.name for column in drafts.columns(draft.kind)]
    lines = [{name: ctx.raw_field(f"l{index}-{name}") for name in names} for index in range(first, first + count)]
    return first, lines


@view(methods=("GET", "POST"), roles=PARTNER_ROLES, max_fields=FORM_FIELDS)
def draft_page(ctx: Ctx) -> Response:
    assert ctx.user is not None
    draft_id = _draft_id(ctx)
    draft = drafts.get_draft(ctx.db, ctx.user, draft_id)
    base = f"/partner/reports/drafts/{draft.id}"
    if ctx.request.method != "POST":
        query = ctx.request.query_params
        checked = drafts.check_draft(ctx.db, draft) if query.get("check") == "1" else None
        return _render_draft(ctx, draft, page=_int(query.get("page", "1"), 1), checked=checked)
    first, lines = _posted_lines(ctx, draft)
    page = _page_of(draft.kind, first)
    drafts.save_lines(ctx.db, ctx.user, draft_id, first, lines)
    action = ctx.field("action") or "save"
    if action == "add":
        try:
            index = drafts.add_line(ctx.db, ctx.user, draft_id)
        except Invalid as exc:
            errors = {key: ctx._(message, max=drafts.MAX_LINES) for key, message in exc.errors.items()}
            return _render_draft(ctx, draft, page=page, errors=errors, status=422)
        return ctx.redirect(f"{base}?page={_page_of(draft.kind, index)}#{_cell_id(index, drafts.columns(draft.kind)[0].name)}")
    if action.startswith("remove-"):
        index = _int(action.removeprefix("remove-"), -1)
        if first <= index < first + len(lines):
            drafts.remove_line(ctx.db, ctx.user, draft_id, index)
            ctx.flash(ctx._("Line %(line)s removed.", line=index + 1))
        return ctx.redirect(f"{base}?page={page}")
    if action.startswith("page-"):
        return ctx.redirect(f"{base}?page={_int(action.removeprefix('page-'), 1)}")
    if action == "submit":
        try:
            submission = drafts.submit(ctx.db, ctx.user, draft_id, gettext=ctx._)
        except drafts.LinesRejected as exc:
            checked = exc.check
            if checked.problems:
                page = _page_of(draft.kind, checked.problems[0].line)
            return _render_draft(ctx, draft, page=page, checked=checked, status=422)
        ctx.flash(
            ctx._(
                "Report for %(period)s submitted as version %(version)s: %(count)s lines.",
                period=submission.period,
                version=submission.version,
                count=submission.accepted_count,
            )
        )
        return ctx.redirect("/partner/reports")
    ctx.flash(ctx._("Draft saved."))
    return ctx.redirect(f"{base}?page={page}")


@view(methods=("POST",), roles=PARTNER_ROLES)
def discard(ctx: Ctx) -> Response:
    assert ctx.user is not None
    drafts.discard(ctx.db, ctx.user, _draft_id(ctx))
    ctx.flash(ctx._("Draft discarded."))
    return ctx.redirect("/partner/reports")


routes = [
    Route("/partner/reports/new", new, methods=["GET", "POST"], name="partner_report_new"),
    Route("/partner/reports/drafts/{draft_id}", draft_page, methods=["GET", "POST"], name="partner_report_draft"),
    Route("/partner/reports/drafts/{draft_id}/discard", discard, methods=["POST"], name="partner_report_draft_discard"),
]
