"""Knowledge-base search on a generated corpus (10,000 articles by default).

    .venv/bin/python -m bench.search [--articles 10000] [--seconds 10] [--connections 8] [--json out.json]

In a temporary DATA_DIR (SQLite): migrate, generate the articles (70 % English, 30 % Chinese,
words drawn from the shipped help articles, public/customer/partner audiences, a few drafts)
with their kb_change lines, then:

1. `portal search reindex` (the CLI, with its progress bar): articles/s;
2. the search service in this process (guest): p50/p95 over exact, multi-word, Chinese,
   mixed and misspelt (fuzzy) queries, plus the as-you-type suggestions;
3. GET /kb/search.json under wrk (uvicorn, one worker, pinned to CPU 0; wrk on CPU 1), cycling
   through the same as-you-type queries, against a bare loop calling the same service function
   over the same index in this process (pinned to CPU 0), in the same run.

Targets (information, exit status 0 unless something broke): p95 < 50 ms, JSON >= 60 % of the
bare loop, indexing >= 150 articles/s.
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
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bench.load import PYTHON, ROOT, SERVER_CPU, BenchError, Server, parse_wrk, portal_env, run_wrk, say

TARGET_P95_MS, TARGET_RATIO, TARGET_RATE = 50.0, 0.60, 150.0
SEED = 5

EXACT = [
    "printer",
    "paper jam",
    "router reset",
    "firmware update",
    "warranty serial",
    "raid rebuild",
    "toner cartridge",
    "vlan trunk",
    "battery",
    "wifi channel",
    "nas backup",
    "bios flashback",
    "poe camera",
    "mesh pairing",
]
ZH = ["打印机卡纸", "路由器 恢复出厂设置", "固件升级", "保修 序列号", "更换硬盘", "信号弱", "两步验证", "墨粉盒"]
MIXED = ["BIOS 更新", "PoE 摄像头", "5G 路由器 APN", "NAS 备份", "VLAN 配置"]
TYPOS = ["printr", "tonner cartrige", "firmwre", "warrenty", "calibraton", "routr reset", "baterry", "raid rebuld"]
PREFIXES = ["pri", "print", "rou", "route", "firm", "warr", "toner c", "paper j", "打印", "路由", "vla", "nas b"]


def vocabulary() -> tuple[list[str], list[str]]:
    """English and Chinese words from the shipped help articles."""
    import jieba

    from portal.kb.index import init_jieba

    init_jieba()
    en: list[str] = []
    zh: list[str] = []
    for path in sorted((ROOT / "portal" / "kb" / "content").rglob("*.md")):
        text = path.read_text(encoding="utf-8").split("---", 2)[-1]
        if "/zh/" in str(path):
            # Chinese articles keep their English terms (BIOS, VLAN, PoE …), as the real ones do.
            zh += [w for w in jieba.lcut(text) if re.fullmatch(r"[\u4e00-\u9fff]{2,}|[A-Za-z][A-Za-z0-9-]{1,}", w)]
        else:
            en += [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z-]{2,}", text)]
    return en, zh


def generate(url: str, count: int) -> None:
    from sqlalchemy import insert

    from portal.db import make_engine, utcnow
    from portal.kb.models import Article, KbChange

    rng = random.Random(SEED)
    en, zh = vocabulary()
    categories = ["networking", "printing", "storage", "motherboards", "accounts", "repairs", "warranty"]
    skus = [f"NW-{p}-{n}" for p in ("R", "PR", "NAS", "AP", "SW", "MB") for n in range(100, 110)]
    audiences = ["public"] * 7 + ["customers", "partners"]
    now = utcnow()
    rows = []
    for n in range(count):
        chinese = n % 10 >= 7
        words = zh if chinese else en
        joiner = " " if not chinese else ""
        title = joiner.join(rng.choice(words) for _ in range(rng.randint(3, 7)))
        paragraphs = [joiner.join(rng.choice(words) for _ in range(rng.randint(40, 90))) for _ in range(rng.randint(3, 6))]
        rows.append(
            {
                "slug": f"gen-{n // 10}-{n % 10 if not chinese else n % 10 - 7}",
                "locale": "zh" if chinese else "en",
                "title": title[:190],
                "summary": joiner.join(rng.choice(words) for _ in range(12))[:290],
                "body_md": "# " + title + "\n\n" + "\n\n".join(paragraphs),
                "category": rng.choice(categories),
                "products": rng.sample(skus, rng.randint(0, 2)),
                "tags": [rng.choice(words) for _ in range(rng.randint(1, 4))],
                "audience": rng.choice(audiences),
                "status": "draft" if n % 50 == 0 else "published",
                "version": 1,
                "views": 0,
                "helpful_yes": 0,
                "helpful_no": 0,
                "published_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
    engine = make_engine(url)
    with engine.begin() as conn:
        for start in range(0, len(rows), 1000):
            conn.execute(insert(Article), rows[start : start + 1000])
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM kb_article ORDER BY id")]
        conn.execute(insert(KbChange), [{"article_id": i, "created_at": now} for i in ids])
    engine.dispose()


def reindex(env: dict[str, str]) -> tuple[float, str]:
    say("  portal search reindex …")
    started = time.perf_counter()
    done = subprocess.run([PYTHON, "-m", "portal", "search", "reindex"], cwd=ROOT, env=env, text=True, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"reindex failed:\n{done.stdout}\n{done.stderr}")
    match = re.search(r"Indexed (\d+) published article\(s\) in ([\d.]+) s \((\d+) articles/s\)", done.stdout)
    if not match:
        raise BenchError(f"cannot read the reindex output:\n{done.stdout}")
    progress_seen = "Indexing articles" in done.stdout
    say(f"  {match.group(0)} (progress bar shown: {progress_seen}; {elapsed:.1f} s with start-up)")
    return float(match.group(3)), match.group(0)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def service_latency(url: str, data_dir: Path, rounds: int) -> dict[str, Any]:
    from portal.db import Database
    from portal.kb import search as kb_search
    from portal.kb.index import SearchIndex, index_dir, init_jieba

    init_jieba()
    db = Database(url)
    index = SearchIndex(index_dir(data_dir).resolve())
    groups = {"exact": EXACT, "chinese": ZH, "mixed": MIXED, "fuzzy": TYPOS}
    timings: dict[str, list[float]] = {name: [] for name in [*groups, "suggest"]}
    with db.unit_of_work(write=False) as session:
        kb_search.search_articles(session, index, None, "warm up", "en")
        # What the portal's updater thread does after each index generation (index.Updater).
        searcher = index.searcher()
        index.spelling(searcher)
        index.facet_sets(searcher)
        index.postings(searcher).warm(searcher)
        for _ in range(rounds):
            for name, queries in groups.items():
                for q in queries:
                    t = time.perf_counter()
                    kb_search.search_articles(session, index, None, q, "zh" if name in ("chinese", "mixed") else "en")
                    timings[name].append((time.perf_counter() - t) * 1000)
            for q in PREFIXES:
                t = time.perf_counter()
                kb_search.suggestions(session, index, None, q, "en")
                timings["suggest"].append((time.perf_counter() - t) * 1000)
    db.engine.dispose()
    every = [v for name in groups for v in timings[name]]
    out: dict[str, Any] = {
        name: {"p50_ms": round(statistics.median(v), 2), "p95_ms": round(percentile(v, 95), 2), "n": len(v)} for name, v in timings.items()
    }
    out["all_searches"] = {"p50_ms": round(statistics.median(every), 2), "p95_ms": round(percentile(every, 95), 2), "n": len(every)}
    return out


def bare_loop(url: str, data_dir: Path, seconds: float) -> float:
    """Calls per second of the JSON endpoint's service function over the same index."""
    from portal.db import Database
    from portal.kb import search as kb_search
    from portal.kb.index import SearchIndex, index_dir

    with_cpu = hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2
    if with_cpu:
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {int(SERVER_CPU)})
    db = Database(url)
    index = SearchIndex(index_dir(data_dir).resolve())
    calls = 0
    try:
        with db.unit_of_work(write=False) as session:
            kb_search.suggestions(session, index, None, "warm", "en")
            deadline = time.perf_counter() + seconds
            started = time.perf_counter()
            while time.perf_counter() < deadline:
                kb_search.suggestions(session, index, None, PREFIXES[calls % len(PREFIXES)], "en", limit=6)
                calls += 1
            elapsed = time.perf_counter() - started
    finally:
        db.engine.dispose()
        if with_cpu:
            os.sched_setaffinity(0, before)
    return calls / elapsed


_LUA = """
local paths = {__PATHS__}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], {["Accept"] = "application/json"})
end
"""


def json_under_load(env: dict[str, str], work: Path, seconds: int, connections: int) -> dict[str, Any]:
    server = Server("portal-search", "portal.asgi:app", env, work)
    say(f"  starting the portal on {server.base} (CPU {SERVER_CPU}) …")
    server.start("/healthz")
    try:
        paths = [f"/kb/search.json?q={quote(q)}&locale=en&limit=6" for q in PREFIXES]
        sample = httpx.get(server.base + paths[0], timeout=30).json()
        if not sample["results"]:
            raise BenchError(f"/kb/search.json found nothing: {sample}")
        script = work / "search.lua"
        script.write_text(_LUA.replace("__PATHS__", ", ".join(json.dumps(p) for p in paths)))
        run_wrk(server.base + paths[0], seconds=2, connections=connections, threads=1, headers={}, script=script)  # warm-up
        out = run_wrk(server.base + paths[0], seconds=seconds, connections=connections, threads=1, headers={}, script=script)
        result = parse_wrk(out, "search.json", paths[0])
        if result.errors:
            raise BenchError(f"wrk errors: {result.errors}")
        return {"rps": result.rps, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms, "requests": result.requests}
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="search-bench-"))
    data_dir = work / "data"
    data_dir.mkdir()
    url = f"sqlite:///{data_dir / 'portal.db'}"
    env = portal_env(url, f"sqlite:///{data_dir / 'crm.db'}", data_dir)
    try:
        say("  migrating …")
        done = subprocess.run([PYTHON, "-m", "portal", "migrate"], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BenchError(done.stderr)
        say(f"  generating {args.articles} articles …")
        generate(url, args.articles)
        rate, line = reindex(env)
        say("  service latency …")
        latency = service_latency(url, data_dir, args.rounds)
        say("  /kb/search.json under wrk …")
        served = json_under_load(env, work, args.seconds, args.connections)
        say("  bare loop over the same searcher …")
        bare = bare_loop(url, data_dir, args.seconds)
    except BenchError as exc:
        say(f"bench failed: {exc}")
        return 1
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    ratio = served["rps"] / bare if bare else 0.0
    report = {
        "articles": args.articles,
        "index_rate": rate,
        "reindex": line,
        "latency": latency,
        "json": served,
        "bare_rps": round(bare, 1),
        "ratio": round(ratio, 3),
    }
    print(f"indexing: {rate:.0f} articles/s (target >= {TARGET_RATE:.0f}) -> {'PASS' if rate >= TARGET_RATE else 'FAIL'}")
    for name, row in latency.items():
        print(f"service {name:<13} p50 {row['p50_ms']:7.2f} ms  p95 {row['p95_ms']:7.2f} ms  (n={row['n']})")
    p95 = latency["all_searches"]["p95_ms"]
    print(
        f"service p95 over all searches (fuzzy included): {p95:.1f} ms (target < {TARGET_P95_MS:.0f}) -> "
        + ("PASS" if p95 < TARGET_P95_MS else "FAIL")
    )
    print(
        f"/kb/search.json: {served['rps']:.0f} req/s (p50 {served['p50_ms']:.1f} ms, p99 {served['p99_ms']:.1f} ms); "
        f"bare loop: {bare:.0f} calls/s; ratio {ratio:.2f} (target >= {TARGET_RATIO}) -> {'PASS' if ratio >= TARGET_RATIO else 'FAIL'}"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
