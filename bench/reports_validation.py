"""Partner report validation: throughput and peak memory (prints figures; not a test).

    .venv/bin/python -m bench.reports_validation [--lines 100000] [--memory-lines 1000000]

1. Throughput on a generated sell-through CSV (`--lines`, realistic values, ~1 % bad lines,
   a third with serials), beside two baselines on the same file/lines:
   - csv-reading the file (the floor: decoding + splitting only);
   - a raw batched insert of already-typed lines into SQLite (executemany, 1 000 a batch,
     one transaction) — the target is validation >= 20 % of this rate.
2. Peak memory validating a `--memory-lines` file (generated to a temp file line by line), in
   a child process: ru_maxrss after imports and after validation (the difference is what
   validation costs; the target is < 200 MB in all).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from portal.partner.reports.columns import SELL_THROUGH_COLUMNS, Kind  # noqa: E402
from portal.partner.reports.pipeline import Summary, validate_stream  # noqa: E402
from portal.partner.reports.validation import Period, ValidationContext  # noqa: E402

SKUS = [
    "NW-MB-X570",
    "NW-MB-B650",
    "NW-MB-H610",
    "NW-SW-24G",
    "NW-SW-8P",
    "NW-AP-AX6",
    "NW-RT-5G",
    "NW-PR-L300",
    "NW-PR-L500",
    "NW-PR-INK9",
    "NW-NAS-4B",
]
MARKETS = [
    ("CN", "CNY", "518000"),
    ("SG", "SGD", "018956"),
    ("MY", "MYR", "50450"),
    ("TH", "THB", "10110"),
    ("TW", "TWD", "10617"),
    ("AU", "AUD", "2000"),
]


def generate(path: Path | None, lines: int, seed: int = 1, tag: str = "") -> list[tuple[str, str]]:
    """A sell-through CSV of `lines` realistic lines (~1 % bad, a third with serials). Returns the
    file's (serial, SKU) pairs (bench.reports makes them real units); with `path` None only
    those are computed. `tag` goes into the invoice numbers (another file, other lines)."""
    rng = random.Random(seed)
    serials: list[tuple[str, str]] = []
    with path.open("w", encoding="utf-8-sig", newline="") if path is not None else io.StringIO() as fh:
        writer = csv.writer(fh)
        writer.writerow([c.en for c in SELL_THROUGH_COLUMNS])
        for n in range(lines):
            sku_index = rng.randrange(len(SKUS))
            country, currency, postcode = MARKETS[n % len(MARKETS)]
            serial = f"S{sku_index:02d}{n:08d}" if n % 3 == 0 else ""
            if serial:
                serials.append((serial, SKUS[sku_index]))
            quantity = "1" if serial else str(rng.randint(1, 40))
            if n % 100 == 99:
                quantity = "-2"  # ~1 % rejected
            price = f"{rng.randint(49, 2999)}.{rng.randint(0, 99):02d}"
            if path is None:
                continue
            writer.writerow(
                [
                    f"2026-03-{n % 28 + 1:02d}",
                    SKUS[sku_index],
                    quantity,
                    price,
                    currency,
                    f"Customer {n % 5000} Trading Co., Ltd.",
                    country,
                    postcode,
                    serial,
                    f"INV{tag}-{n:09d}",
                ]
            )
    return serials


def serial_lookup(serials: frozenset[str]) -> dict[str, str]:
    """Stands in for one DB query a batch: serials made by `generate` encode their SKU."""
    return {s: SKUS[int(s[1:3])] for s in serials if s.startswith("S") and s[1:3].isdigit() and int(s[1:3]) < len(SKUS)}


def context() -> ValidationContext:
    return ValidationContext(Period.parse("2026-03"), date(2026, 4, 2), dict.fromkeys(SKUS, True), serial_lookup)


def time_csv_read(path: Path) -> float:
    start = time.perf_counter()
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        for _ in csv.reader(fh):
            pass
    return time.perf_counter() - start


def time_validation(path: Path) -> tuple[float, Summary]:
    start = time.perf_counter()
    with path.open("rb") as fh:
        summary = validate_stream(fh, path.name, Kind.SELL_THROUGH, context()).drain()
    return time.perf_counter() - start, summary


def time_insert(path: Path) -> float:
    """Seconds a line: typed lines (made outside the clock) inserted raw, 1 000 a batch."""
    with path.open("rb") as fh:
        lines = [r.line for r in validate_stream(fh, path.name, Kind.SELL_THROUGH, context()) if r.line is not None]
    rows = [
        (
            1,
            x.sold_on.isoformat(),
            x.sku,
            x.quantity,
            x.unit_price_cents,
            x.currency,
            x.customer_name,
            x.country,
            x.postcode,
            x.serial,
            x.invoice_ref,
            n.to_bytes(16).hex(),
        )
        for n, x in enumerate(lines)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "bench.db")
        db.execute(
            "CREATE TABLE sell_through (partner_id INT, sold_on TEXT, sku TEXT, quantity INT, unit_price_cents INT, currency TEXT,"
            " customer_name TEXT, country TEXT, postcode TEXT, serial TEXT, invoice_ref TEXT, line_key TEXT, UNIQUE (partner_id, line_key))"
        )
        start = time.perf_counter()
        with db:
            for i in range(0, len(rows), 1000):
                db.executemany("INSERT INTO sell_through VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows[i : i + 1000])
        elapsed = time.perf_counter() - start
        db.close()
    return elapsed / len(rows)  # seconds a line


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM; ru_maxrss on Linux can carry the parent's peak over a fork+exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_memory(path: str) -> None:
    before = peak_rss_kib()
    start = time.perf_counter()
    with open(path, "rb") as fh:
        summary = validate_stream(fh, path, Kind.SELL_THROUGH, context()).drain()
    elapsed = time.perf_counter() - start
    after = peak_rss_kib()
    print(f"{before} {after} {summary.accepted} {summary.rejected} {elapsed:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--memory-lines", type=int, default=1_000_000)
    parser.add_argument("--child-memory", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory:
        child_memory(args.child_memory)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sell-through.csv"
        generate(path, args.lines)
        size = path.stat().st_size
        read = min(time_csv_read(path) for _ in range(3))
        validate_s, summary = min((time_validation(path) for _ in range(3)), key=lambda t: t[0])
        insert = min(time_insert(path) for _ in range(2)) * args.lines  # as if every line were inserted
        n = args.lines
        print(f"file: {n:,} lines, {size / 1e6:.1f} MB: {summary.accepted:,} accepted, {summary.rejected:,} rejected")
        print(f"  csv read only      {n / read:>12,.0f} lines/s")
        print(f"  validate_stream    {n / validate_s:>12,.0f} lines/s   ({validate_s / read:.1f}x the csv read time)")
        print(f"  raw batched insert {n / insert:>12,.0f} lines/s   (SQLite executemany, 1 000 a batch)")
        print(f"  validation / insert rate: {insert / validate_s * 100:.0f} % (target >= 20 %)")

        big = Path(tmp) / "big.csv"
        generate(big, args.memory_lines, seed=2)
        out = subprocess.run(
            [sys.executable, "-m", "bench.reports_validation", "--child-memory", str(big)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        ).stdout.split()
        before, after, accepted, rejected, seconds = int(out[0]), int(out[1]), int(out[2]), int(out[3]), float(out[4])
        print(
            f"file: {args.memory_lines:,} lines, {big.stat().st_size / 1e6:.0f} MB: "
            f"{accepted:,} accepted, {rejected:,} rejected in {seconds:.1f} s"
        )
        print(
            f"  peak RSS {after / 1024:.0f} MB (after imports {before / 1024:.0f} MB; "
            f"validation added {(after - before) / 1024:.0f} MB; target < 200 MB)"
        )


if __name__ == "__main__":
    main()
