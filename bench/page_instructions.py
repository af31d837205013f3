"""Instructions per request of the portal's pages, in-process, counted by valgrind's callgrind.

    .venv/bin/python -m bench.page_instructions [--requests 200] [--path /account ...]

Wall-clock figures on this shared 2-core machine move by ±15–30 % between runs; an instruction
count does not, so this is the figure for comparing two versions of the request path (run it on
each). It drives the app as `bench.breakdown` does (no HTTP, one request at a time) with the view
run inline, so no thread scheduling enters the count, and it does not see time spent waiting.
`bench.load` and `bench.repairs` stay the measure of the targets.

The data are those of `bench.repairs` on SQLite (demo data, 300 orders of account C-1001 and
RMA-B00001 with two units and ten events), signed in as carol@harbor-robotics.example. Each path
is measured in its own child under `valgrind --tool=callgrind --instr-atstart=no`: it sets up,
warms up with 50 requests, then counts exactly `--requests` requests
(`callgrind_control -i on` / `off`). Needs Debian's valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import callgrind

PATHS = ("/", "/account", "/repairs/RMA-B00001", "/orders")
SECRET = "bench-page-instructions-not-a-secret"  # noqa: S105


def child(path: str, requests: int) -> None:
    from bench import repairs
    from bench.breakdown import Driver
    from bench.load import portal_cli, portal_env

    work = Path(tempfile.mkdtemp(prefix="page-instr-"))
    try:
        env = portal_env(f"sqlite:///{work / 'portal.db'}", f"sqlite:///{work / 'crm.db'}", work)
        portal_cli(env, "migrate")
        portal_cli(env, "seed-demo")
        repairs.adapter_once(env)
        repairs.add_crm_orders(env["CRM_DATABASE_URL"], 300, now=datetime.now(UTC))
        repairs.adapter_once(env)
        repairs.create_rma(env, repairs.fault_category())
        os.environ.update(env, SECRET_KEY=SECRET)

        import portal.web
        from portal.accounts.service import find_by_email
        from portal.app import create_app
        from portal.security import sessions
        from portal.settings import load_settings

        app = create_app(load_settings(), background=False)
        with app.state.portal.db.unit_of_work() as db:
            token, _row = sessions.start(db, user=find_by_email(db, repairs.CUSTOMER_EMAIL), absolute_s=3600)
        driver = Driver(f"{sessions.COOKIE_NAME}={token}; portal_csrf={'A' * 43}".encode())

        async def inline(fn: Any, *args: Any, quick: bool = False) -> Any:
            return fn(*args)

        portal.web.run_in_threadpool = inline  # type: ignore[assignment]

        async def run() -> None:
            for _ in range(50):
                await driver.get(app, path)
            callgrind.toggle("on")
            for _ in range(requests):
                await driver.get(app, path)
            callgrind.toggle("off")

        asyncio.run(run())
        print(f"REQUESTS {requests}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def count(path: str, requests: int) -> int:
    done, instructions = callgrind.count("bench.page_instructions", "--child", "--path", path, "--requests", str(requests))
    if done.returncode != 0 or "REQUESTS" not in done.stdout or instructions is None:
        raise RuntimeError(f"{path}: {done.stdout[-1500:]}\n{done.stderr[-1500:]}")
    return instructions // requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--path", action="append", help=f"a page to measure (default: {', '.join(PATHS)})")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.path[0], args.requests)
        return 0
    if not callgrind.available():
        return 2
    print(f"{'page':<24} {'instructions per request':>26}   ({args.requests} requests each, SQLite, in-process, view inline)")
    for path in args.path or PATHS:
        print(f"{path:<24} {count(path, args.requests):>26,}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
