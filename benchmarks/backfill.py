"""Benchmark: backfill a whole quarter (92 days) of 100 KRs over a SQLite MES.

Half the KRs read `series: true` queries (a date column per row: asked once for the whole backfill),
half read plain aggregates (asked once per day; one connection for all days). Prints the wall time,
the SQL statements sent to the MES database, the statements a naive backfill (every distinct query
every day) would send, and the peak memory.

    python benchmarks/backfill.py [--krs 100] [--runs 3]
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
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.backfill import run_backfill  # noqa: E402
from mapping.loader import load_config  # noqa: E402

LINES = [f"L{i}" for i in range(10)]
START, END = date(2026, 7, 1), date(2026, 9, 30)  # 2026-Q3: 92 days, all in the past


def make_data(folder: Path) -> None:
    rng = random.Random(7)
    db = sqlite3.connect(folder / "mes.db")
    db.execute("CREATE TABLE production (day TEXT, line TEXT, produced INTEGER, defects INTEGER)")
    rows, day = [], START
    while day <= END:
        rows.extend((day.isoformat(), line, rng.randint(800, 1200), rng.randint(0, 20)) for line in LINES)
        day += timedelta(days=1)
    db.executemany("INSERT INTO production VALUES (?, ?, ?, ?)", rows)
    db.execute("CREATE INDEX production_line_day ON production (line, day)")
    db.commit()
    db.close()


def make_config(folder: Path, krs: int) -> Path:
    key_results = []
    for n in range(krs):
        line = LINES[n % len(LINES)]
        if n % 2 == 0:
            metric = {"source": "mes", "series": True,
                      "sql": f"SELECT day, 100.0 * SUM(defects) / SUM(produced) FROM production WHERE line = '{line}' "
                             "AND day BETWEEN :start AND :end GROUP BY day ORDER BY day"}
            key_results.append({"id": f"rate{n}", "title": f"Defect rate {n}", "type": "at_most", "target": 1.5, "metric": metric})
        else:
            metric = {"source": "mes", "sql": f"SELECT SUM(produced) FROM production WHERE line = '{line}' AND day BETWEEN :start AND :end"}
            key_results.append({"id": f"units{n}", "title": f"Units {n}", "baseline": 0, "target": 100000, "metric": metric})
    config = {"period": "2026-Q3", "workspace": "bench", "history": "sqlite:///history.db",
              "sources": {"mes": {"kind": "sql", "url": "sqlite:///mes.db"}},
              "objectives": [{"id": "o", "title": "Quality", "key_results": key_results}]}
    path = folder / "okrs.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--krs", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sent: list[str] = []

    def count(conn, cursor, statement, *rest) -> None:  # type: ignore[no-untyped-def]
        if str(conn.engine.url).startswith("sqlite://") and conn.engine.url.database in (None, ""):
            sent.append(statement)  # the read-only MES engine (opened through a creator, so its URL has no path)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
    times, statements = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            make_data(folder)
            config = load_config(make_config(folder, args.krs))
            distinct = len({kr.metric.query for _, kr in config.key_results()})
            sent.clear()
            started = time.perf_counter()
            outcome = run_backfill(config, START, END)
            times.append(time.perf_counter() - started)
            statements.append(len([s for s in sent if "production" in s]))
            assert outcome.ok and len(outcome.evaluated) == 92, outcome.errors
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"backfill of 92 days x {args.krs} KRs ({distinct} distinct queries, half of them series) over SQLite")
    print(f"  wall time: median {statistics.median(times):.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"  SQL statements sent to the MES: {statements[0]} (naive: 92 x {distinct} = {92 * distinct})")
    print(f"  peak memory (max RSS, including imports): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
