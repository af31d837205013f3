"""Instructions per event of one relay drain on SQLite, counted by valgrind's callgrind.

    .venv/bin/python -m bench.adapter_instructions [--events 10000]

Wall-clock figures on this shared 2-core machine move by ±30 % between runs (docs/performance.md);
an instruction count does not: the same code, data and Python give the same count within a few
tenths of a percent, whatever else the machine does. That makes it the figure for comparing two
versions of the relay's code (run this on each). It does not see time spent waiting (fsync,
PostgreSQL), so it complements `bench.adapter`, which stays the measure of the target.

The parent re-runs this module under `valgrind --tool=callgrind --instr-atstart=no`; the child
fills a fresh outbox (as `bench.adapter` does), runs one warm-up batch, then switches counting on
(`callgrind_control -i on`) for exactly one `Relay.drain()` and off again. Needs Debian's valgrind.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

from backend_adapter.relay import Relay, RelayConfig
from bench import adapter, callgrind


def child(events: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="relay-instr-"))
    place = adapter.Place("sqlite", work)
    try:
        workload = adapter.make_workload(events, 0.2)
        with adapter.fresh_stores(place, "relay") as stores:
            adapter.fill_outbox(stores.db, workload.rows)
            relay = Relay(stores.db, stores.connector, config=RelayConfig(batch_size=500))
            relay.drain(max_batches=1)  # statements compiled, caches warm
            callgrind.toggle("on")
            stats = relay.drain()
            callgrind.toggle("off")
            problems = adapter.check_crm(stores, workload)
        print(f"DELIVERED {stats.delivered} PROBLEMS {len(problems)}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.events)
        return 0
    if not callgrind.available():
        return 2
    print(f"relay drain of {args.events} events under callgrind (about a minute) …", file=sys.stderr)
    done, counted = callgrind.count("bench.adapter_instructions", "--child", "--events", str(args.events))
    delivered = re.search(r"DELIVERED (\d+) PROBLEMS (\d+)", done.stdout)
    if done.returncode != 0 or not delivered or counted is None:
        print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
        return 1
    events, problems, instructions = int(delivered[1]), int(delivered[2]), counted
    print(f"relay drain, SQLite: {events} events delivered, CRM check {'OK' if problems == 0 else 'FAILED'}")
    print(f"instructions: {instructions:,} in all, {instructions // max(events, 1):,} per event")
    return 0 if problems == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
