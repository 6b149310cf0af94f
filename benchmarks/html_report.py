"""Benchmark: the self-contained HTML report for 1,000 and 10,000 KRs.

Builds a Dashboard directly from synthetic KR lines (every status, a 30-day trend per KR, a stale KR in
every ten with its error and query, objectives three levels deep), then times `write_html` (render the
page and write it atomically) several times per size and prints the medians, the page size and the
process's peak memory. The target is at most 1 s for 10,000 KRs. The CPU time is printed too: on a
busy machine it is the steadier figure.

    python benchmarks/html_report.py [--krs 1000 10000] [--runs 5] [--days 30]
"""
from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.html_report import write_html  # noqa: E402
from mapping.dashboard import Dashboard, KRLine, ObjectiveLine, StatusCount  # noqa: E402
from mapping.labels import (LEVEL_LABELS, STATUS_FILLS, STATUS_INKS, STATUS_LABELS, STATUS_ORDER,  # noqa: E402
                            TYPE_LABELS)
from mapping.period import Period  # noqa: E402

NOW = datetime(2026, 11, 28, 9, 0)
TYPES = ("increase", "decrease", "at_most", "at_least", "milestone")
PER_OBJECTIVE = 5


def make_dashboard(krs: int, days: int) -> Dashboard:
    """A dashboard of `krs` KR lines, `days` recorded days each, objectives company -> department -> team."""
    rng = random.Random(1)
    axis = tuple(NOW.date() - timedelta(days=days - 1 - i) for i in range(days))
    lines: list[KRLine] = []
    objectives: list[ObjectiveLine] = []
    for o in range(max(1, krs // PER_OBJECTIVE)):
        depth = 0 if o % 10 == 0 else (1 if o % 5 == 0 else 2)
        level = ("company", "department", "team")[depth]
        status = STATUS_ORDER[o % len(STATUS_ORDER)]
        objectives.append(ObjectiveLine(f"o{o}", f"Objective {o}: grow the <b>business</b> & keep quality", level,
                                        LEVEL_LABELS[level], f"Owner {o % 37}", depth, rng.random(), rng.random(),
                                        status, STATUS_LABELS[status], PER_OBJECTIVE - o % 2, PER_OBJECTIVE))
        for k in range(PER_OBJECTIVE):
            n = o * PER_OBJECTIVE + k
            if n >= krs:
                break
            status = STATUS_ORDER[n % len(STATUS_ORDER)]
            kr_type = TYPES[n % len(TYPES)]
            value = rng.uniform(0, 100)
            trend = tuple((day, value + rng.uniform(-5, 5)) for day in axis)
            stale = n % 10 == 0
            lines.append(KRLine(
                f"o{o}", f"Objective {o}", f"kr{n}", f"Key result {n}: reach the target by the end of the quarter",
                f"Owner {n % 53}", kr_type, TYPE_LABELS[kr_type], n % 3 != 0, "%", 10.0, 90.0, value,
                value / 100, round(value / 100, 2), 0.63, status, STATUS_LABELS[status], rng.uniform(-3, 3),
                axis[-2] if days > 1 else None, trend, "mes",
                "SELECT 100.0 * SUM(defects) / SUM(produced) FROM production WHERE day BETWEEN :start AND :end",
                NOW - timedelta(hours=1), NOW if stale else None,
                "source 'mes' (sql): connection refused; check the server" if stale else ""))
    counts = tuple(StatusCount(key, STATUS_LABELS[key], sum(1 for kr in lines if kr.status == key),
                               STATUS_FILLS[key], STATUS_INKS[key]) for key in STATUS_ORDER)
    period = Period("2026-Q4", date(2026, 10, 1), date(2026, 12, 31))
    return Dashboard("OKR dashboard · benchmark · 2026-Q4", "benchmark", period, NOW, "Europe/Berlin", 0.63,
                     0.55, "at_risk", counts, tuple(objectives), tuple(lines), axis)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--krs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--days", type=int, default=30,
                        help="recorded days per KR trend (a sync shows 12 recorded days + today by default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for krs in args.krs:
            dashboard = make_dashboard(krs, args.days)
            path = Path(tmp) / f"report-{krs}.html"
            times, cpu = [], []
            for _ in range(args.runs):
                start, start_cpu = time.perf_counter(), time.process_time()
                write_html(dashboard, path)
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
            size = path.stat().st_size / 1024 / 1024
            print(f"{krs:>6} KRs ({args.days} trend days each): median {statistics.median(times):.3f} s   "
                  f"(runs: {', '.join(f'{t:.3f}' for t in times)})   CPU median {statistics.median(cpu):.3f} s   "
                  f"page {size:.1f} MiB")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS of this process, including imports and the synthetic dashboards): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
