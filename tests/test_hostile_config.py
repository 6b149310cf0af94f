"""Hostile or careless configs an acceptance tester wrote: each is one problem line at its file:line, exit 2, never a traceback.

Outputs that would overwrite what okr-sync reads or keeps, limits from env vars too large to use, durations,
SQL and formulas too big or too deep to handle, characters YAML refuses, and history URLs that cannot work.
"""
from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.example_data import make_factory
from mapping.errors import ConfigError
from mapping.loader import load_config
from mapping.yaml_lines import DEFAULT_MAX_NODES

ROOT = Path(__file__).resolve().parent.parent
NPS_METRIC = """\
        metric:
          source: quality
          sheet: Survey
          column: nps
          agg: last
          date_column: month
"""
DELIVERY_SQL = """\
            SELECT 100.0 * SUM(CASE WHEN shipped_day <= due_day THEN 1 ELSE 0 END) / COUNT(*)
            FROM deliveries WHERE due_day BETWEEN :start AND :end AND shipped_day IS NOT NULL
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("OKR_SYNC_MAX_CONFIG_BYTES", "OKR_SYNC_MAX_CONFIG_NODES", "MES_URL", "HISTORY_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def factory(tmp_path: Path) -> Path:
    """examples/factory/okrs.yaml with its data (data/mes.db, data/quality.xlsx) next to it."""
    shutil.copy(ROOT / "examples" / "factory" / "okrs.yaml", tmp_path / "okrs.yaml")
    make_factory(tmp_path / "data", date(2026, 11, 27))
    return tmp_path / "okrs.yaml"


def edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def line_with(path: Path, needle: str) -> int:
    """The line of the last occurrence of `needle` (outputs come last in the factory example)."""
    return [i for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in text][-1]


def cli(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(args), env={"PREFECT_API_URL": "", **(env or {})})


def refused_by_validate(path: Path, env: dict[str, str] | None = None) -> str:
    """`okr-sync validate`: exit 2, no traceback, exactly one problem line; return it."""
    result = cli("validate", str(path), env=env)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    lines = [line.strip() for line in result.output.splitlines() if line.strip().startswith(str(path))]
    assert len(lines) == 1, result.output
    return lines[0]


def problem_of(path: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env or {}, check_env=False)
    [problem] = caught.value.problems
    assert "\n" not in str(problem)
    return str(problem)


# ---- 1. an output never overwrites the config, the history, a source's data or another output ----------

@pytest.mark.parametrize("target, what", [
    (".okr-sync/history.db", "the history database"),
    ("okrs.yaml", "the config file itself"),
    ("data/quality.xlsx", "the data file of source 'quality'"),
    ("data/mes.db", "the database of source 'mes'"),
    ("out/../data/mes.db", "the database of source 'mes'"),
])
def test_an_output_path_onto_a_file_okr_sync_reads_or_keeps_is_refused_and_run_leaves_it_alone(factory, target, what):
    edit(factory, "path: out/okr-summary.xlsx", f"path: {target}")
    line = line_with(factory, f"path: {target}")
    expected = f"{factory}:{line}: outputs[0].path: output path {target} is {what} (write the output elsewhere)"
    assert refused_by_validate(factory) == expected
    victim = (factory.parent / target).resolve()
    before = victim.read_bytes() if victim.exists() else None
    result = cli("run", str(factory))
    assert result.exit_code == 2 and expected in result.output, result.output
    assert (victim.read_bytes() if victim.exists() else None) == before


def test_a_sqlite_database_named_in_an_env_var_is_protected_when_the_variable_is_set(factory):
    edit(factory, "    url: sqlite:///data/mes.db\n", "    url_env: MES_URL\n")
    edit(factory, "path: out/okr-summary.xlsx", "path: data/mes.db")
    line = line_with(factory, "path: data/mes.db")
    env = {"MES_URL": f"sqlite:///{factory.parent / 'data' / 'mes.db'}"}
    assert problem_of(factory, env) == (f"{factory}:{line}: outputs[0].path: output path data/mes.db is the database of source 'mes' "
                                        "(write the output elsewhere)")
    load_config(factory, env={}, check_env=False)  # unknown without the variable: not refused at validate time


def test_the_history_database_of_history_env_and_a_custom_history_path_are_protected(factory):
    edit(factory, "history: sqlite:///.okr-sync/history.db", "history_env: HISTORY_URL")
    edit(factory, "path: out/okr-summary.xlsx", "path: /tmp/../var/../tmp/h.db")
    problem = problem_of(factory, {"HISTORY_URL": "sqlite:////tmp/h.db"})
    assert problem.endswith("outputs[0].path: output path /tmp/../var/../tmp/h.db is the history database (write the output elsewhere)")


def test_two_outputs_and_check_in_workbooks_may_not_share_a_file(factory):
    line = line_with(factory, "path: out/okr-summary.xlsx")
    with factory.open("a", encoding="utf-8") as handle:
        handle.write("  - {kind: html, path: out/okr-summary.xlsx}\n"
                     "  - {kind: xlsx, path: out/b.xlsx, checkin_path: data/quality.xlsx}\n"
                     "  - {kind: html, path: out/okr-summary-checkins.xlsx}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(factory, env={}, check_env=False)
    assert [str(p) for p in caught.value.problems] == [
        f"{factory}:{line + 1}: outputs[1].path: output path out/okr-summary.xlsx is also the path of outputs[0] (write the output elsewhere)",
        f"{factory}:{line + 2}: outputs[2].checkin_path: check-in workbook data/quality.xlsx is the data file of source 'quality' "
        "(write the output elsewhere)",
        f"{factory}:{line + 3}: outputs[3].path: output path out/okr-summary-checkins.xlsx is also the check-in workbook of outputs[0] "
        "(write the output elsewhere)",
    ]


def test_the_factory_example_itself_still_validates(factory):
    result = cli("validate", str(factory))
    assert result.exit_code == 0, result.output


# ---- 2. size limits from env vars too large to use ------------------------------------------------------

@pytest.mark.parametrize("raw", ["99999999999999999999", "9223372036854775807"])
def test_a_config_size_limit_too_large_to_use_is_one_line(factory, raw):
    assert refused_by_validate(factory, {"OKR_SYNC_MAX_CONFIG_BYTES": raw}) == (
        f"{factory}: OKR_SYNC_MAX_CONFIG_BYTES={raw!r} is too large; at most 1,000,000,000 "
        "(unset it to use the default 5,000,000, or set e.g. OKR_SYNC_MAX_CONFIG_BYTES=10000000)")


# ---- 3. durations timedelta cannot hold --------------------------------------------------------------

@pytest.mark.parametrize("old, new, path, shown", [
    ("    path: data/quality.xlsx\n", "    path: data/quality.xlsx\n    max_age: 99999999999999d\n", "sources.quality.max_age", "99999999999999d"),
    ("        owner: Head of Sales\n", "        owner: Head of Sales\n        max_age: 1000000000000000000000000000000\n",
     "objectives[0].key_results[2].max_age", "10000000000000000..."),
])
def test_a_max_age_too_long_is_a_problem_at_its_line(factory, old, new, path, shown):
    edit(factory, old, new)
    line = line_with(factory, "max_age:")
    assert refused_by_validate(factory) == f"{factory}:{line}: {path}: {shown} is too long; at most 3650d (ten years)"


# ---- 4. SQL nested too deeply for the parser ---------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "SELECT " + "(" * 50 + "1" + ")" * 50 + " FROM production",
    "SELECT " + "(SELECT " * 50 + "1" + ")" * 50,
])
def test_sql_nested_too_deeply_is_refused_at_its_line(factory, sql):
    edit(factory, DELIVERY_SQL, f"            {sql}\n")
    line = line_with(factory, sql) - 1  # the `sql: |` key above the query
    assert refused_by_validate(factory) == (f"{factory}:{line}: objectives[0].key_results[1].metric.sql: "
                                            "query is nested too deeply to check; simplify the query")


def test_the_sql_guard_fails_closed_when_its_parser_breaks(monkeypatch):
    from mapping import sql_guard

    def broken(statement):
        raise KeyError("surprise")
    monkeypatch.setattr(sql_guard, "_check_tree", broken)
    with pytest.raises(sql_guard.ReadOnlyViolation, match="cannot be checked as SQLite SQL"):
        sql_guard.guard_sql("SELECT 4242 AS fail_closed_probe", "sqlite")


# ---- 5. formulas too long, too deep, or with constants no float holds -----------------------------------

@pytest.mark.parametrize("formula, message", [
    ("+".join(["a"] * 5000), "is too long (9,999 characters; at most 2,000); compute part of it in an input's query"),
    ("+".join(["a"] * 102), "is nested too deeply (more than 100 levels of operations; a sum of n terms has n - 1); "
                            "simplify it, e.g. compute part of it in an input's query"),
    ("a * 1" + "0" * 400, "has a 401-digit number, too large to compute with (the largest is about 1.8e308) (at column 5)"),
    ("a * 1e309", "has a number too large to compute with (the largest is about 1.8e308) (at column 5)"),
])
def test_a_formula_that_cannot_be_computed_is_refused_at_validate(factory, formula, message):
    edit(factory, NPS_METRIC, f"""\
        metric:
          formula: {formula}
          inputs:
            a: {{source: quality, sheet: Survey, column: nps, agg: last, date_column: month}}
""")
    line = line_with(factory, "formula:")
    shown = formula if len(formula) <= 80 else formula[:77] + "..."
    assert refused_by_validate(factory) == (f"{factory}:{line}: objectives[0].key_results[2].metric.formula: formula {shown!r} {message} "
                                            "(use numbers, input names, + - * /, parentheses, min, max, abs, round)")


# ---- 6. YAML the reader refuses: one line, with the line number and the name of what is wrong ----------

def test_a_control_character_is_named_at_its_line(factory):
    edit(factory, "# relative to this file", "# relative\x1b to this file")
    assert refused_by_validate(factory) == (f"{factory}:5: malformed YAML: control character \\x1b (ESC) is not allowed "
                                            "(remove it: a config holds plain text)")


def test_a_control_character_after_non_ascii_text_is_at_the_right_line(tmp_path):
    path = tmp_path / "okrs.yaml"
    path.write_text("# Qualität, Größe, Überblick\n" * 3 + "period: 2026-Q4\x07\n", encoding="utf-8")
    assert problem_of(path).startswith(f"{path}:4: malformed YAML: control character \\x07 (BEL) is not allowed")


def test_utf16_without_a_byte_order_mark_is_one_line_saying_what_to_do(factory):
    factory.write_bytes(factory.read_text(encoding="utf-8").encode("utf-16-le"))
    assert refused_by_validate(factory) == (f"{factory}:1: malformed YAML: control character \\x00 (NUL) is not allowed "
                                            "(a NUL usually means the file was saved as UTF-16: save it as UTF-8, or remove the character)")


def test_a_duplicate_anchor_is_named(factory):
    edit(factory, "    kind: sql\n", "    kind: sql\n    x-a: &shared 1\n")
    edit(factory, "    kind: file\n", "    kind: file\n    x-b: &shared 2\n")
    first, second = line_with(factory, "x-a:"), line_with(factory, "x-b:")
    assert refused_by_validate(factory) == (f"{factory}:{second}: malformed YAML: anchor &shared is defined twice (first at line {first}) "
                                            "(give each anchor its own name)")


@pytest.mark.parametrize("key, what", [("~", "a key written ~ or null (or left empty)"), ("5", "key 5")])
def test_a_key_that_is_not_a_name_is_named_at_its_line(factory, key, what):
    with factory.open("a", encoding="utf-8") as handle:
        handle.write(f"{key}: 1\n")
    line = len(factory.read_text(encoding="utf-8").splitlines())
    assert refused_by_validate(factory) == f"{factory}:{line}: {what} is not a name (write the key's name; quote it if you mean that text as the key)"


def test_the_node_limit_on_a_large_config_without_aliases_does_not_blame_aliases(tmp_path):
    path = tmp_path / "okrs.yaml"
    objectives = "".join(f"  - id: o{i}\n    title: O\n    key_results:\n      - {{id: k{i}, title: K, target: 1, baseline: 0}}\n"
                         for i in range(8000))
    path.write_text("period: 2026-Q4\nobjectives:\n" + objectives, encoding="utf-8")
    problem = problem_of(path)
    assert f"the YAML holds more than {DEFAULT_MAX_NODES:,} values (keys, values and list items)" in problem
    assert "alias" not in problem and "OKR_SYNC_MAX_CONFIG_NODES" in problem


# ---- 7. history URLs that cannot work --------------------------------------------------------------

@pytest.mark.parametrize("url, message", [
    ('"notaurl"', "history 'notaurl' is not a SQLAlchemy URL (dialect[+driver]://...) (write e.g. sqlite:///.okr-sync/history.db "
                  "(a file next to the config) or postgresql+psycopg://user@host/db)"),
    ('"sqlite://"', "history 'sqlite://' is an in-memory SQLite database: the history would be discarded at the end of every run "
                    "(use a file, e.g. sqlite:///.okr-sync/history.db)"),
    ('"sqlite:///:memory:"', "history 'sqlite:///:memory:' is an in-memory SQLite database: the history would be discarded at the end "
                             "of every run (use a file, e.g. sqlite:///.okr-sync/history.db)"),
])
def test_a_history_url_that_cannot_keep_history_is_refused_at_its_line(factory, url, message):
    edit(factory, "history: sqlite:///.okr-sync/history.db", f"history: {url}")
    assert refused_by_validate(factory) == f"{factory}:5: history: {message}"


def test_validate_does_not_import_sqlalchemy_for_the_history_check(factory):
    import subprocess
    import sys
    code = ("import sys\nfrom mapping.loader import load_config\nload_config(sys.argv[1], env={}, check_env=False)\n"
            "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported'\n")
    done = subprocess.run([sys.executable, "-c", code, str(factory)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


# ---- control characters written as YAML escapes ("\e[2J") never reach a terminal ------------------------

def test_a_control_character_in_config_text_is_refused_at_its_line_and_printed_harmlessly(factory):
    edit(factory, "title: Defect rate (last 7 days) at or below 0.5%", 'title: "Defect rate\\e]0;pwned\\a\\e[2J"')
    line = line_with(factory, "pwned")
    said = refused_by_validate(factory)
    assert said == (f"{factory}:{line}: objectives[0].key_results[0].title: text holds the control character '\\x1b' "
                    "(a terminal control code) (remove it: write plain text)")
    assert "\x1b" not in cli("validate", str(factory)).output


def test_a_control_character_in_a_key_is_refused_and_the_key_shown_escaped(factory):
    factory.write_text(factory.read_text().replace("period: 2026-Q4", 'period: 2026-Q4\n"x\\e[2J": 1', 1))
    result = cli("validate", str(factory))
    assert result.exit_code == 2
    assert "a key holds the control character '\\x1b'" in result.output and "x\\x1b[2J" in result.output
    assert "\x1b" not in result.output


@pytest.mark.parametrize("written", ["yes", "on", "1:30"])
def test_yaml_1_1_words_and_base_60_are_text_refused_where_a_number_is_due(factory, written):
    edit(factory, "target: 0.5", f"target: {written}")
    line = line_with(factory, f"target: {written}")
    said = refused_by_validate(factory)
    assert said.startswith(f"{factory}:{line}: objectives[0].key_results[0].target: '{written}' is not a number")


@pytest.mark.parametrize("written, why", [
    ('"/"', "names a folder, not a file"), ('""', "names a folder, not a file"), ('"."', "names a folder, not a file"),
    ('".."', "names a folder, not a file"), ('"out2/"', "names a folder, not a file"), ("data", "is an existing folder"),
])
def test_an_output_path_that_is_a_folder_is_refused_at_its_line(factory, written, why):
    edit(factory, "path: out/okr-summary.xlsx", f"path: {written}")
    line = line_with(factory, f"path: {written}")
    assert refused_by_validate(factory) == (f"{factory}:{line}: outputs[0].path: output path {written.strip(chr(34))!r} {why} "
                                            "(name the file to write, e.g. out/okr-summary.xlsx)")


def test_an_output_that_would_be_the_folder_of_another_is_refused(factory):
    edit(factory, "path: out/okr-summary.xlsx", "path: rep/okr-summary.xlsx\n  - {kind: html, path: rep}")
    line = line_with(factory, "path: rep}")
    assert refused_by_validate(factory) == (f"{factory}:{line}: outputs[1].path: output path rep is the folder of output path "
                                            "rep/okr-summary.xlsx (write the outputs to separate files)")


def test_an_output_inside_a_file_is_refused(factory):
    edit(factory, "path: out/okr-summary.xlsx", "path: okrs.yaml/okr-summary.xlsx")
    assert "outputs[0].path: output path 'okrs.yaml/okr-summary.xlsx' is inside " in refused_by_validate(factory)
