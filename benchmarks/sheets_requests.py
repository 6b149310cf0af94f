"""Benchmark: Google Sheets requests per sync, and the cost of building and serialising the report.

1. Requests per sync for N KRs (default 1,000) read from 2 source spreadsheets (cells and a table)
   and published to 1 summary spreadsheet, counted on the stateful Sheets fake used by the tests
   (the real code path: auth, batchGet, metadata, formatting, values write; the Dashboard tab included) —
   first sync, a steady second sync on the next day, and a third with one KR fewer (a layout change) —
   versus a naive writer that reads each KR's cell with its own `values.get` and writes the summary
   cell by cell (one `values.update` per non-empty cell). Also the minutes each needs at Google's
   60-requests-per-minute-per-user quota.
2. Time to build the report tables (Summary, Objectives, History with 12 days) and the dashboard for
   M KRs (default 10,000) and to serialise them into the Sheets request bodies (and an .xlsx for
   comparison), and the size of the values:batchUpdate body.

    python benchmarks/sheets_requests.py [--krs 1000] [--report-krs 10000]
"""
from __future__ import annotations

import argparse
import io
import json
import math
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import responses

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from connectors.sheets_sink import SheetsSink  # noqa: E402
from connectors.xlsx import build_workbook  # noqa: E402
from fakes.sheets_fake import SheetsFake, service_account_info  # noqa: E402
from flows.pipeline import run_sync  # noqa: E402
from mapping.config import Config  # noqa: E402
from mapping.dashboard import build_dashboard  # noqa: E402
from mapping.loader import load_config  # noqa: E402
from mapping.report import build_report  # noqa: E402
from mapping.results import KRResult  # noqa: E402
from mapping.rollup import rollup  # noqa: E402
from mapping.sources.sheets import SheetsOutput  # noqa: E402

KEY_A = "1Finance0000000000000000000000000000000000AA"
KEY_B = "1Survey00000000000000000000000000000000000BB"
KEY_OUT = "1Summary000000000000000000000000000000000CC"
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)


def write_config(folder: Path, krs: int) -> Path:
    half = krs // 2
    lines = ["period: 2026-Q4", "history: sqlite:///history.db", "sources:",
             f"  fin: {{kind: sheets, spreadsheet: {KEY_A}, credentials_env: SA_KEY}}",
             f"  kpis: {{kind: sheets, spreadsheet: {KEY_B}, credentials_env: SA_KEY}}", "objectives:"]
    for o in range(0, krs, 20):
        lines += [f"  - id: o{o}", f"    title: Objective {o}", "    key_results:"]
        for i in range(o, min(o + 20, krs)):
            if i < half:
                metric = f"{{source: fin, worksheet: Finance, column: revenue, where: {{team: t{i}}}}}"
            else:
                metric = f"{{source: kpis, cell: \"'KPIs'!B{i - half + 1}\"}}"
            lines += [f"      - {{id: k{i}, title: KR {i}, baseline: 0, target: 1000, metric: {metric}}}"]
    lines += ["outputs:", f"  - {{kind: sheets, spreadsheet: {KEY_OUT}, credentials_env: SA_KEY}}"]
    path = folder / "okrs.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def requests_per_sync(krs: int) -> None:
    half = krs // 2
    env = {"SA_KEY": json.dumps(service_account_info())}
    with tempfile.TemporaryDirectory() as tmp, responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = SheetsFake(mock)
        fake.add_spreadsheet(KEY_A, "Finance", {"Finance": [["team", "revenue"]] + [[f"t{i}", i] for i in range(half)]}, rows=half + 10)
        fake.add_spreadsheet(KEY_B, "Survey", {"KPIs": [[f"kpi {i}", i + 0.5] for i in range(krs - half)]}, rows=krs)
        fake.add_spreadsheet(KEY_OUT, "OKR summary")
        counts = []
        for day, n in ((NOW - timedelta(days=1), krs), (NOW, krs), (NOW, krs - 1)):
            config = load_config(write_config(Path(tmp), n), env=env)
            before = len(fake.log)
            started = time.perf_counter()
            outcome = run_sync(config, day, env=env)
            elapsed = time.perf_counter() - started
            kinds = [kind for kind, _, _ in fake.log[before:]]
            counts.append((len(kinds), {k: kinds.count(k) for k in sorted(set(kinds))}, elapsed))
        cells = sum(1 for table in outcome.tables for row in [table.header] + table.rows for value in row if value not in (None, ""))
    naive_reads = krs  # one values.get per KR's cell/range
    naive_writes = cells  # one values.update per non-empty summary cell
    naive = naive_reads + naive_writes
    print(f"== requests per sync, {krs:,} KRs, 2 source spreadsheets -> 1 summary spreadsheet")
    for label, (total, by_kind, elapsed) in zip(("first sync ", "next day (steady)", "one KR fewer (layout change)"), counts):
        print(f"okr-sync {label}: {total} requests {by_kind}  ({elapsed:.2f} s on the fake, sources + history + report + writes)")
    print(f"naive per-cell writer: {naive:,} requests ({naive_reads:,} reads + {naive_writes:,} cell writes)")
    quota_minutes = max(math.ceil(naive_reads / 60), math.ceil(naive_writes / 60))
    print(f"at 60 reads + 60 writes per minute: okr-sync fits in one minute; naive needs >= {quota_minutes:,} minutes "
          f"({quota_minutes / 60:.1f} h) — ratio {naive / counts[0][0]:,.0f}x more requests")


def big_report(krs: int) -> tuple[Config, dict[str, KRResult], dict]:
    objectives = []
    for o in range(0, krs, 5):
        objectives.append({"id": f"o{o}", "title": f"Objective {o} =not a formula", "level": "team",
                           "key_results": [{"id": f"k{i}", "title": f"KR {i}", "baseline": 0, "target": 100, "unit": "%"}
                                           for i in range(o, min(o + 5, krs))]})
    config = Config.model_validate({"period": "2026-Q4", "objectives": objectives})
    results = {}
    for objective in config.objectives:
        for kr in objective.key_results:
            value = float(int(kr.id[1:]) % 100)
            results[kr.id] = KRResult(objective.id, kr.id, value, value / 100, round(value / 100, 2), 0.5,
                                      "on_track" if value >= 45 else "at_risk", NOW, "bench", "q", "auto")
    series = {kr_id: [(date(2026, 11, 1) + timedelta(days=d), float(d)) for d in range(11)] for kr_id in results}
    return config, results, series


def report_timing(krs: int, runs: int = 3) -> None:
    config, results, series = big_report(krs)
    sink = SheetsSink(SheetsOutput(kind="sheets", spreadsheet=KEY_OUT), context=None)  # type: ignore[arg-type]
    build, serial, xlsx, size = [], [], [], 0
    for _ in range(runs):
        started = time.perf_counter()
        objectives = rollup(config, results)
        tables = build_report(config, results, objectives, series, NOW.date(), 12)
        dashboard = build_dashboard(config, results, objectives, series, NOW, NOW.date())
        build.append(time.perf_counter() - started)
        started = time.perf_counter()
        formatting, grids = sink.plan(tables, {"sheets": []}, dashboard)
        body = json.dumps({"valueInputOption": "RAW", "data": sink.value_ranges(tables, grids, dashboard)})
        fmt = json.dumps({"requests": formatting})
        serial.append(time.perf_counter() - started)
        size = len(body.encode())
        started = time.perf_counter()
        build_workbook(tables, io.BytesIO(), dashboard)
        xlsx.append(time.perf_counter() - started)
    cells = sum(len(table.columns) * (len(table.rows) + 1) for table in tables)
    print(f"== report for {krs:,} KRs ({', '.join(f'{t.name} {len(t.rows):,} rows' for t in tables)}; {cells:,} cells)")
    print(f"build tables and dashboard (rollup + Summary/Objectives/History + Dashboard): median {statistics.median(build) * 1000:.0f} ms")
    print(f"serialise for Sheets (plan + values body as JSON): median {statistics.median(serial) * 1000:.0f} ms; "
          f"values:batchUpdate body {size / 1e6:.1f} MB, first-sync formatting body {len(fmt.encode()) / 1e6:.1f} MB")
    print(f"serialise the same tables as .xlsx (for comparison): median {statistics.median(xlsx) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--krs", type=int, default=1000)
    parser.add_argument("--report-krs", type=int, default=10000)
    args = parser.parse_args()
    requests_per_sync(args.krs)
    report_timing(args.report_krs)


if __name__ == "__main__":
    main()
