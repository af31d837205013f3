"""Load benchmark of issue 4's pages: the RMA timeline, the guest repair lookup and a long orders list.

    .venv/bin/python -m bench.repairs [--duration 10] [--warmup 2] [--db sqlite|postgresql|both]
                                      [--orders 5000] [--rounds 1] [--json out.json]

For each database (SQLite files in a temporary DATA_DIR; PostgreSQL 15 in a throwaway
cluster) the run migrates, seeds the demo data and pulls it into the portal
(`portal adapter run --once`), then adds 5,000 orders of account C-1001 (1–3 lines each,
one serial per shipped unit) to the CRM store and times the pull that brings them into the
portal's read copies. It creates one RMA with two units and ten timeline events for
carol@harbor-robotics.example through `portal.repairs.workflow`, starts the portal
(uvicorn, as `bench.load` does), signs in as carol, measures the timeline page's size and
starts the ceiling app (`bench.ceiling_app`) with a page padded to that size. wrk then
measures, at 32 connections (throughput) and at 8 connections (latency):

    ceiling /page                 bare Starlette, the same number of bytes as the timeline
    portal /repairs/{number}      the signed-in customer's RMA timeline
    portal POST /repair-status    the guest lookup (RMA number + e-mail address)
    portal /orders                the first page of the 5,000-order list (signed in)
    portal /orders?page=<last>    its last page (offset pagination's worst case)

p50/p95/p99 come from wrk's own latency histogram (a Lua `done()` prints p95, which
`--latency` does not). The portal's request counters (/metrics) are read before and after
each run: only the expected status counts as served ("ok req/s"); anything else (a
redirect to /login, a 429) is reported as an error beside it.

The guest lookup is rate-limited per client address (20 per minute). The portal runs behind
uvicorn's proxy-header handling, which trusts `X-Forwarded-For` from 127.0.0.1 (its default,
as in production behind a local reverse proxy), so the Lua script gives every 10 lookups a
new address: each lookup still counts in the database's rate-limit table (one insert and
nine updates per address), and no lookup is refused.

Targets, printed as information (the exit status is 0 unless something broke): the RMA
timeline at or above 35 % of the page ceiling's throughput (32 connections), and the
orders list's p95 under 100 ms at 8 connections.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.load import (
    CLIENT_CPU,
    DEMO_PASSWORD,
    PYTHON,
    ROOT,
    SERVER_CPU,
    BenchError,
    Server,
    database_urls,
    parse_wrk,
    portal_cli,
    portal_env,
    process_cpu_seconds,
    run_databases,
    run_wrk,
    say,
    sign_in,
    write_json,
)

TIMELINE_TARGET_RATIO = 0.35
ORDERS_P95_TARGET_MS = 100.0
THROUGHPUT_CONNECTIONS = 32
LATENCY_CONNECTIONS = 8
CUSTOMER_EMAIL = "carol@harbor-robotics.example"
ACCOUNT_ID = "C-1001"
ACCOUNT_BUYER = "purchasing@harbor-robotics.example"
RMA_NUMBER = "RMA-B00001"
LOOKUPS_PER_ADDRESS = 10  # below the per-address limit of 20 a minute


def _ms(value: float) -> str:
    return f"{value:.2f}"


# -- the CRM side: 5,000 more orders for C-1001 --------------------------------------------------------
def add_crm_orders(crm_url: str, count: int, *, now: datetime) -> dict[str, int]:
    """Insert `count` orders of ACCOUNT_ID (1–3 lines, one serial per shipped unit) into the CRM store."""
    from sqlalchemy import create_engine, select

    from backend_adapter import crm_schema as crm

    rng = random.Random(4)
    engine = create_engine(crm_url)
    try:
        with engine.begin() as conn:
            skus = [row.sku for row in conn.execute(select(crm.crm_product.c.sku).where(crm.crm_product.c.active))]
        if not skus:
            raise BenchError("the CRM store has no products: did seed-demo run?")
        prices = {sku: rng.randrange(4_900, 89_900, 100) for sku in skus}
        stamp = now.astimezone(UTC).replace(tzinfo=None)
        orders: list[dict[str, Any]] = []
        lines: list[dict[str, Any]] = []
        serials: list[dict[str, Any]] = []
        for index in range(1, count + 1):
            number = f"SO-B{index:06d}"
            ordered = stamp - timedelta(minutes=index * 211 + rng.randrange(0, 200))  # about 2 years back
            status = "delivered" if ordered < stamp - timedelta(days=14) else rng.choice(["placed", "paid", "shipped"])
            total = 0
            for line_no in range(1, rng.randrange(2, 5)):
                sku = rng.choice(skus)
                quantity = rng.randrange(1, 4)
                total += prices[sku] * quantity
                lines.append(
                    {
                        "order_number": number,
                        "line_no": line_no,
                        "sku": sku,
                        "quantity": quantity,
                        "unit_price_cents": prices[sku],
                        "updated_at": stamp,
                    }
                )
                if status in ("shipped", "delivered"):
                    for unit in range(quantity):
                        serials.append(
                            {
                                "serial": f"NWB{index:06d}{line_no}{unit}",
                                "sku": sku,
                                "order_number": number,
                                "shipped_at": ordered + timedelta(days=2),
                                "sold_to_account_id": None,
                                "warranty_starts_on": (ordered + timedelta(days=5)).date(),
                                "updated_at": stamp,
                            }
                        )
            orders.append(
                {
                    "order_number": number,
                    "account_id": ACCOUNT_ID,
                    "customer_email": ACCOUNT_BUYER,
                    "status": status,
                    "ordered_at": ordered,
                    "currency": "USD",
                    "total_cents": total,
                    "updated_at": stamp,
                }
            )
        with engine.begin() as conn:
            conn.execute(crm.crm_order.insert(), orders)
            conn.execute(crm.crm_order_line.insert(), lines)
            conn.execute(crm.crm_serial.insert(), serials)
    finally:
        engine.dispose()
    return {"crm_order": len(orders), "crm_order_line": len(lines), "crm_serial": len(serials)}


def adapter_once(env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """`portal adapter run --once`: seconds (wall clock, with the interpreter's start) and its JSON report."""
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-m", "portal", "adapter", "run", "--once"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"portal adapter run --once failed:\n{done.stdout}\n{done.stderr}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, report


# -- the RMA: two units, ten timeline events, made the way the portal makes them -------------------------
RMA_SNIPPET = r"""
import json, sys
from datetime import timedelta
from sqlalchemy import select
from portal.db import Database, utcnow
from portal.accounts.models import User
from portal.customer.models import Serial
from portal.customer.warranty import warranty_of
from portal.repairs import workflow
from portal.repairs.lifecycle import RmaStatus
from portal.repairs.models import Outcome, Rma, RmaUnit, WarrantyStatus

url, email, number = sys.argv[1:4]
db = Database(url)
with db.unit_of_work() as s:
    user = s.scalar(select(User).where(User.email == email))
    serials = s.scalars(select(Serial).where(Serial.order_number == "SO-B000100").order_by(Serial.serial).limit(2)).all()
    if user is None or len(serials) < 2:
        raise SystemExit(f"no user {email} or fewer than 2 serials on SO-B000100")
    now = utcnow()
    rma = Rma(
        number=number, user_id=user.id, account_id=user.account_id, contact_email=user.email,
        contact_name=user.name, locale="en", fault_category=sys.argv[4],
        description="Unit does not power on after a firmware update; the status LED stays amber.",
        return_address="Harbor Robotics Ltd\n12 Dockside Way\nSouthampton SO14 3GG\nUnited Kingdom",
        preferred_outcome=Outcome.REPAIR, created_at=now - timedelta(days=6), updated_at=now,
    )
    s.add(rma)
    s.flush()
    units = []
    for line_no, serial in enumerate(serials, start=1):
        w = warranty_of(s, serial.serial)
        unit = RmaUnit(
            rma_id=rma.id, line_no=line_no, unit_number=f"{number}-{line_no}", serial=serial.serial, sku=serial.sku,
            order_number=serial.order_number,
            warranty_status=WarrantyStatus(w.status if w else "unknown"), warranty_until=w.ends_on if w else None,
            status=RmaStatus.REQUESTED, status_changed_at=rma.created_at, created_at=rma.created_at,
        )
        s.add(unit)
        s.flush()
        workflow.append_event(s, unit, RmaStatus.REQUESTED, occurred_at=rma.created_at)
        workflow.record_unit(s, unit)
        units.append(unit)
    for to, note in (
        (RmaStatus.APPROVED, "Approved under warranty."),
        (RmaStatus.AWAITING_UNIT, "Return label sent by e-mail."),
        (RmaStatus.RECEIVED, "Parcel received at the repair centre."),
        (RmaStatus.DIAGNOSING, "A technician is testing both units."),
    ):
        workflow.move(s, None, units, to, note=note)
    events = len(units) * 5
print(json.dumps({"number": number, "units": [u.unit_number for u in units], "events": events}))
"""


def create_rma(env: dict[str, str], fault_category: str) -> dict[str, Any]:
    done = subprocess.run(
        [PYTHON, "-c", RMA_SNIPPET, env["DATABASE_URL"], CUSTOMER_EMAIL, RMA_NUMBER, fault_category],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"creating the RMA failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def fault_category() -> str:
    """A fault category the repair service accepts (its first, if it declares a vocabulary)."""
    sys.path.insert(0, str(ROOT))
    try:
        from portal.repairs import service
    except ImportError:
        return "no_power"
    for name in ("FAULT_CATEGORIES", "FAULTS", "FAULT_LABELS"):
        vocabulary = getattr(service, name, None)
        if vocabulary:
            first = next(iter(vocabulary))
            return str(first[0] if isinstance(first, tuple) else getattr(first, "value", first))
    return "no_power"


# -- the portal's request counters, every method and route ---------------------------------------------
_METRIC = re.compile(r'^portal_http_requests_total\{method="([A-Z]+)",route="([^"]*)",status="(\d+)"\} ([\d.e+]+)$', re.M)


def all_counts(base: str) -> dict[tuple[str, str, str], int]:
    text = httpx.get(base + "/metrics", timeout=10).text
    return {(m, r, s): int(float(v)) for m, r, s, v in _METRIC.findall(text) if r != "/metrics"}


def counts_diff(before: dict[tuple[str, str, str], int], after: dict[tuple[str, str, str], int]) -> dict[str, int]:
    diff: dict[str, int] = {}
    for key, value in after.items():
        n = value - before.get(key, 0)
        if n:
            diff[f"{key[0]} {key[1]} {key[2]}"] = n
    return diff


# -- wrk scripts ---------------------------------------------------------------------------------------
_DONE = """
done = function(summary, latency, requests)
  io.write(string.format("BENCH-PERCENTILES p50=%d p95=%d p99=%d max=%d\\n",
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""

_POST = """
local counter = 0
local prefix = __PREFIX__
local body = "__BODY__"
request = function()
  local n = math.floor(counter / __PER_ADDRESS__)
  counter = counter + 1
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", prefix, math.floor(n / 256) % 256, n % 256)
  return wrk.format("POST", "__PATH__", headers, body)
end
"""


def write_script(work: Path, name: str, *, post: tuple[str, str] | None = None, prefix: int = 1) -> Path:
    """A Lua script printing p50/p95/p99; with `post` = (path, urlencoded body) it also sends that POST
    from a new X-Forwarded-For address every LOOKUPS_PER_ADDRESS requests (`prefix` keeps runs apart)."""
    text = _DONE
    if post is not None:
        path, body = post
        if '"' in body or "\\" in body:
            raise BenchError("the POST body must be urlencoded")
        text = (
            _POST.replace("__PREFIX__", str(prefix))
            .replace("__BODY__", body)
            .replace("__PATH__", path)
            .replace("__PER_ADDRESS__", str(LOOKUPS_PER_ADDRESS))
            + text
        )
    script = work / f"{name}.lua"
    script.write_text(text)
    return script


_PERCENTILES = re.compile(r"^BENCH-PERCENTILES p50=(\d+) p95=(\d+) p99=(\d+) max=(\d+)$", re.M)


# -- one target --------------------------------------------------------------------------------------
@dataclass
class Target:
    name: str
    server: Server
    path: str
    headers: dict[str, str]
    expected: str  # "GET /orders 200": the status (from /metrics) that counts as served
    size: int
    post_body: str | None = None


@dataclass
class Measured:
    target: str
    connections: int
    url: str
    bytes_per_response: int
    requests: int
    seconds: float
    rps: float
    ok_rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    rounds: list[dict[str, float]] = field(default_factory=list)
    server_cpu_s: float = 0.0  # CPU the server process used while wrk ran (bench.load.process_cpu_seconds)

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu_s / self.requests * 1e6 if self.requests else 0.0


class Runner:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.prefix = 0

    def measure(self, target: Target, connections: int, *, warmup: bool) -> Measured:
        url = target.server.base + target.path
        portal = target.expected != ""

        def script() -> Path:
            self.prefix += 1
            post = (target.path, target.post_body) if target.post_body is not None else None
            return write_script(self.work, f"run{self.prefix}", post=post, prefix=self.prefix % 250 + 1)

        def wrk(seconds: int) -> str:
            return run_wrk(
                url, seconds=seconds, connections=connections, threads=self.args.threads, headers=target.headers, script=script()
            )

        if warmup and self.args.warmup > 0:
            say(f"  warm-up   {target.name:<28} {self.args.warmup:g} s, {connections} connections")
            wrk(self.args.warmup)
        before = all_counts(target.server.base) if portal else {}
        say(f"  measuring {target.name:<28} {self.args.duration:g} s, {connections} connections")
        cpu_before = process_cpu_seconds(target.server.pid)
        output = wrk(self.args.duration)
        server_cpu_s = process_cpu_seconds(target.server.pid) - cpu_before
        result = parse_wrk(output, target.name, url)
        found = _PERCENTILES.search(output)
        if not found:
            raise BenchError(f"the wrk script printed no percentiles:\n{output}")
        p50, p95, p99, _max = (int(v) / 1000 for v in found.groups())
        errors = dict(result.errors)
        statuses: dict[str, int] = {}
        ok = result.requests
        if portal:
            statuses = counts_diff(before, all_counts(target.server.base))
            ok = statuses.get(target.expected, 0)
            # Only this route's other statuses are errors: a slow request of the previous target may
            # still finish after its wrk run ended, and shows up here under its own route.
            route = target.expected.rsplit(" ", 1)[0]
            others = sum(n for key, n in statuses.items() if key.rsplit(" ", 1)[0] == route and key != target.expected)
            if others:
                errors["unexpected_status"] = others
        measured = Measured(
            target=target.name,
            connections=connections,
            url=url,
            bytes_per_response=target.size,
            requests=result.requests,
            seconds=result.seconds,
            rps=result.rps,
            ok_rps=min(ok, result.requests) / result.seconds if result.seconds else 0.0,
            p50_ms=p50,
            p95_ms=p95,
            p99_ms=p99,
            statuses=statuses,
            errors=errors,
            server_cpu_s=server_cpu_s,
        )
        say(
            f"            {measured.rps:10.1f} req/s ({measured.ok_rps:.1f} ok)   p50 {_ms(p50):>7} ms   "
            f"p95 {_ms(p95):>7} ms   p99 {_ms(p99):>7} ms   server CPU {measured.cpu_us_per_request:5.0f} µs/request"
        )
        if errors:
            say(f"            errors: {errors}  statuses: {statuses}")
        return measured


def combine(runs: list[Measured]) -> Measured:
    """Interleaved rounds: requests/s over all rounds, median percentiles."""
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    errors: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for run in runs:
        for key, value in run.errors.items():
            errors[key] = errors.get(key, 0) + value
        for key, value in run.statuses.items():
            statuses[key] = statuses.get(key, 0) + value
    requests = sum(r.requests for r in runs)
    seconds = sum(r.seconds for r in runs)
    ok = sum(r.ok_rps * r.seconds for r in runs)
    return Measured(
        target=first.target,
        connections=first.connections,
        url=first.url,
        bytes_per_response=first.bytes_per_response,
        requests=requests,
        seconds=seconds,
        rps=requests / seconds if seconds else 0.0,
        ok_rps=ok / seconds if seconds else 0.0,
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p95_ms=statistics.median(r.p95_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        statuses=statuses,
        errors=errors,
        rounds=[
            {
                "rps": r.rps,
                "ok_rps": r.ok_rps,
                "p50_ms": r.p50_ms,
                "p95_ms": r.p95_ms,
                "p99_ms": r.p99_ms,
                "cpu_us_per_request": r.cpu_us_per_request,
            }
            for r in runs
        ],
        server_cpu_s=sum(r.server_cpu_s for r in runs),
    )


# -- pages, probed once before the run ------------------------------------------------------------------
_IDENTITY = {"Accept-Encoding": "identity"}  # wrk asks for no compression either


def probe_get(base: str, path: str, cookie: str, must_contain: str) -> int:
    page = httpx.get(base + path, headers={**_IDENTITY, "Cookie": cookie}, timeout=30)
    if page.status_code != 200 or must_contain not in page.text:
        raise BenchError(f"GET {path} gave {page.status_code} (expected 200 with {must_contain!r}):\n{page.text[:600]}")
    return len(page.content)


@dataclass
class Lookup:
    cookie: str
    body: str
    status: int
    size: int


def probe_lookup(base: str, number: str, email: str) -> Lookup:
    """GET /repair-status as a guest (CSRF cookie and token), then one POST with the RMA number and e-mail."""
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30, headers=_IDENTITY) as client:
        form = client.get("/repair-status")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        csrf_cookie = client.cookies.get("portal_csrf")
        if form.status_code != 200 or not token or not csrf_cookie:
            raise BenchError(f"GET /repair-status gave {form.status_code} without a CSRF cookie/token")
        fields = {"number": number, "email": email, "csrf_token": token.group(1)}
        body = httpx.QueryParams(fields).__str__()
        answer = client.post("/repair-status", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
        if answer.status_code == 200 and number in answer.text:
            return Lookup(f"portal_csrf={csrf_cookie}", body, 200, len(answer.content))
        if answer.status_code in (302, 303) and "location" in answer.headers:
            return Lookup(f"portal_csrf={csrf_cookie}", body, answer.status_code, len(answer.content))
        raise BenchError(f"POST /repair-status gave {answer.status_code}, not the RMA {number}:\n{answer.text[:600]}")


def last_orders_page(text: str) -> int:
    """The number of pages the orders list's pager announces ("Page 1 of 251")."""
    found = re.search(r"Page 1 of ([\d,]+)", text)
    if not found:
        raise BenchError("the orders list shows no pager: are the 5,000 orders there?")
    return int(found.group(1).replace(",", ""))


# -- one database ------------------------------------------------------------------------------------
def bench_database(kind: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data_dir = work / kind
    data_dir.mkdir()
    servers: list[Server] = []
    setup: dict[str, Any] = {}
    with database_urls(kind, data_dir, args.pg_cpu) as (portal_url, crm_url):
        try:
            env = portal_env(portal_url, crm_url, data_dir)
            say("  migrating, seeding the demo data and pulling it into the portal …")
            portal_cli(env, "migrate")
            portal_cli(env, "seed-demo")
            adapter_once(env)
            idle_s, _ = adapter_once(env)  # nothing to do: the command's own start-up and round trips
            added = add_crm_orders(crm_url, args.orders, now=datetime.now(UTC))
            rows = sum(added.values())
            say(f"  added to the CRM store: {added}; pulling …")
            pull_s, report = adapter_once(env)
            pulled = sum(int(v) for v in report.get("pulled", {}).values())
            net = max(pull_s - idle_s, 1e-6)
            setup = {
                "crm_rows_added": added,
                "pulled": report.get("pulled", {}),
                "pull_seconds": pull_s,
                "idle_adapter_seconds": idle_s,
                "pull_rows_per_s": pulled / net,
            }
            say(f"  pulled {pulled} rows in {pull_s:.1f} s ({idle_s:.1f} s of it start-up): {pulled / net:,.0f} rows/s")
            if pulled < rows:
                raise BenchError(f"the pull brought {pulled} rows, fewer than the {rows} added")
            rma = create_rma(env, fault_category())
            adapter_once(env)  # push the RMA's units and events to the CRM store, as the running adapter would
            setup["rma"] = rma
            say(f"  created {rma['number']}: units {', '.join(rma['units'])}, {rma['events']} timeline events")

            portal = Server(f"portal-{kind}", "portal.asgi:app", env, work)
            portal.env = portal_env(portal_url, crm_url, data_dir, base_url=portal.base)
            servers.append(portal)
            say(f"  starting the portal on {portal.base} (CPU {SERVER_CPU}) …")
            portal.start("/healthz")
            login = sign_in(portal.base, CUSTOMER_EMAIL, DEMO_PASSWORD)
            cookie = login.cookie_header
            timeline_path = f"/repairs/{RMA_NUMBER}"
            timeline_bytes = probe_get(portal.base, timeline_path, cookie, f"{RMA_NUMBER}-2")
            orders_page = httpx.get(portal.base + "/orders", headers={**_IDENTITY, "Cookie": cookie}, timeout=30)
            orders_bytes = probe_get(portal.base, "/orders", cookie, "SO-B000001")
            last = last_orders_page(orders_page.text)
            last_path = f"/orders?page={last}"
            last_bytes = probe_get(portal.base, last_path, cookie, "SO-")
            lookup = probe_lookup(portal.base, RMA_NUMBER, CUSTOMER_EMAIL)
            say(
                f"  signed in as {CUSTOMER_EMAIL}; timeline {timeline_bytes} bytes, /orders {orders_bytes}, "
                f"{last_path} {last_bytes}, lookup answers {lookup.status} ({lookup.size} bytes)"
            )

            ceiling_env = {**os.environ, "BENCH_PAGE_BYTES": str(timeline_bytes), "PYTHONDONTWRITEBYTECODE": "1"}
            ceiling = Server(f"ceiling-{kind}", "bench.ceiling_app:create_app_from_env", ceiling_env, work, factory=True)
            servers.append(ceiling)
            say(f"  starting the ceiling app on {ceiling.base} (CPU {SERVER_CPU}) …")
            ceiling.start("/json")
            page_bytes = len(httpx.get(ceiling.base + "/page", timeout=10).content)

            targets = [
                Target("ceiling /page", ceiling, "/page", {}, "", page_bytes),
                Target("portal /repairs/{number}", portal, timeline_path, {"Cookie": cookie}, "GET /repairs/{number} 200", timeline_bytes),
                Target(
                    "portal POST /repair-status",
                    portal,
                    "/repair-status",
                    {"Cookie": lookup.cookie},
                    f"POST /repair-status {lookup.status}",
                    lookup.size,
                    post_body=lookup.body,
                ),
                Target("portal /orders", portal, "/orders", {"Cookie": cookie}, "GET /orders 200", orders_bytes),
                Target(f"portal /orders?page={last}", portal, last_path, {"Cookie": cookie}, "GET /orders 200", last_bytes),
            ]
            runner = Runner(args, work)
            rounds: dict[tuple[str, int], list[Measured]] = {}
            for number in range(1, args.rounds + 1):
                if args.rounds > 1:
                    say(f"  round {number}/{args.rounds}")
                for connections in (THROUGHPUT_CONNECTIONS, LATENCY_CONNECTIONS):
                    for target in targets:
                        measured = runner.measure(target, connections, warmup=number == 1)
                        rounds.setdefault((target.name, connections), []).append(measured)
            results = [combine(runs) for runs in rounds.values()]
            summary = summarise(kind, results)
            summary["setup"] = setup
            return summary
        finally:
            for server in reversed(servers):
                server.stop()


def summarise(kind: str, results: list[Measured]) -> dict[str, Any]:
    ceilings = {r.connections: r.ok_rps for r in results if r.target == "ceiling /page"}
    rows = []
    for r in results:
        ceiling = ceilings.get(r.connections, 0.0)
        rows.append({**asdict(r), "cpu_us_per_request": r.cpu_us_per_request, "vs_page_ceiling": r.ok_rps / ceiling if ceiling else 0.0})
    by = {(row["target"], row["connections"]): row for row in rows}
    timeline = by[("portal /repairs/{number}", THROUGHPUT_CONNECTIONS)]["vs_page_ceiling"]
    orders_p95 = by[("portal /orders", LATENCY_CONNECTIONS)]["p95_ms"]
    return {
        "db": kind,
        "results": rows,
        "timeline_vs_page_ceiling": timeline,
        "timeline_target_met": timeline >= TIMELINE_TARGET_RATIO,
        "orders_p95_ms_at_8": orders_p95,
        "orders_target_met": orders_p95 < ORDERS_P95_TARGET_MS,
    }


# -- report ------------------------------------------------------------------------------------------
def print_report(summaries: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    rounds = f"; {args.rounds} interleaved rounds (req/s over all of them, median percentiles)" if args.rounds > 1 else ""
    pg = "not pinned" if args.pg_cpu == "none" else f"CPU {args.pg_cpu}"
    print(
        f"wrk -t{args.threads} -d{args.duration:g}s --latency (CPU {CLIENT_CPU}); uvicorn, 1 worker (CPU {SERVER_CPU}); "
        f"PostgreSQL {pg}{rounds}"
    )
    for summary in summaries:
        setup = summary["setup"]
        print(
            f"{summary['db']}: pulled {sum(setup['pulled'].values())} rows ({setup['crm_rows_added']}) in "
            f"{setup['pull_seconds']:.1f} s, {setup['pull_rows_per_s']:,.0f} rows/s net of {setup['idle_adapter_seconds']:.1f} s start-up"
        )
    header = (
        f"{'db':<11} {'target':<28} {'conns':>5} {'bytes':>6} {'req/s':>9} {'ok req/s':>9} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'µs CPU':>7} {'÷ page':>7}  errors"
    )
    print(header)
    print("-" * len(header))
    for summary in summaries:
        for row in summary["results"]:
            errors = ", ".join(f"{k}={v}" for k, v in row["errors"].items()) or "-"
            print(
                f"{summary['db']:<11} {row['target']:<28} {row['connections']:>5} {row['bytes_per_response']:>6} "
                f"{row['rps']:>9.1f} {row['ok_rps']:>9.1f} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} {row['p99_ms']:>8.2f} "
                f"{row['cpu_us_per_request']:>7.0f} {row['vs_page_ceiling']:>6.1%}  {errors}"
            )
    print()
    for summary in summaries:
        verdict = "PASS" if summary["timeline_target_met"] else "FAIL"
        print(
            f"{verdict}  {summary['db']}: RMA timeline at {summary['timeline_vs_page_ceiling']:.1%} of the page ceiling "
            f"(target ≥ {TIMELINE_TARGET_RATIO:.0%}, {THROUGHPUT_CONNECTIONS} connections)"
        )
        verdict = "PASS" if summary["orders_target_met"] else "FAIL"
        print(
            f"{verdict}  {summary['db']}: orders list p95 {summary['orders_p95_ms_at_8']:.1f} ms "
            f"(target < {ORDERS_P95_TARGET_MS:.0f} ms, {LATENCY_CONNECTIONS} connections)"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.repairs", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="whole seconds measured per target and connection count (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per target (default 2; 0 = none)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1; wrk has one CPU)")
    parser.add_argument("--orders", type=int, default=5000, help="orders added to account C-1001 (default 5000)")
    parser.add_argument("--rounds", type=int, default=1, help="measure every target this many times, interleaved (default 1)")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both", help="default: both")
    parser.add_argument(
        "--pg-cpu",
        default=SERVER_CPU,
        help=f"CPU list for PostgreSQL (default {SERVER_CPU}, shared with the app server; 'none': not pinned)",
    )
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="also write the figures as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    status, summaries = run_databases(args, bench_database, prefix="portal-bench-repairs-")
    if status:
        return status
    print_report(summaries, args)
    if args.json:
        targets = {
            "timeline_vs_page_ceiling": TIMELINE_TARGET_RATIO,
            "orders_p95_ms": ORDERS_P95_TARGET_MS,
            "throughput_connections": THROUGHPUT_CONNECTIONS,
            "latency_connections": LATENCY_CONNECTIONS,
        }
        write_json(args.json, args, summaries, {"targets": targets})
    return 0


if __name__ == "__main__":
    sys.exit(main())
