"""Search quality on the golden set: recall@5 and MRR.

    .venv/bin/python -m bench.search_quality [--golden bench/search_golden.yaml] [--content portal/kb/content]
                                             [--audience guest|all] [--verbose]

Imports the shipped help articles (``portal/kb/content``) into a fresh SQLite database in a
temporary DATA_DIR, builds the search index, runs every golden query ({query, locale,
expect: slug}) through the search service and reports recall@5 (the expected article is
among the first five hits) and MRR (mean of 1/rank over the first ten hits; 0 when absent).
Targets: recall@5 >= 0.90, MRR >= 0.75. Exit status 0 unless something broke.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TARGET_RECALL, TARGET_MRR = 0.90, 0.75


def load_golden(path: Path) -> list[dict[str, str]]:
    items = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [{"query": str(i["query"]), "locale": str(i.get("locale", "en")), "expect": str(i["expect"])} for i in items]


def build(content: Path, work: Path) -> tuple[Any, Any, int]:
    from portal.db import Database, make_engine
    from portal.kb.index import SearchIndex, init_jieba
    from portal.kb.service import import_folder
    from portal.migrate import upgrade_portal

    url = f"sqlite:///{work / 'portal.db'}"
    engine = make_engine(url)
    upgrade_portal(engine)
    engine.dispose()
    db = Database(url)
    with db.unit_of_work() as session:
        report = import_folder(session, content)
    errors = [r for r in report.results if r.outcome == "error"]
    if errors:
        print(f"warning: {len(errors)} article file(s) not imported: {[(e.name, e.reason) for e in errors][:5]}", file=sys.stderr)
    init_jieba()
    index = SearchIndex(work / "search")
    with db.unit_of_work(write=False) as session:
        count = index.rebuild(session)
    return db, index, count


def evaluate(db: Any, index: Any, golden: list[dict[str, str]], audience: str, verbose: bool) -> dict[str, Any]:
    from portal.accounts.models import Role, User
    from portal.kb import search as kb_search

    actor = User(role=Role.STAFF, email="bench@example.com") if audience == "all" else None
    ranks: list[int | None] = []
    misses: list[dict[str, Any]] = []
    started = time.perf_counter()
    with db.unit_of_work(write=False) as session:
        for item in golden:
            results = kb_search.search_articles(session, index, actor, item["query"], item["locale"])
            slugs = [h.slug for h in results.hits]
            rank = slugs.index(item["expect"]) + 1 if item["expect"] in slugs else None
            ranks.append(rank)
            if rank is None or rank > 5 or verbose:
                misses.append({**item, "rank": rank, "top3": slugs[:3], "suggestion": results.suggestion})
    elapsed = time.perf_counter() - started
    n = len(golden)
    recall5 = sum(1 for r in ranks if r is not None and r <= 5) / n
    mrr = sum(1 / r for r in ranks if r is not None) / n
    return {"queries": n, "recall_at_5": round(recall5, 4), "mrr": round(mrr, 4), "mean_ms": round(1000 * elapsed / n, 2), "misses": misses}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--golden", type=Path, default=ROOT / "bench" / "search_golden.yaml")
    parser.add_argument("--content", type=Path, default=ROOT / "portal" / "kb" / "content")
    parser.add_argument("--audience", choices=("guest", "all"), default="guest")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    golden_path = args.golden
    golden = load_golden(golden_path)
    by_locale: dict[str, list[dict[str, str]]] = {}
    for item in golden:
        by_locale.setdefault(item["locale"], []).append(item)
    with tempfile.TemporaryDirectory(prefix="search-quality-") as tmp:
        db, index, count = build(args.content, Path(tmp))
        print(f"golden set: {golden_path.relative_to(ROOT)} ({len(golden)} queries); corpus: {count} published articles")
        summary = evaluate(db, index, golden, args.audience, args.verbose)
        per_locale = {loc: evaluate(db, index, items, args.audience, False) for loc, items in sorted(by_locale.items())}
        db.engine.dispose()
    for miss in summary["misses"]:
        print(
            f"  {'miss' if not miss['rank'] or miss['rank'] > 5 else 'hit '} [{miss['locale']}] {miss['query']!r}: "
            f"expected {miss['expect']} "
            f"at rank {miss['rank']}; top 3 {miss['top3']}{' (did you mean ' + miss['suggestion'] + ')' if miss['suggestion'] else ''}"
        )
    for loc, result in per_locale.items():
        print(f"  {loc}: {result['queries']} queries, recall@5 {result['recall_at_5']:.3f}, MRR {result['mrr']:.3f}")
    ok = summary["recall_at_5"] >= TARGET_RECALL and summary["mrr"] >= TARGET_MRR
    print(
        f"recall@5 {summary['recall_at_5']:.3f} (target {TARGET_RECALL}), MRR {summary['mrr']:.3f} (target {TARGET_MRR}), "
        f"{summary['mean_ms']} ms/query -> {'PASS' if ok else 'FAIL'}"
    )
    if args.json:
        payload = {"golden": str(golden_path), "articles": count, **summary, "per_locale": per_locale}
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
