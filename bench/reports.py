"""Partner report files end to end: validated AND committed, beside a raw batched insert of the
same rows into the same database, and peak memory for a 1,000,000-line file (prints figures;
not a test).

    .venv/bin/python -m bench.reports [--lines 100000] [--memory-lines 1000000] [--db sqlite|postgresql|both]

For each database (a fresh migrated portal database; PostgreSQL 15 is a throwaway cluster):
1. `portal.partner.reports.imports.import_file(commit=True)` on a generated sell-through CSV
   (`--lines`, ~1 % bad lines, a third with serials that exist in the portal's serial table):
   reading, validation with its database lookups (serials, already-accepted lines), the new
   version's lines and one outbox event per line, in one transaction — what the background
   worker and `portal partner-report import --commit` do.
2. The baseline, in the same run and database: the same accepted rows, already typed (made
   outside the clock), inserted raw into `sell_through_report_line` with the DB-API's
   executemany, 1 000 a batch, one transaction. Target: (1) >= 20 % of (2)'s lines/s.
3. Peak memory: a child process runs (1) on a `--memory-lines` file against SQLite; its peak
   resident set (VmHWM) is reported. Target < 200 MB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, text  # noqa: E402

from bench.load import database_urls, say  # noqa: E402
from bench.reports_validation import SKUS, generate, peak_rss_kib  # noqa: E402

PARTNER = "P-BENCH"
PERIOD = "2026-03"
TODAY = date(2026, 4, 2)


def prepare(url: str, serials: list[tuple[str, str]]) -> Any:
    """A migrated portal database with the partner, the SKUs and the generated serials."""
    from portal.accounts.models import Account, AccountKind
    from portal.customer.models import Product, Serial
    from portal.db import Database
    from portal.migrate import upgrade_portal

    database = Database(url)
    upgrade_portal(database.engine)
    now = datetime.now(UTC)
    with database.unit_of_work() as db:
        db.add(Account(account_id=PARTNER, kind=AccountKind.PARTNER, name="Bench Distribution", updated_at=now))
        db.execute(
            insert(Product),
            [{"sku": sku, "name": sku, "category": "bench", "warranty_months": 24, "active": True, "updated_at": now} for sku in SKUS],
        )
        for i in range(0, len(serials), 20_000):
            db.execute(insert(Serial), [{"serial": serial, "sku": sku, "updated_at": now} for serial, sku in serials[i : i + 20_000]])
    return database


def time_import(database: Any, path: Path, commit: bool = True) -> tuple[float, Any]:
    from portal.partner.reports import imports

    start = time.perf_counter()
    with path.open("rb") as stream, database.unit_of_work() as db:
        result = imports.import_file(
            db, partner=PARTNER, kind="sell-through", period=PERIOD, stream=stream, filename=path.name, commit=commit
        )
        if commit and result.submission is None:
            raise SystemExit(f"bench: the commit was refused: {result.refusal or result.file_error}")
    elapsed = time.perf_counter() - start
    return elapsed, result


def typed_rows(path: Path) -> list[tuple[Any, ...]]:
    """The accepted lines as insert-ready tuples, with the keys and external ids the commit gives
    them (made outside the clock)."""
    from portal.partner.reports.columns import Kind
    from portal.partner.reports.pipeline import validate_stream
    from portal.partner.reports.validation import Period, ValidationContext
    from portal.partner.reports.versions import line_external_id

    context = ValidationContext(Period.parse(PERIOD), TODAY, dict.fromkeys(SKUS, True), reject_unknown_serials=False)
    rows = []
    with path.open("rb") as fh:
        for result in validate_stream(fh, path.name, Kind.SELL_THROUGH, context):
            line = result.line
            if line is None or result.key is None:
                continue
            rows.append(
                (
                    1,
                    PARTNER,
                    line_external_id(PARTNER, "sell_through", result.key),
                    result.key,
                    result.row,
                    line.sold_on.isoformat(),
                    line.sku,
                    line.quantity,
                    line.unit_price_cents,
                    line.currency,
                    line.customer_name,
                    line.country,
                    line.postcode,
                    line.serial,
                    line.invoice_ref,
                )
            )
    return rows


def time_raw_insert(url: str, rows: list[tuple[Any, ...]]) -> float:
    """The same rows into the same table with the DB-API's executemany, 1 000 a batch, one transaction."""
    engine = create_engine(url)
    columns = (
        "submission_id, partner_account_id, external_id, line_key, row_number, sold_on, sku, quantity, unit_price_cents,"
        " currency, end_customer_name, end_customer_country, end_customer_postcode, serial, invoice_ref"
    )
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM sell_through_report_line"))
        conn.execute(
            text(
                "INSERT INTO report_submission (id, external_id, partner_account_id, kind, period, version, status, source, filename,"
                " accepted_count, rejected_count, created_at) VALUES (1, 'raw', :p, 'sell_through', '2025-01', 1, 'superseded', 'cli',"
                " '', 0, 0, :now)"
            ),
            {"p": PARTNER, "now": datetime.now(UTC)},
        )
    raw = engine.raw_connection()
    try:
        marker = "?" if url.startswith("sqlite") else "%s"
        sql = f"INSERT INTO sell_through_report_line ({columns}) VALUES ({', '.join([marker] * 15)})"
        cursor = raw.cursor()
        start = time.perf_counter()
        for i in range(0, len(rows), 1000):
            cursor.executemany(sql, rows[i : i + 1000])
        raw.commit()
        elapsed = time.perf_counter() - start
        cursor.execute("DELETE FROM sell_through_report_line WHERE submission_id = 1")
        cursor.execute("DELETE FROM report_submission WHERE id = 1")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return elapsed


def bench_database(kind: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data_dir = work / kind
    data_dir.mkdir()
    path = work / "sell-through.csv"
    serials = generate(path, args.lines)
    with database_urls(kind, data_dir, "none") as (portal_url, _crm_url):
        say("  preparing the database (migrations, SKUs, serials) …")
        database = prepare(portal_url, serials)
        try:
            rows = typed_rows(path)
            raw_s = min(time_raw_insert(portal_url, rows) for _ in range(2))
            runs = []
            for attempt in range(2):
                # Each run a new file (other invoice numbers): nothing is a duplicate of the last.
                run_path = work / f"run-{kind}-{attempt}.csv"
                generate(run_path, args.lines, tag=f"{kind}{attempt}")
                with database.unit_of_work() as db:  # a clean period for each run
                    db.execute(text("DELETE FROM outbox_event"))
                    db.execute(text("DELETE FROM sell_through_report_line"))
                    db.execute(text("DELETE FROM report_submission"))
                elapsed, result = time_import(database, run_path)
                runs.append((elapsed, result))
            elapsed, result = min(runs, key=lambda r: r[0])
        finally:
            database.dispose()
    lines = args.lines
    summary = {
        "database": kind,
        "lines": lines,
        "accepted": result.accepted,
        "rejected": result.rejected,
        "import_lines_per_s": round(lines / elapsed),
        "raw_insert_lines_per_s": round(len(rows) / raw_s),
        "ratio": round((lines / elapsed) / (len(rows) / raw_s), 3),
    }
    say(
        f"  validate + commit   {summary['import_lines_per_s']:>10,} lines/s  ({result.accepted:,} accepted, {result.rejected:,} rejected,"
        f" {elapsed:.1f} s, with {result.accepted:,} outbox events)"
    )
    say(f"  raw batched insert  {summary['raw_insert_lines_per_s']:>10,} lines/s  (executemany, 1 000 a batch)")
    say(f"  ratio {summary['ratio'] * 100:.0f} % of the raw insert rate (target >= 20 %)")
    return summary


def child_memory(path: str, url: str) -> None:
    """Runs in a fresh process against a database the parent prepared: its peak resident set is
    what the import itself needs (plus the interpreter and the imported libraries)."""
    from portal.db import Database

    database = Database(url)
    before = peak_rss_kib()
    elapsed, result = time_import(database, Path(path))
    after = peak_rss_kib()
    print(f"{before} {after} {result.accepted} {result.rejected} {elapsed:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--memory-lines", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--child-memory", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory:
        child_memory(args.child_memory[0], args.child_memory[1])
        return 0
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        work = Path(tmp)
        say(f"bench.reports: {args.lines:,}-line sell-through CSV, validated and committed vs a raw batched insert")
        for kind in kinds:
            say(f"[{kind}]")
            bench_database(kind, args, work)
        if args.memory_lines:
            big = work / "big.csv"
            memory_url = f"sqlite:///{work / 'memory.db'}"
            prepare(memory_url, generate(big, args.memory_lines, seed=2)).dispose()
            say(f"[memory] {args.memory_lines:,} lines, {big.stat().st_size / 1e6:.0f} MB, validated and committed into SQLite …")
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.reports",
                    "--child-memory",
                    str(big),
                    memory_url,
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            ).stdout.split()
            before, after, accepted, rejected, seconds = int(out[0]), int(out[1]), int(out[2]), int(out[3]), float(out[4])
            say(f"  {accepted:,} accepted, {rejected:,} rejected in {seconds:.1f} s ({args.memory_lines / seconds:,.0f} lines/s)")
            say(f"  peak RSS {after / 1024:.0f} MB (after the imports {before / 1024:.0f} MB; target < 200 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
