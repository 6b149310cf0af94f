"""A config is bounded before it is built: size, alias expansion ("billion laughs"), nesting (issue 10)."""
from __future__ import annotations

import time
import tracemalloc

import pytest
from typer.testing import CliRunner

from flows.cli import app
from mapping.errors import ConfigError
from mapping.loader import load_config
from mapping.yaml_lines import DEFAULT_MAX_BYTES, DEFAULT_MAX_NODES, load_yaml_with_lines

CONFIG_HEAD = """\
period: 2026-Q4
sources:
  mes: {kind: sql, url: "sqlite:///mes.db"}
objectives:
  - id: quality
    title: Quality
    key_results:
      - id: defect-rate
        title: Defect rate
        type: at_most
        target: 0.5
        metric: {source: mes, sql: SELECT 1}
"""


def laughs(levels: int, fan_out: int = 9) -> str:
    """The classic alias bomb: each level is a list of `fan_out` aliases of the level before, fan_out**levels strings in all."""
    names = [chr(ord("a") + i) for i in range(levels)]
    lines = [f"{names[0]}: &{names[0]} [" + ", ".join(['"lol"'] * fan_out) + "]"]
    for previous, name in zip(names, names[1:]):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * fan_out) + "]")
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True)
def default_limits(monkeypatch):
    monkeypatch.delenv("OKR_SYNC_MAX_CONFIG_BYTES", raising=False)
    monkeypatch.delenv("OKR_SYNC_MAX_CONFIG_NODES", raising=False)


def refused(path) -> tuple[ConfigError, float, int]:
    """Load `path`, expecting a ConfigError; return it, the seconds taken and the peak of Python memory allocated."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ConfigError) as caught:
            load_config(path, check_env=False)
        return caught.value, time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_billion_laughs_is_refused_at_once_with_one_problem_naming_the_file_and_the_env_var(write_config):
    path = write_config(CONFIG_HEAD + "x-bomb:\n" + "".join("  " + line + "\n" for line in laughs(9).splitlines()))
    assert path.stat().st_size < 1000  # 9**9 = 387 million strings from a few hundred bytes
    error, seconds, peak = refused(path)
    assert seconds < 5 and peak < 20_000_000  # it used to run past 60 s and 2.3 GB
    [problem] = error.problems
    assert problem.file == str(path) and problem.line is not None and 13 <= problem.line <= 21
    assert f"more than {DEFAULT_MAX_NODES:,} values" in problem.message and "alias" in problem.message
    assert "OKR_SYNC_MAX_CONFIG_NODES" in problem.hint
    assert str(problem).count("\n") == 0


def test_validate_command_reports_the_bomb_in_one_line_with_exit_code_2(tmp_path):
    path = tmp_path / "okrs.yaml"
    path.write_text(laughs(12, 10), encoding="utf-8")  # 10**12 strings
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["validate", "--no-env-check", str(path)])
    assert time.perf_counter() - started < 5
    assert result.exit_code == 2, result.output
    problems = [line for line in result.output.splitlines() if str(path) in line]
    assert len(problems) == 1 and "OKR_SYNC_MAX_CONFIG_NODES" in problems[0] and "Traceback" not in result.output


def test_merge_key_bomb_is_refused_too(write_config):
    """`<<: [*a, *a, ...]` copies mappings into mappings: the same growth, refused before any merge is attempted."""
    lines = ["m0: &m0 {k: v}"] + [f"m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * 10) + "]}" for i in range(1, 10)]
    path = write_config("\n".join(lines) + "\n")
    error, seconds, peak = refused(path)
    assert seconds < 5 and peak < 20_000_000
    assert "OKR_SYNC_MAX_CONFIG_NODES" in error.problems[0].hint


def test_an_alias_inside_its_own_anchor_is_refused(write_config):
    path = write_config(CONFIG_HEAD + "x-loop: &loop [1, {again: *loop}]\n")
    [problem] = refused(path)[0].problems
    assert problem.line == 13 and "recursive" in problem.message and "*loop" in problem.message


def test_a_normal_config_with_a_few_aliases_still_loads(write_config):
    path = write_config("""\
        period: 2026-Q4
        sources:
          mes: {kind: sql, url: "sqlite:///mes.db"}
        objectives:
          - id: quality
            title: Quality
            owner: &owner Head of Quality
            key_results:
              - id: defect-rate
                title: Defect rate
                owner: *owner
                type: at_most
                target: 0.5
                metric: &metric {source: mes, sql: SELECT 1, valid_range: &range [0, 10], max_change: 0.5}
              - id: scrap-rate
                title: Scrap rate
                type: at_most
                target: 1
                metric: *metric
          - id: delivery
            title: Delivery
            owner: *owner
            key_results:
              - id: on-time
                title: On time
                type: at_least
                target: 95
                metric: {source: mes, sql: SELECT 3, valid_range: *range}
        """)
    config = load_config(path, check_env=False)
    krs = {kr.id: kr for _, kr in config.key_results()}
    assert {kr.metric.valid_range for kr in krs.values()} == {(0, 10)}
    assert krs["scrap-rate"].metric.max_change == 0.5 and krs["scrap-rate"].metric.query == krs["defect-rate"].metric.query
    assert krs["defect-rate"].owner == config.objectives[1].owner == "Head of Quality"


def test_aliases_within_the_node_limit_load_and_the_limit_is_configurable(write_config, monkeypatch):
    path = write_config(laughs(4))  # 9**4 = 6,561 strings, about 7,400 values
    data, lines = load_yaml_with_lines(path)
    assert len(data["d"]) == 9 and data["d"][8][8][8][8] == "lol"
    assert lines[("d",)] == 4 and lines[("d", 8, 8, 8, 8)] == 1  # aliased values point at their anchor's line
    monkeypatch.setenv("OKR_SYNC_MAX_CONFIG_NODES", "1000")
    with pytest.raises(ConfigError, match="more than 1,000 values"):
        load_yaml_with_lines(path)


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    path = tmp_path / "okrs.yaml"
    path.write_text(CONFIG_HEAD + "#" + "x" * DEFAULT_MAX_BYTES + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_yaml_with_lines(path)
    [problem] = caught.value.problems
    assert problem.file == str(path) and f"larger than {DEFAULT_MAX_BYTES:,} bytes" in problem.message
    assert "OKR_SYNC_MAX_CONFIG_BYTES" in problem.hint
    monkeypatch.setenv("OKR_SYNC_MAX_CONFIG_BYTES", str(2 * DEFAULT_MAX_BYTES))
    data, _ = load_yaml_with_lines(path)
    assert data["period"] == "2026-Q4"
    monkeypatch.setenv("OKR_SYNC_MAX_CONFIG_BYTES", "100")
    with pytest.raises(ConfigError, match="larger than 100 bytes"):
        load_yaml_with_lines(path)


@pytest.mark.parametrize("name", ["OKR_SYNC_MAX_CONFIG_BYTES", "OKR_SYNC_MAX_CONFIG_NODES"])
@pytest.mark.parametrize("value", ["lots", "0", "-5"])
def test_a_limit_that_is_not_a_positive_number_is_reported(write_config, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"{name}='{value}' is not a positive whole number"):
        load_config(write_config(CONFIG_HEAD), check_env=False)


def test_deep_nesting_is_refused_without_a_recursion_error(write_config):
    path = write_config("a: " + "[" * 150 + "]" * 150 + "\n")
    with pytest.raises(ConfigError, match="nested more than 100 deep"):
        load_yaml_with_lines(path)
    path = write_config("x: &x " + "[" * 60 + "1" + "]" * 60 + "\ny: " + "[" * 50 + "*x" + "]" * 50 + "\n")
    with pytest.raises(ConfigError, match=r"alias \*x nests lists and mappings more than 100 deep"):
        load_yaml_with_lines(path)


def test_an_integer_too_long_to_read_is_a_config_problem(write_config):
    with pytest.raises(ConfigError, match="unreadable value"):
        load_yaml_with_lines(write_config("a: " + "9" * 5000 + "\n"))
