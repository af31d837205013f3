"""Load benchmark of the web tier: the portal's pages against two bare-Starlette ceilings.

    .venv/bin/python -m bench.load [--duration 10] [--connections 32] [--db sqlite|postgresql|both]
                                   [--warmup 2] [--rounds 1] [--json out.json]

For each database (SQLite files in a temporary DATA_DIR; PostgreSQL 15 in a throwaway
cluster) the run migrates, seeds the demo data, starts the portal with uvicorn, signs in
as alice@example.com once, measures the account page's size, starts the ceiling app
(``bench.ceiling_app``) with a page padded to that size, and runs wrk against:

    ceiling /json, ceiling /page, portal /, portal /account (with the session cookie)

Both servers run with the same settings (one uvicorn worker, 127.0.0.1, no access log)
pinned to CPU 0, with PostgreSQL when it is used; wrk is pinned to CPU 1. The portal's own
request counters (/metrics) confirm that every measured request was answered 200 (a lost
session would show as redirects to /login, which wrk counts as successes). It prints requests/s, p50 and p99, the
server process's CPU time per request ("µs CPU": steadier than requests/s on a shared machine;
PostgreSQL's own processes are not in it) and each page's ratio to the ceilings, and a
PASS/FAIL line against the 40 % target as information: the exit status is 0 unless something
broke.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SERVER_CPU = "0"
CLIENT_CPU = "1"
TARGET_RATIO = 0.40
DEMO_EMAIL = "alice@example.com"
DEMO_PASSWORD = "northwind-demo-2026"  # noqa: S105 - the published demo login (README)
BENCH_SECRET = "bench-secret-key-not-for-production-0123456789abcdef"  # noqa: S105


class BenchError(RuntimeError):
    """Something the benchmark needs did not work (the run stops, exit status 1)."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpu: str, cmd: list[str]) -> list[str]:
    """Prefix `taskset -c cpu` when taskset exists and the machine has the CPU."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", cpu, *cmd]
    return cmd


def process_cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a process has used so far (Linux's /proc; 0.0 where there is none).
    Per request it is a steadier figure than requests/s on this shared machine: it does not count
    the time the server waited for the CPU, only what it spent."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- servers -----------------------------------------------------------------------------------------
class Server:
    """One uvicorn process (1 worker, loopback, no access log) pinned to the server CPU."""

    def __init__(self, name: str, app: str, env: dict[str, str], log_dir: Path, *, factory: bool = False) -> None:
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        self.cmd = pinned(
            SERVER_CPU,
            [
                PYTHON,
                "-m",
                "uvicorn",
                app,
                *(["--factory"] if factory else []),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
        )
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_path: str) -> None:
        with open(self.log_path, "wb") as log:
            # Own session: Ctrl-C reaches only the bench, which then stops the server itself.
            self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(self.base + ready_path, timeout=2)
                return
            time.sleep(0.1)
        raise BenchError(f"{self.name} did not answer within 60 s:\n{self.log_tail()}")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- wrk ---------------------------------------------------------------------------------------------
@dataclass
class WrkResult:
    target: str
    url: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    bytes_per_response: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    rounds: list[dict[str, float]] = field(default_factory=list)
    server_cpu_s: float = 0.0  # CPU the server process used while wrk ran (process_cpu_seconds)

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu_s / self.requests * 1e6 if self.requests else 0.0


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _to_ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value)
    if not match:
        raise BenchError(f"cannot read wrk latency {value!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str, target: str, url: str) -> WrkResult:
    """Read requests/s, p50 and p99 from `wrk --latency` output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    p50 = re.search(r"^\s+50(?:\.000)?%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99(?:\.000)?%\s+(\S+)", output, re.M)
    total = re.search(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m)", output, re.M)
    if not (rps and p50 and p99 and total):
        raise BenchError(f"cannot read wrk output for {target}:\n{output}")
    errors: dict[str, int] = {}
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        for name, value in zip(("connect", "read", "write", "timeout"), socket_errors.groups(), strict=True):
            if int(value):
                errors[name] = int(value)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        errors["non_2xx_3xx"] = int(non_2xx.group(1))
    return WrkResult(
        target=target,
        url=url,
        requests=int(total.group(1)),
        seconds=_to_ms(total.group(2) + total.group(3)) / 1000,
        rps=float(rps.group(1)),
        p50_ms=_to_ms(p50.group(1)),
        p99_ms=_to_ms(p99.group(1)),
        errors=errors,
    )


def run_wrk(url: str, *, seconds: int, connections: int, threads: int, headers: dict[str, str], script: Path | None = None) -> str:
    """`script`: an optional wrk Lua script (`-s`), e.g. a `request()` or a `done()` that prints more percentiles."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    if script is not None:
        cmd += ["-s", str(script)]
    done = subprocess.run(pinned(CLIENT_CPU, [*cmd, url]), capture_output=True, text=True, check=False, timeout=seconds + 60)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return done.stdout


# -- the portal's own request counters (/metrics): proves /account answered 200, not a redirect -------
_METRIC = re.compile(r'^portal_http_requests_total\{method="GET",route="([^"]*)",status="(\d+)"\} ([\d.e+]+)$', re.M)


def status_counts(base: str, route: str) -> dict[str, int]:
    text = httpx.get(base + "/metrics", timeout=10).text
    return {status: int(float(value)) for r, status, value in _METRIC.findall(text) if r == route}


def count_diff(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {status: after[status] - before.get(status, 0) for status in sorted(after) if after[status] - before.get(status, 0)}


# -- signing in --------------------------------------------------------------------------------------
@dataclass
class Login:
    cookie_header: str
    csrf_cookie: str
    account_bytes: int
    home_bytes: int


def sign_in(base: str, email: str = DEMO_EMAIL, password: str = DEMO_PASSWORD) -> Login:
    """GET /login for the CSRF cookie and token, POST /login, then fetch /account once."""
    identity = {"Accept-Encoding": "identity"}  # wrk asks for no compression either
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30, headers=identity) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        csrf_cookie = client.cookies.get("portal_csrf")
        if page.status_code != 200 or not token or not csrf_cookie:
            raise BenchError(f"GET /login gave {page.status_code} without a CSRF cookie/token")
        done = client.post("/login", data={"email": email, "password": password, "csrf_token": token.group(1)})
        session = client.cookies.get("portal_session")
        if done.status_code != 303 or not session:
            raise BenchError(f"POST /login gave {done.status_code} and no session cookie")
        cookie_header = f"portal_session={session}; portal_csrf={csrf_cookie}"
        account = httpx.get(base + "/account", headers={**identity, "Cookie": cookie_header}, timeout=30)
        if account.status_code != 200 or email not in account.text:
            raise BenchError(f"GET /account with the session cookie gave {account.status_code}")
        home = httpx.get(base + "/", headers={**identity, "Cookie": f"portal_csrf={csrf_cookie}"}, timeout=30)
        return Login(cookie_header, csrf_cookie, len(account.content), len(home.content))


# -- databases ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def database_urls(kind: str, data_dir: Path, pg_cpu: str) -> Iterator[tuple[str, str]]:
    if kind == "sqlite":
        yield f"sqlite:///{data_dir / 'portal.db'}", f"sqlite:///{data_dir / 'crm.db'}"
        return
    sys.path.insert(0, str(ROOT))
    from tests.support.pg import ThrowawayPostgres

    pg = ThrowawayPostgres()
    try:
        where = "not pinned" if pg_cpu == "none" else f"CPU {pg_cpu}"
        say(f"  starting a throwaway PostgreSQL 15 cluster in {pg.root} (port {pg.port}, {where}) …")
        pg.start()
        if pg_cpu != "none":
            pin_postgres(pg.data / "postmaster.pid", pg_cpu)
        yield pg.create_database("portal_bench"), pg.create_database("crm_bench")
    finally:
        pg.stop()


def pin_postgres(pid_file: Path, cpu: str) -> None:
    """Pin the postmaster and its children (by default to the app server's CPU: the database is
    part of the server under test, and wrk keeps its CPU to itself). Backends forked later
    inherit the affinity."""
    if not pinned(cpu, []):
        return
    postmaster = int(pid_file.read_text().split()[0])
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                pids.append(int(stat.parent.name))
    for pid in pids:
        subprocess.run(["taskset", "-a", "-p", "-c", cpu, str(pid)], check=False, capture_output=True)


def portal_env(portal_url: str, crm_url: str, data_dir: Path, base_url: str = "http://127.0.0.1:8000") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "OIDC_", "STRIPE_", "MAIL_"))}
    env.update(
        DATABASE_URL=portal_url,
        CRM_DATABASE_URL=crm_url,
        DATA_DIR=str(data_dir),
        SECRET_KEY=BENCH_SECRET,
        BASE_URL=base_url,
        ADAPTER_IN_PROCESS="0",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def portal_cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([PYTHON, "-m", "portal", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"portal {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


# -- one database ------------------------------------------------------------------------------------
def bench_database(kind: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data_dir = work / kind
    data_dir.mkdir()
    servers: list[Server] = []
    with database_urls(kind, data_dir, args.pg_cpu) as (portal_url, crm_url):
        try:
            env = portal_env(portal_url, crm_url, data_dir)
            say("  migrating and seeding the demo data …")
            portal_cli(env, "migrate")
            portal_cli(env, "seed-demo")

            portal = Server(f"portal-{kind}", "portal.asgi:app", env, work)
            portal.env = portal_env(portal_url, crm_url, data_dir, base_url=portal.base)
            servers.append(portal)
            say(f"  starting the portal on {portal.base} (CPU {SERVER_CPU}) …")
            portal.start("/healthz")
            login = sign_in(portal.base)
            say(f"  signed in as {DEMO_EMAIL}; /account is {login.account_bytes} bytes, / is {login.home_bytes} bytes")

            ceiling_env = {**os.environ, "BENCH_PAGE_BYTES": str(login.account_bytes), "PYTHONDONTWRITEBYTECODE": "1"}
            ceiling = Server(f"ceiling-{kind}", "bench.ceiling_app:create_app_from_env", ceiling_env, work, factory=True)
            servers.append(ceiling)
            say(f"  starting the ceiling app on {ceiling.base} (CPU {SERVER_CPU}) …")
            ceiling.start("/json")
            page_bytes = len(httpx.get(ceiling.base + "/page", timeout=10).content)
            json_bytes = len(httpx.get(ceiling.base + "/json", timeout=10).content)

            targets = [
                ("ceiling /json", ceiling, "/json", {}, json_bytes, None),
                ("ceiling /page", ceiling, "/page", {}, page_bytes, None),
                ("portal /", portal, "/", {"Cookie": f"portal_csrf={login.csrf_cookie}"}, login.home_bytes, "/"),
                ("portal /account", portal, "/account", {"Cookie": login.cookie_header}, login.account_bytes, "/account"),
            ]
            rounds: dict[str, list[WrkResult]] = {name: [] for name, *_ in targets}
            for number in range(1, args.rounds + 1):
                if args.rounds > 1:
                    say(f"  round {number}/{args.rounds}")
                for name, server, path, headers, size, route in targets:
                    url = server.base + path
                    if args.warmup > 0 and number == 1:
                        say(f"  warm-up   {name:<16} {args.warmup:g} s")
                        run_wrk(url, seconds=args.warmup, connections=args.connections, threads=args.threads, headers=headers)
                    before = status_counts(server.base, route) if route else {}
                    say(f"  measuring {name:<16} {args.duration:g} s, {args.connections} connections")
                    cpu_before = process_cpu_seconds(server.pid)
                    output = run_wrk(url, seconds=args.duration, connections=args.connections, threads=args.threads, headers=headers)
                    result = parse_wrk(output, name, url)
                    result.server_cpu_s = process_cpu_seconds(server.pid) - cpu_before
                    result.bytes_per_response = size
                    if route:
                        result.statuses = count_diff(before, status_counts(server.base, route))
                        others = sum(n for status, n in result.statuses.items() if status != "200")
                        if others:
                            result.errors["not_200"] = others
                    say(
                        f"            {result.rps:10.1f} req/s   p50 {result.p50_ms:7.2f} ms   p99 {result.p99_ms:7.2f} ms   "
                        f"server CPU {result.cpu_us_per_request:5.0f} µs/request"
                    )
                    if result.errors:
                        say(f"            errors: {result.errors}")
                    rounds[name].append(result)
            results = [combine(runs) for runs in rounds.values()]
            return summarise(kind, results)
        finally:
            # Servers first, then the database they are connected to.
            for server in reversed(servers):
                server.stop()


def combine(runs: list[WrkResult]) -> WrkResult:
    """One figure per target from interleaved rounds: requests/s over all rounds, median p50/p99."""
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
    return WrkResult(
        target=first.target,
        url=first.url,
        requests=requests,
        seconds=seconds,
        rps=requests / seconds if seconds else 0.0,
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        bytes_per_response=first.bytes_per_response,
        errors=errors,
        statuses=statuses,
        rounds=[{"rps": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "cpu_us_per_request": r.cpu_us_per_request} for r in runs],
        server_cpu_s=sum(r.server_cpu_s for r in runs),
    )


def summarise(kind: str, results: list[WrkResult]) -> dict[str, Any]:
    by_name = {r.target: r for r in results}
    json_ceiling, page_ceiling = by_name["ceiling /json"].rps, by_name["ceiling /page"].rps
    rows = []
    for r in results:
        rows.append(
            {
                **asdict(r),
                "cpu_us_per_request": r.cpu_us_per_request,
                "vs_json_ceiling": r.rps / json_ceiling if json_ceiling else 0.0,
                "vs_page_ceiling": r.rps / page_ceiling if page_ceiling else 0.0,
            }
        )
    account_ratio = by_name["portal /account"].rps / page_ceiling if page_ceiling else 0.0
    return {"db": kind, "results": rows, "account_vs_page_ceiling": account_ratio, "target_met": account_ratio >= TARGET_RATIO}


# -- report ------------------------------------------------------------------------------------------
def print_report(summaries: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    rounds = f"; {args.rounds} interleaved rounds (req/s over all of them, median p50/p99)" if args.rounds > 1 else ""
    pg = "not pinned" if args.pg_cpu == "none" else f"CPU {args.pg_cpu}"
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency (CPU {CLIENT_CPU}); "
        f"uvicorn, 1 worker (CPU {SERVER_CPU}); PostgreSQL {pg}{rounds}"
    )
    header = (
        f"{'db':<11} {'target':<16} {'bytes':>6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'µs CPU':>7} {'÷ json':>7} {'÷ page':>7}  errors"
    )
    print(header)
    print("-" * len(header))
    for summary in summaries:
        for row in summary["results"]:
            errors = ", ".join(f"{k}={v}" for k, v in row["errors"].items()) or "-"
            print(
                f"{summary['db']:<11} {row['target']:<16} {row['bytes_per_response']:>6} {row['rps']:>9.1f} "
                f"{row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['cpu_us_per_request']:>7.0f} "
                f"{row['vs_json_ceiling']:>6.1%} {row['vs_page_ceiling']:>6.1%}  {errors}"
            )
    print()
    for summary in summaries:
        verdict = "PASS" if summary["target_met"] else "FAIL"
        print(
            f"{verdict}  {summary['db']}: signed-in /account at {summary['account_vs_page_ceiling']:.1%} of the page ceiling "
            f"(target ≥ {TARGET_RATIO:.0%}, {args.connections} connections)"
        )


def machine_facts() -> dict[str, Any]:
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return {
        "nproc": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()} ({os.path.realpath(PYTHON)})",
        "platform": platform.platform(),
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "?",
        "server_cpu": SERVER_CPU,
        "client_cpu": CLIENT_CPU,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="whole seconds measured per target (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per target (default 2; 0 = none)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1; wrk has one CPU)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure the four targets this many times, interleaved (steadier ratios on a busy machine; default 1)",
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both", help="default: both")
    parser.add_argument(
        "--pg-cpu",
        default=SERVER_CPU,
        help=f"CPU list for PostgreSQL (default {SERVER_CPU}, shared with the app server; 'none': not pinned)",
    )
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="also write the figures as JSON")
    return parser.parse_args(argv)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


DatabaseBench = Callable[[str, argparse.Namespace, Path], dict[str, Any]]


def run_databases(args: argparse.Namespace, bench_database: DatabaseBench, *, prefix: str) -> tuple[int, list[dict[str, Any]]]:
    """Shared by the wrk benches: check the tools, then run `bench_database` for each database
    of `args.db` in a temporary work directory. Returns (exit status, one summary per database)."""
    if not shutil.which("wrk"):
        say("wrk is not installed: run `make system-deps` (apt-get install wrk)")
        return 1, []
    if (os.cpu_count() or 1) < 2 or not shutil.which("taskset"):
        say("warning: cannot pin the server and wrk to separate CPUs; figures will be noisier")
    signal.signal(signal.SIGTERM, _terminate)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    facts = machine_facts()
    say(f"bench: {facts['nproc']} CPUs, {facts['python']}, {facts['wrk']}")
    work = Path(tempfile.mkdtemp(prefix=prefix))
    summaries = []
    try:
        for kind in kinds:
            say(f"[{kind}]")
            summaries.append(bench_database(kind, args, work))
    except KeyboardInterrupt:
        say("interrupted: servers stopped, temporary files removed")
        return 130, []
    except BenchError as exc:
        say(f"bench failed: {exc}")
        return 1, []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0, summaries


def write_json(path: Path, args: argparse.Namespace, summaries: list[dict[str, Any]], targets: dict[str, Any]) -> None:
    path.write_text(
        json.dumps(
            {
                "machine": machine_facts(),
                "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                **targets,
                "databases": summaries,
            },
            indent=2,
        )
    )
    say(f"figures written to {path}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    status, summaries = run_databases(args, bench_database, prefix="portal-bench-")
    if status:
        return status
    print_report(summaries, args)
    if args.json:
        write_json(args.json, args, summaries, {"target_ratio": TARGET_RATIO})
    return 0


if __name__ == "__main__":
    sys.exit(main())
