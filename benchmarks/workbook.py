"""Benchmark: the .xlsx summary (Dashboard + Summary, Objectives, History) for 1,000 and 10,000 KRs.

The tables and the dashboard are built from synthetic results shaped like a real sync (five KRs per
objective, a three-level alignment tree, full-precision floats, 12 days of History, some stale KRs),
so only the workbook writer is timed: `write_xlsx` from tables to the renamed file on disk.

    python benchmarks/workbook.py [--krs 1000 10000] [--runs 5]

Prints the median (and every run) in seconds per size, the file size, the peak memory the writer
allocated (tracemalloc, a separate untimed run) and the process's max RSS.
"""
from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.xlsx import write_xlsx  # noqa: E402
from mapping.dashboard import Dashboard, KRLine, ObjectiveLine, StatusCount  # noqa: E402
from mapping.labels import (LEVEL_LABELS, STATUS_FILLS, STATUS_INKS, STATUS_LABELS, STATUS_ORDER,  # noqa: E402
                            TYPE_LABELS)
from mapping.period import Period  # noqa: E402
from mapping.report import HISTORY_COLUMNS, OBJECTIVE_COLUMNS, SUMMARY_COLUMNS, Column, Table, text_sparkline  # noqa: E402

NOW = datetime(2026, 11, 28, 9)
DAYS = [date(2026, 11, 17) + timedelta(days=i) for i in range(12)]
STATUSES = ["done", "on_track", "at_risk", "off_track"]


def synthetic(krs: int, seed: int = 1) -> tuple[list[Table], Dashboard]:
    """Report tables and a dashboard for `krs` key results (five per objective)."""
    rng = random.Random(seed)
    summary, objectives_t, history = Table("Summary", SUMMARY_COLUMNS), Table("Objectives", OBJECTIVE_COLUMNS), \
        Table("History", HISTORY_COLUMNS + [Column(day.isoformat(), "series", 11) for day in DAYS])
    objective_lines, kr_lines = [], []
    for o in range(max(1, krs // 5)):
        depth = 0 if o == 0 else (1 if o % 10 == 1 else 2)
        level = ["company", "department", "team"][depth]
        title = f"Objective {o}: raise quality & cut waste on line {o % 20}"
        score = round(rng.random(), 4)
        status = rng.choice(STATUSES)
        objective_lines.append(ObjectiveLine(f"obj-{o}", title, level, LEVEL_LABELS[level], f"Owner {o % 37}", depth,
                                             score, score, status, STATUS_LABELS[status], 5, 5))
        objectives_t.rows.append([f"obj-{o}", "    " * depth + title, level, f"Owner {o % 37}", None, None, "5/5",
                                  score, score, status, STATUS_LABELS[status]])
        for k in range(5):
            n = o * 5 + k
            if n >= krs:
                break
            values = [1.5 - 0.05 * i + rng.random() * 0.2 for i in range(len(DAYS))]
            current, progress = values[-1], rng.random()
            stale = n % 50 == 0
            status = "stale" if stale else rng.choice(STATUSES)
            kr_title = f"Defect rate of line {n} at or below 0.5% <weekly> \"A&B\""
            summary.rows.append([title, f"kr{n}", kr_title, f"Owner {n % 37}", "at_most", TYPE_LABELS["at_most"], True,
                                 "%", 1.2, 0.5, current, progress, round(progress, 2), 0.63, status if not stale else "at_risk",
                                 STATUS_LABELS[status], values[-1] - values[-2], NOW, "mes",
                                 NOW if stale else None, "mes: database unreachable; check MES_DATABASE_URL" if stale else None])
            history.rows.append([f"kr{n}", kr_title, "%", text_sparkline(values), current, *values])
            kr_lines.append(KRLine(f"obj-{o}", title, f"kr{n}", kr_title, f"Owner {n % 37}", "at_most", "Stay at most",
                                   True, "%", 1.2, 0.5, current, progress, round(progress, 2), 0.63, status,
                                   STATUS_LABELS[status], values[-1] - values[-2], DAYS[-2],
                                   tuple(zip(DAYS, values)), "mes", "SELECT ...", NOW, NOW if stale else None,
                                   "database unreachable" if stale else ""))
    counts = tuple(StatusCount(key, STATUS_LABELS[key], sum(1 for kr in kr_lines if kr.status == key),
                               STATUS_FILLS[key], STATUS_INKS[key]) for key in STATUS_ORDER)
    dashboard = Dashboard("OKR dashboard · Acme · 2026-Q4", "acme", Period("2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
                          NOW, "Europe/Berlin", 0.63, 0.52, "at_risk", counts, tuple(objective_lines), tuple(kr_lines),
                          tuple(DAYS))
    return [summary, objectives_t, history], dashboard


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--krs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for krs in args.krs:
            tables, dashboard = synthetic(krs)
            cells = sum(len(t.rows) * len(t.columns) for t in tables) + len(dashboard.krs) * 12
            path = Path(folder) / f"okr-{krs}.xlsx"
            times, cpu = [], []
            for _ in range(args.runs):
                start, start_cpu = time.perf_counter(), time.process_time()
                write_xlsx(tables, path, dashboard)
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
            tracemalloc.start()
            write_xlsx(tables, path, dashboard)
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            print(f"{krs:>6} KRs ({cells:,} cells, {path.stat().st_size / 2**20:.1f} MiB file): "
                  f"median {statistics.median(times):.3f} s, CPU {statistics.median(cpu):.3f} s "
                  f"(runs: {', '.join(f'{t:.3f}' for t in times)}); "
                  f"peak allocated by the writer {peak:.0f} MiB")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS of this process, including imports and the synthetic tables): {rss:.0f} MiB")


if __name__ == "__main__":
    main()
