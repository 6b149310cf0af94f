"""Benchmark: a local sync of 1,000 KRs over 20 distinct SQL queries and 5 files.

Prints the engine time of each stage (load -> fetch -> score -> history -> xlsx), excluding any Prefect
server start-up (the pipeline runs directly, as `okr-sync run` does without PREFECT_API_URL), the number
of distinct queries and source batches, and the process's peak memory.

    python benchmarks/core_sync.py [--krs 1000] [--runs 3] [--distinct-sql]

--distinct-sql gives every SQL KR its own query text (500 distinct queries for 1,000 KRs), the worst
case for the per-dialect SQL check at load time, which is cached per text. Runs after the first in
one process reuse that cache; a scheduled sync is a fresh process, so compare first runs
(`--runs 1`, repeated as whole processes) for load time.
"""
from __future__ import annotations

import argparse
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import yaml
from openpyxl import Workbook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows import pipeline  # noqa: E402
from mapping.loader import load_config  # noqa: E402

LINES = [f"L{i:02d}" for i in range(20)]
FILES = 5
NOW = datetime(2026, 11, 28, 9, tzinfo=timezone.utc)


def make_data(folder: Path) -> None:
    rng = random.Random(1)
    db = sqlite3.connect(folder / "mes.db")
    db.execute("CREATE TABLE production (day TEXT, line TEXT, produced INTEGER, defects INTEGER)")
    rows, day = [], date(2026, 10, 1)
    while day <= date(2026, 11, 27):
        for line in LINES:
            for _shift in range(3):
                produced = rng.randint(1500, 2500)
                rows.append((day.isoformat(), line, produced, rng.randint(5, 30)))
        day += timedelta(days=1)
    db.executemany("INSERT INTO production VALUES (?, ?, ?, ?)", rows)
    db.execute("CREATE INDEX production_line_day ON production (line, day)")
    db.commit()
    db.close()
    for f in range(FILES):
        book = Workbook()
        sheet = book.active
        sheet.title = "Data"
        sheet.append(["month", "team", "value"])
        for month in (date(2026, 10, 1), date(2026, 11, 1)):
            for team in range(40):
                sheet.append([month, f"T{team:02d}", rng.randint(10, 90)])
        book.save(folder / f"file{f}.xlsx")


def make_config(folder: Path, krs: int, distinct_sql: bool = False) -> Path:
    sql_queries = [f"SELECT 100.0 * SUM(defects) / SUM(produced) FROM production WHERE line = '{line}' AND day BETWEEN :start AND :end"
                   for line in LINES]
    sources = {"mes": {"kind": "sql", "url": "sqlite:///mes.db"}}
    sources.update({f"file{f}": {"kind": "file", "path": f"file{f}.xlsx"} for f in range(FILES)})
    objectives = []
    per_objective = 5
    for o in range(krs // per_objective):
        key_results = []
        for k in range(per_objective):
            n = o * per_objective + k
            if n % 2 == 0:
                metric = {"source": "mes", "sql": sql_queries[n % len(sql_queries)] + (f" AND {n} = {n}" if distinct_sql else "")}
                key_results.append({"id": f"kr{n}", "title": f"Defect rate {n}", "type": "at_most", "baseline": 1.5,
                                    "target": 0.5, "metric": metric})
            else:
                metric = {"source": f"file{n % FILES}", "sheet": "Data", "column": "value", "agg": "last",
                          "where": {"team": f"T{n % 40:02d}"}, "date_column": "month"}
                key_results.append({"id": f"kr{n}", "title": f"Team score {n}", "type": "increase", "baseline": 10,
                                    "target": 90, "metric": metric})
        objectives.append({"id": f"o{o}", "title": f"Objective {o}", "key_results": key_results,
                           **({"aligns_to": f"kr{(o // 10) * per_objective}"} if o % 10 else {})})
    config = {"period": "2026-Q4", "history": "sqlite:///history.db", "sources": sources, "objectives": objectives,
              "outputs": [{"kind": "xlsx", "path": "out/summary.xlsx"}]}
    path = folder / "okrs.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def timed(stages: dict, name: str):
    def wrap(fn):
        def inner(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                stages[name] = stages.get(name, 0.0) + time.perf_counter() - start
        return inner
    return wrap


def one_run(path: Path) -> dict[str, float]:
    stages: dict[str, float] = {}
    start = time.perf_counter()
    config = timed(stages, "load")(load_config)(path)
    original = (pipeline.fetch_all_local, pipeline.score_all, pipeline.HistoryStore.record, pipeline.publish)
    pipeline.score_all = timed(stages, "score")(original[1])
    pipeline.HistoryStore.record = timed(stages, "history")(original[2])
    pipeline.publish = timed(stages, "xlsx")(original[3])
    try:
        outcome = pipeline.run_sync(config, NOW, fetch_all=timed(stages, "fetch")(original[0]))
    finally:
        pipeline.fetch_all_local, pipeline.score_all, pipeline.HistoryStore.record, pipeline.publish = original
    stages["total"] = time.perf_counter() - start
    assert outcome.ok, outcome.failure_message()
    stages["queries"] = outcome.plan.query_count
    stages["batches"] = len(outcome.plan.by_source)
    stages["krs"] = len(outcome.results)
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--krs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--distinct-sql", action="store_true", help="every SQL KR gets its own query text")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_data(folder)
        path = make_config(folder, args.krs, args.distinct_sql)
        runs = [one_run(path) for _ in range(args.runs)]
    first = runs[0]
    print(f"KRs: {first['krs']:.0f}  distinct queries: {first['queries']:.0f}  source batches (fetch tasks): {first['batches']:.0f}")
    for stage in ("load", "fetch", "score", "history", "xlsx", "total"):
        values = [r.get(stage, 0.0) for r in runs]
        print(f"{stage:>8}: median {statistics.median(values):.3f} s   (runs: {', '.join(f'{v:.3f}' for v in values)})")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS of this process, including imports): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
