"""Where a portal page's time goes: in-process, one request at a time, no HTTP and no wrk.

    .venv/bin/python -m bench.breakdown [--db sqlite|postgresql] [--requests 300] [--rounds 9]

Drives the ASGI app directly (the same `create_app` as under uvicorn) with GET / and the
signed-in GET /account, and prints the CPU time per request (best of several rounds, all
threads of the process) for the full pipeline and for variants with parts taken away:
the middleware (security headers, metrics and gzip in one), and the thread-pool hop (every
view run inline on the event loop; the portal does that only for quick reads on SQLite, such as
/ and /account, so there the two variants are the same pipeline). It also times the parts
of the full pipeline's /account request (CPU time of the thread that runs them): opening
the unit of work, the session lookup, rendering and closing the unit of work.

Pin it to one CPU for steadier figures: `taskset -c 0 .venv/bin/python -m bench.breakdown`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_SECRET = "bench-breakdown-secret-not-for-production"  # noqa: S105
MIDDLEWARE = ("PortalMiddleware",)  # security headers, metrics and gzip in one (portal/middleware.py)


@contextlib.contextmanager
def database(kind: str, data_dir: Path) -> Iterator[tuple[str, str]]:
    if kind == "sqlite":
        yield f"sqlite:///{data_dir / 'portal.db'}", f"sqlite:///{data_dir / 'crm.db'}"
        return
    sys.path.insert(0, str(ROOT))
    from tests.support.pg import ThrowawayPostgres

    pg = ThrowawayPostgres()
    try:
        pg.start()
        yield pg.create_database("portal_breakdown"), pg.create_database("crm_breakdown")
    finally:
        pg.stop()


class Driver:
    """Calls an ASGI app with a GET request and checks the status."""

    def __init__(self, cookie: bytes) -> None:
        self.cookie = cookie

    def scope(self, path: str) -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"cookie", self.cookie)],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
        }

    async def get(self, app: Any, path: str) -> None:
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(self.scope(path), receive, send)
        if statuses != [200]:
            raise RuntimeError(f"GET {path} answered {statuses}")

    async def cpu_per_request(self, app: Any, path: str, requests: int, rounds: int) -> float:
        for _ in range(min(100, requests)):
            await self.get(app, path)
        best = float("inf")
        for _ in range(rounds):
            started = time.process_time()
            for _ in range(requests):
                await self.get(app, path)
            best = min(best, (time.process_time() - started) / requests)
        return best * 1e6


def timed(totals: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[name] += time.thread_time() - started

    return wrapper


def timed_unit_of_work(totals: dict[str, float], original: Callable[..., Any]) -> Callable[..., Any]:
    @contextlib.contextmanager
    def unit_of_work(**kwargs: Any) -> Iterator[Any]:
        started = time.thread_time()
        manager = original(**kwargs)
        session = manager.__enter__()
        totals["unit of work: open"] += time.thread_time() - started
        try:
            yield session
        except BaseException:
            if not manager.__exit__(*sys.exc_info()):
                raise
        else:
            started = time.thread_time()
            manager.__exit__(None, None, None)
            totals["unit of work: rollback + close"] += time.thread_time() - started

    return unit_of_work


async def run(args: argparse.Namespace, portal_url: str, crm_url: str, data_dir: Path) -> None:
    os.environ.update(DATABASE_URL=portal_url, CRM_DATABASE_URL=crm_url, DATA_DIR=str(data_dir), SECRET_KEY=BENCH_SECRET)
    import portal.web
    from portal.accounts.service import find_by_email
    from portal.app import create_app
    from portal.demo import seed
    from portal.security import sessions
    from portal.settings import load_settings

    settings = load_settings()
    seed(settings, echo=lambda _msg: None)

    def make(drop: tuple[str, ...] = ()) -> Any:
        app = create_app(settings, background=False)
        app.user_middleware = [m for m in app.user_middleware if getattr(m.cls, "__name__", "") not in drop]
        app.middleware_stack = None  # rebuilt from user_middleware on the first request
        return app

    first = make()
    state = first.state.portal
    with state.db.unit_of_work() as db:
        token, _row = sessions.start(db, user=find_by_email(db, "alice@example.com"), absolute_s=3600)
    csrf = "A" * 43
    signed_in = Driver(f"{sessions.COOKIE_NAME}={token}; portal_csrf={csrf}".encode())
    guest = Driver(f"portal_csrf={csrf}".encode())

    # Swapped through the modules' namespaces: portal.web calls its `run_in_threadpool` and
    # `sessions.load` by name at request time.
    web_names, session_names = vars(portal.web), vars(sessions)
    threadpool = web_names["run_in_threadpool"]

    async def inline(fn: Callable[..., Any], *a: Any, quick: bool = False) -> Any:
        return fn(*a)

    variants: list[tuple[str, tuple[str, ...], bool]] = [
        ("full pipeline", (), False),
        ("without the middleware", MIDDLEWARE, False),
        ("view inline (no thread-pool hop)", (), True),
        ("inline, without the middleware", MIDDLEWARE, True),
    ]
    apps = {name: make(drop) for name, drop, _inline in variants}
    print(f"CPU time per request, best of {args.rounds} rounds of {args.requests} ({args.db}):")
    print(f"  {'variant':<48} {'GET /':>9} {'GET /account':>13}")
    for name, _drop, run_inline in variants:
        web_names["run_in_threadpool"] = inline if run_inline else threadpool
        try:
            home = await guest.cpu_per_request(apps[name], "/", args.requests, args.rounds)
            account = await signed_in.cpu_per_request(apps[name], "/account", args.requests, args.rounds)
        finally:
            web_names["run_in_threadpool"] = threadpool
        print(f"  {name:<48} {home:>7.0f}µs {account:>11.0f}µs", flush=True)

    # Inside the full pipeline's /account: CPU time of each part, on the thread that runs it.
    app = apps["full pipeline"]
    part_state = app.state.portal
    totals: dict[str, float] = defaultdict(float)
    part_state.db.unit_of_work = timed_unit_of_work(totals, part_state.db.unit_of_work)
    original_render = portal.web.Ctx.render
    portal.web.Ctx.render = timed(totals, "render (Ctx.render)", original_render)  # type: ignore[method-assign]
    original_load = session_names["load"]
    session_names["load"] = timed(totals, "session lookup (checkout, BEGIN, 1 compiled query)", original_load)
    try:
        for _ in range(100):
            await signed_in.get(app, "/account")
        totals.clear()
        started = time.process_time()
        for _ in range(args.requests):
            await signed_in.get(app, "/account")
        whole = (time.process_time() - started) / args.requests * 1e6
    finally:
        session_names["load"] = original_load
        portal.web.Ctx.render = original_render  # type: ignore[method-assign]
    print(f"\nParts of GET /account (full pipeline, CPU time, mean of {args.requests}): {whole:.0f}µs per request")
    for part, seconds in totals.items():
        per_request = seconds / args.requests * 1e6
        print(f"  {part:<48} {per_request:>7.0f}µs  {per_request / whole:>5.0%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.breakdown", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=300, help="requests per round (default 300)")
    parser.add_argument("--rounds", type=int, default=9, help="rounds per variant; the best counts (default 9)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)
    work = Path(tempfile.mkdtemp(prefix="portal-breakdown-"))
    try:
        with database(args.db, work) as (portal_url, crm_url):
            import uvloop

            uvloop.run(run(args, portal_url, crm_url, work))
    except KeyboardInterrupt:
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
