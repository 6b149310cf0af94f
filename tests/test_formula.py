"""Formula metrics: safe arithmetic over named inputs from several sources, and the config checks around them."""
from __future__ import annotations

import sqlite3

import pytest

from flows.pipeline import make_plan, run_sync
from mapping.errors import ConfigError
from mapping.formula import FormulaError, FormulaSyntaxError, evaluate, parse_formula
from mapping.loader import load_config


@pytest.mark.parametrize("text,values,expected", [
    ("defects / produced * 100", {"defects": 25, "produced": 5000}, 0.5),
    ("(a - b) / b", {"a": 12, "b": 8}, 0.5),
    ("-a + 2 * (b - 1)", {"a": 3, "b": 4}, 3),
    ("min(a, b, 7) + max(a, b) + abs(c)", {"a": 2, "b": 9, "c": -4}, 15),
    ("round(a / b, 2)", {"a": 2, "b": 3}, 0.67),
    ("round(a)", {"a": 2.6}, 3),
    ("1.5e2 / a", {"a": 3}, 50),
])
def test_arithmetic_gives_the_hand_computed_value(text, values, expected):
    assert evaluate(parse_formula(text), values) == pytest.approx(expected)


def test_names_are_the_inputs_not_the_functions():
    assert parse_formula("max(defects, 1) / shipped").names == {"defects", "shipped"}


@pytest.mark.parametrize("text,message", [
    ("__import__('os').system('id')", "only the functions min, max, abs, round may be called"),
    ("a.__class__", "attribute is not allowed"),
    ("a[0]", "subscript is not allowed"),
    ("a ** 2", "operator ** is not allowed"),
    ("a % 2", "operator % is not allowed"),
    ("a if b else c", "ifexp is not allowed"),
    ("a < b", "compare is not allowed"),
    ("lambda: 1", "lambda is not allowed"),
    ("'text'", "'text' is not a number"),
    ("True + a", "True is not a number"),
    ("round(a, b, c)", "round() takes 1 to 2 plain arguments"),
    ("abs(x=a)", "abs() takes 1 plain arguments"),
    ("a / (b", "is not valid arithmetic"),
    ("", "formula is empty"),
])
def test_anything_but_plain_arithmetic_is_refused(text, message):
    with pytest.raises(FormulaSyntaxError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        parse_formula(text)


def test_division_by_zero_names_the_divisor():
    with pytest.raises(FormulaError, match=r"division by zero \(shipped - returned = 0\)"):
        evaluate(parse_formula("defects / (shipped - returned)"), {"defects": 3, "shipped": 10, "returned": 10})


def test_missing_input_is_an_error():
    with pytest.raises(FormulaError, match="no value for shipped"):
        evaluate(parse_formula("defects / shipped"), {"defects": 3})


def make_db(path, sql: str, rows: list[tuple]) -> None:
    db = sqlite3.connect(path)
    db.execute(sql)
    db.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(rows[0]))})", rows)
    db.commit()
    db.close()


CONFIG = """
period: 2026-Q4
history: sqlite:///history.db
sources:
  mes: {kind: sql, url: "sqlite:///mes.db"}
  erp: {kind: sql, url: "sqlite:///erp.db"}
objectives:
  - id: quality
    title: Ship fewer defects
    key_results:
      - id: defect-rate
        title: Defects per 100 shipped units at most 0.5
        type: at_most
        target: 0.5
        metric:
          formula: defects / shipped * 100
          inputs:
            defects: {source: mes, sql: "SELECT SUM(defects) FROM t WHERE day BETWEEN :start AND :end"}
            shipped: {source: erp, sql: "SELECT SUM(units) FROM t WHERE day BETWEEN :start AND :end AND status = 'shipped'"}
      - id: defects
        title: Defects in the quarter
        type: at_most
        target: 100
        metric: {source: mes, sql: "SELECT SUM(defects) FROM t WHERE day BETWEEN :start AND :end"}
      - id: returns-share
        title: Returned share of shipped units
        type: at_most
        target: 2
        metric:
          formula: "returned / shipped * 100"
          inputs:
            returned: {source: erp, sql: "SELECT SUM(units) FROM t WHERE day BETWEEN :start AND :end AND status = 'returned'"}
            shipped: {source: erp, sql: "SELECT SUM(units) FROM t WHERE day BETWEEN :start AND :end AND status = 'shipped'"}
"""


@pytest.fixture
def two_systems(tmp_path):
    make_db(tmp_path / "mes.db", "CREATE TABLE t (day TEXT, defects INTEGER)",
            [("2026-10-03", 4), ("2026-11-02", 6), ("2026-09-30", 50)])
    make_db(tmp_path / "erp.db", "CREATE TABLE t (day TEXT, units INTEGER, status TEXT)",
            [("2026-10-05", 1200, "shipped"), ("2026-11-05", 800, "shipped"), ("2026-11-06", 30, "returned"),
             ("2027-01-02", 999, "shipped")])
    return tmp_path


def test_cross_source_formula_combines_both_systems_and_asks_shared_queries_once(two_systems, write_config, now):
    config = load_config(write_config(CONFIG))
    plan = make_plan(config)
    # defects (mes) is shared by two KRs, shipped (erp) by two formulas: 3 distinct queries in all
    assert plan.query_count == 3
    assert sorted(len(queries) for queries in plan.by_source.values()) == [1, 2]
    outcome = run_sync(config, now, write=False)
    assert outcome.results["defect-rate"].value == pytest.approx((4 + 6) / (1200 + 800) * 100)
    assert outcome.results["returns-share"].value == pytest.approx(30 / 2000 * 100)
    assert outcome.results["defect-rate"].source == "erp+mes"
    assert "defects = 10 (mes); shipped = 2000 (erp)" in outcome.results["defect-rate"].query


def test_division_by_zero_marks_only_that_kr_stale(two_systems, write_config, now):
    config = load_config(write_config(CONFIG.replace("status = 'shipped'", "status = 'lost'").replace("SUM(units)", "TOTAL(units)")))
    outcome = run_sync(config, now, write=False)
    result = outcome.results["defect-rate"]
    assert result.stale and result.value is None
    assert "division by zero (shipped = 0)" in result.error
    assert outcome.results["defects"].value == 10 and not outcome.results["defects"].stale


def test_failed_input_marks_the_kr_stale_naming_input_and_source(two_systems, write_config, now):
    (two_systems / "erp.db").unlink()
    outcome = run_sync(load_config(write_config(CONFIG)), now, write=True)
    result = outcome.results["defect-rate"]
    assert result.stale
    assert "formula input 'shipped'" in result.error and "erp.db not found" in result.error
    assert result.source == "erp"
    assert "erp" in outcome.failed_sources
    assert outcome.results["defects"].value == 10


@pytest.mark.parametrize("metric,message", [
    ("{formula: 'defects / shiped * 100', inputs: {defects: {source: mes, sql: 'SELECT 1'}, shipped: {source: erp, sql: 'SELECT 2'}}}",
     "formula uses 'shiped', which is not one of its inputs (did you mean 'shipped'?)"),
    ("{formula: 'a / (b', inputs: {a: {source: mes, sql: 'SELECT 1'}, b: {source: erp, sql: 'SELECT 2'}}}",
     "formula 'a / (b' is not valid arithmetic"),
    ("{formula: 'a ** 2', inputs: {a: {source: mes, sql: 'SELECT 1'}}}", "operator ** is not allowed"),
    ("{formula: 'a * 2', inputs: {a: {source: mes, sql: 'SELECT 1'}, b: {source: erp, sql: 'SELECT 2'}}}",
     "input 'b' is not used in the formula"),
    ("{formula: 'a * 2', inputs: {a: {source: nope, sql: 'SELECT 1'}}}", "unknown source 'nope'"),
    ("{formula: 'a * 2', inputs: {a: {source: mes, sql: 'DELETE FROM t'}}}", "query starts with 'DELETE'"),
    ("{formula: 'a * 2', source: mes, inputs: {a: {source: mes, sql: 'SELECT 1'}}}", "a formula metric takes only formula, inputs"),
    ("{formula: 'a * 2'}", "a formula needs inputs"),
    ("{formula: 'a * 2', inputs: {a: {formula: 'b', inputs: {}}}}", "formula is not allowed inside an input"),
])
def test_formula_mistakes_are_reported_with_their_line(write_config, metric, message):
    path = write_config(f"""
        period: 2026-Q4
        sources:
          mes: {{kind: sql, url: "sqlite:///mes.db"}}
          erp: {{kind: sql, url: "sqlite:///erp.db"}}
        objectives:
          - id: o
            title: O
            key_results:
              - id: k
                title: K
                type: at_most
                target: 1
                metric: {metric}
    """)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert f"{path}:13:" in str(info.value)


def test_formula_combines_a_database_and_a_rest_api(tmp_path, write_config, now):
    """The issue's case: defects from the MES database, units shipped from the ERP's REST API."""
    import responses
    make_db(tmp_path / "mes.db", "CREATE TABLE t (day TEXT, defects INTEGER)", [("2026-10-03", 4), ("2026-11-02", 6)])
    path = write_config("""
        period: 2026-Q4
        sources:
          mes: {kind: sql, url: "sqlite:///mes.db"}
          erp: {kind: rest, base_url: "https://erp.example.com/api", auth: bearer, token_env: ERP_TOKEN}
        objectives:
          - id: quality
            title: Ship fewer defects
            key_results:
              - id: defect-rate
                title: Defects per 100 shipped units
                type: at_most
                target: 0.5
                metric:
                  formula: defects / shipped * 100
                  inputs:
                    defects: {source: mes, sql: "SELECT SUM(defects) FROM t WHERE day BETWEEN :start AND :end"}
                    shipped: {source: erp, path: /shipments/summary, params: {from: "{start}", to: "{end}"}, extract: "sum(months[].units)"}
    """)
    env = {"ERP_TOKEN": "t"}
    with responses.RequestsMock() as fake:
        fake.get("https://erp.example.com/api/shipments/summary?from=2026-10-01&to=2026-12-31",
                 json={"months": [{"month": "2026-10", "units": 1500}, {"month": "2026-11", "units": 500}]})
        outcome = run_sync(load_config(path, env=env), now, write=False, env=env)
    assert outcome.results["defect-rate"].value == pytest.approx(10 / 2000 * 100)
    assert outcome.results["defect-rate"].source == "erp+mes"
