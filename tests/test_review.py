"""The period review: refused politely before the period's end (+ offset), then final scores and flags, computed by hand.

2026-Q4 ends 2026-12-31. KRs of 0 -> 100 read their last value of the period from a CSV:
- ship/reliability (committed, weight 2): 90 -> score 0.90 < 1.0: "missed (committed)";
- ship/adoption (aspirational): 65 -> 0.65: "success" (0.6-0.7 is the expected landing);
- ship/revenue (aspirational): 50 -> 0.50 < 0.6: "below 0.6";
- ship objective: (2 * 0.90 + 0.65 + 0.50) / 4 = 0.7375, 1 of 3 KRs met;
- care/nps (aspirational): 100 -> 1.0: success, with a hint that it may not have been ambitious;
  a row dated 2027-01-02 (after the period) is not counted.
"""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from flows.review import run_review
from mapping.loader import load_config
from mapping.review import LESSONS, verdict

AFTER = datetime(2027, 1, 5, 7, 0, tzinfo=timezone.utc)


CONFIG = """\
period: 2026-Q4
history: sqlite:///history.db
sources:
  kpis: {kind: file, path: kpis.csv}
objectives:
  - id: ship
    title: Ship the platform
    owner: Ana
    key_results:
      - {id: reliability, title: Uptime work done, baseline: 0, target: 100, committed: true, weight: 2,
         metric: {source: kpis, column: value, agg: last, where: {kr: reliability}, date_column: day}}
      - {id: adoption, title: Teams onboarded, baseline: 0, target: 100, unit: "%",
         metric: {source: kpis, column: value, agg: last, where: {kr: adoption}, date_column: day}}
      - {id: revenue, title: Platform revenue, baseline: 0, target: 100, owner: Bo,
         metric: {source: kpis, column: value, agg: last, where: {kr: revenue}, date_column: day}}
  - id: care
    title: Delight customers
    key_results:
      - {id: nps, title: NPS, baseline: 0, target: 100,
         metric: {source: kpis, column: value, agg: last, where: {kr: nps}, date_column: day}}
outputs:
  - {kind: xlsx, path: out/summary.xlsx}
"""
ROWS = [("2026-12-20", "reliability", 90), ("2026-12-30", "adoption", 65), ("2026-12-31", "revenue", 50),
        ("2026-12-15", "nps", 100), ("2027-01-02", "reliability", 100)]


@pytest.fixture
def okrs(tmp_path) -> Path:
    (tmp_path / "okrs.yaml").write_text(CONFIG)
    (tmp_path / "kpis.csv").write_text("day,kr,value\n" + "".join(f"{d},{k},{v}\n" for d, k, v in ROWS))
    return tmp_path / "okrs.yaml"


def sheet(path: Path, title: str) -> list[list]:
    return [list(r) for r in load_workbook(path)[title].iter_rows(values_only=True)]


def test_a_review_before_the_period_end_plus_offset_writes_nothing(okrs):
    early = run_review(load_config(okrs), datetime(2026, 12, 31, 23, 0, tzinfo=timezone.utc))
    assert not early.ready and early.message == "period 2026-Q4 ends on 2026-12-31, review from 2027-01-01; nothing was written"
    late_source = run_review(load_config(okrs), datetime(2027, 1, 3, 9, 0, tzinfo=timezone.utc), offset_days=3)
    assert not late_source.ready and "review from 2027-01-04" in late_source.message
    assert not (okrs.parent / "out").exists() and not (okrs.parent / "history.db").exists()  # nothing fetched or recorded


def test_the_review_scores_flags_and_writes_the_review_sheet_once(okrs):
    outcome = run_review(load_config(okrs), AFTER, offset_days=3)
    assert outcome.ready and outcome.sync is not None and outcome.sync.ok
    review = outcome.review
    krs = {kr.kr_id: kr for kr in review.krs}
    assert (krs["reliability"].score, krs["reliability"].verdict, krs["reliability"].flagged) == (0.9, "missed (committed)", True)
    assert (krs["adoption"].score, krs["adoption"].verdict, krs["adoption"].flagged) == (0.65, "success", False)
    assert (krs["revenue"].score, krs["revenue"].verdict, krs["revenue"].flagged) == (0.5, "below 0.6", True)
    assert (krs["nps"].score, krs["nps"].verdict) == (1.0, "success") and "ambitious" in krs["nps"].note
    objectives = {o.objective_id: o for o in review.objectives}
    assert objectives["ship"].score == 0.7375 and objectives["ship"].verdict == "1 of 3 KRs met"
    assert objectives["care"].score == 1.0 and review.successes == 2
    assert outcome.message == ("review 2026-Q4: 2 of 4 KRs met; flagged: reliability (missed (committed)), revenue (below 0.6); "
                               f"written to {okrs.parent / 'out' / 'summary-checkins.xlsx'}")

    book = okrs.parent / "out" / "summary-checkins.xlsx"
    rows = sheet(book, "Review 2026-Q4")
    header = rows[0]
    assert header[-1] == LESSONS
    by = {(r[0], r[1]): dict(zip(header, r)) for r in rows[1:]}
    assert list(by) == [("ship", None), ("ship", "reliability"), ("ship", "adoption"), ("ship", "revenue"), ("care", None), ("care", "nps")]
    assert by[("ship", None)]["Score"] == 0.7375 and by[("ship", None)]["Kind"] == "objective" and by[("ship", None)][LESSONS] is None
    assert by[("ship", "reliability")]["Final value"] == 90 and by[("ship", "reliability")]["Flagged"] is True
    assert by[("ship", "adoption")]["Kind"] == "aspirational" and by[("ship", "adoption")]["Verdict"] == "success"

    # the review meeting writes its lessons; the daily schedule runs the review again: it was written, nothing happens
    wb = load_workbook(book)
    wb["Review 2026-Q4"].cell(2, len(header)).value = "Reliability needs a committed owner from day one"
    wb.save(book)
    before = book.stat().st_mtime_ns
    again = run_review(load_config(okrs), AFTER.replace(day=6), offset_days=3)
    assert again.done_before is not None and again.sync is None and book.stat().st_mtime_ns == before
    assert "was written on" in again.message and "--force" in again.message
    # --force evaluates it again (a late correction): same sheet, lessons kept
    forced = run_review(load_config(okrs), AFTER.replace(day=6), offset_days=3, force=True)
    assert forced.ready and load_workbook(book).sheetnames == ["Review 2026-Q4"]
    second = sheet(book, "Review 2026-Q4")
    assert second[1][-1] == "Reliability needs a committed owner from day one"
    assert [r[:-1] for r in second] == [r[:-1] for r in rows]


def test_verdicts_at_the_edges():
    assert verdict(True, 1.0) == ("achieved", False) and verdict(True, 0.99) == ("missed (committed)", True)
    assert verdict(False, 0.6) == ("success", False) and verdict(False, 0.59) == ("below 0.6", True)
    assert verdict(False, None) == ("no data", True)


KEY = "1Review0000000000000000000000000000000000RR"


def test_the_google_review_tab_takes_one_read_one_add_and_one_write_then_one_read_and_one_write(okrs, sheets_fake, sheets_env):
    env, fake = sheets_env, sheets_fake
    okrs.write_text(CONFIG.replace("  - {kind: xlsx, path: out/summary.xlsx}", f"  - {{kind: sheets, spreadsheet: {KEY}, credentials_env: SA_KEY}}"))
    fake.add_spreadsheet(KEY, "OKRs", {"Dashboard": []})
    run_review(load_config(okrs, env=env), AFTER, env=env)
    kinds = [k for k, _, _ in fake.log]
    assert kinds == ["batchGet", "batchUpdate", "values.batchUpdate"]  # Google answers 400 for the absent tab: add it
    rows = fake.values(KEY, "Review 2026-Q4")
    lessons = rows[0].index(LESSONS)
    fake.tab(KEY, "Review 2026-Q4").cells[(5, lessons)] = "=ask customers first"
    fake.log.clear()
    run_review(load_config(okrs, env=env), AFTER, env=env)
    assert fake.log == []  # written once: a second scheduled run asks nothing
    run_review(load_config(okrs, env=env), AFTER, env=env, force=True)
    assert [k for k, _, _ in fake.log] == ["batchGet", "values.batchUpdate"]
    assert fake.values(KEY, "Review 2026-Q4")[5][lessons] == "=ask customers first" and not fake.tab(KEY, "Review 2026-Q4").formulas
    assert [t.title for t in fake.books[KEY].tabs] == ["Dashboard", "Review 2026-Q4"]


def test_cli_review_says_when_it_can_run(okrs):
    from flows.cli import app
    result = CliRunner().invoke(app, ["review", str(okrs), "--offset-days", "2"])
    assert result.exit_code == 0, result.output
    # today (whenever the test runs) is either before 2027-01-03 or after: both say what happened in one line
    assert "review from 2027-01-03" in result.output or "review 2026-Q4:" in result.output


def test_the_review_flow_publishes_a_table_artifact_of_rounded_values(prefect_harness, okrs):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    from flows.review import review_okrs

    state = review_okrs(str(okrs), now=AFTER, return_state=True)
    assert state.is_completed(), state.message

    async def read():
        async with get_client() as client:
            return await client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["okr-review-2026-q4"]), flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))

    (artifact,) = asyncio.run(read())
    rows = artifact.data if isinstance(artifact.data, list) else json.loads(artifact.data)
    by = {(r["Objective"], r["KR"]): r for r in rows}
    assert by[("ship", "")]["Score"] == "0.74" and by[("ship", "")]["Verdict"] == "1 of 3 KRs met"
    assert by[("ship", "reliability")] == {"Objective": "ship", "KR": "reliability", "Title": "Uptime work done",
                                           "Kind": "committed", "Score": "0.90", "Verdict": "missed (committed)"}
    assert by[("ship", "adoption")]["Score"] == "0.65" and by[("ship", "adoption")]["Verdict"] == "success"
