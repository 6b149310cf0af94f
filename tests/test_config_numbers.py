"""Numbers in okrs.yaml must be finite: .inf, .nan, 1e309 and huge integers are refused with file:line (issue 10)."""
from __future__ import annotations

import pytest

from mapping.errors import ConfigError
from mapping.loader import load_config

CONFIG = """\
period: 2026-Q4
sources:
  mes: {{kind: sql, url: "sqlite:///mes.db", timeout_seconds: {timeout}}}
  jira: {{kind: jira, url: "https://acme.atlassian.net", email_env: JIRA_EMAIL, token_env: JIRA_TOKEN, max_retry_wait_seconds: {wait}}}
status:
  on_track: {on_track}
fetch:
  retry_delay_seconds: {delay}
objectives:
  - id: quality
    title: Quality
    key_results:
      - id: defect-rate
        title: Defect rate
        type: decrease
        baseline: {baseline}
        target: {target}
        weight: {weight}
        metric:
          source: mes
          sql: SELECT 1
          valid_range: [{low}, {high}]
          max_change: {max_change}
      - id: done-ratio
        title: Share of stories done
        type: at_least
        target: 80
        metric: {{source: jira, measure: ratio, numerator: "status = Done", denominator: "project = X", scale: {scale}}}
"""
FINITE = dict(timeout=30, wait=60, on_track=0.9, delay=10, baseline=1.2, target=0.5, weight=1, low=0, high=10,
              max_change=0.5, scale=100)
LINES = dict(timeout=3, wait=4, on_track=6, delay=8, baseline=16, target=17, weight=18, low=22, high=22, max_change=23, scale=28)
PATHS = dict(timeout="sources.mes.timeout_seconds", wait="sources.jira.max_retry_wait_seconds", on_track="status.on_track",
             delay="fetch.retry_delay_seconds", baseline="objectives[0].key_results[0].baseline",
             target="objectives[0].key_results[0].target", weight="objectives[0].key_results[0].weight",
             low="objectives[0].key_results[0].metric.valid_range[0]", high="objectives[0].key_results[0].metric.valid_range[1]",
             max_change="objectives[0].key_results[0].metric.max_change", scale="objectives[0].key_results[1].metric.scale")


def problems(write_config, **values):
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(CONFIG.format(**{**FINITE, **values})), check_env=False)
    return caught.value.problems


def test_the_finite_config_loads(write_config):
    config = load_config(write_config(CONFIG.format(**FINITE)), check_env=False)
    assert [kr.weight for _, kr in config.key_results()] == [1, 1]


@pytest.mark.parametrize("key", sorted(FINITE))
@pytest.mark.parametrize("text, shown", [(".inf", "inf"), ("-.inf", "-inf"), (".nan", "nan"), (".NaN", "nan"), ("1e309", "inf"),
                                          ("-1e309", "-inf"), ('"inf"', "inf"), ('"NaN"', "nan"), ('"1e400"', "inf")])
def test_a_non_finite_number_is_one_problem_at_its_line(write_config, key, text, shown):
    """YAML's .inf/.nan, a float literal beyond ±1.8e308, and the same as text that a float field would accept."""
    found = problems(write_config, **{key: text})
    assert [(p.line, p.path) for p in found] == [(LINES[key], PATHS[key])], [str(p) for p in found]
    message = found[0].message
    assert message.endswith("is not a finite number")
    if key == "max_change" and "." not in text:  # text to YAML (1e309 has no dot); max_change also takes text ('20%')
        assert message == f"max_change {text.strip(chr(34))!r} is not a finite number"
    else:
        assert message.startswith(shown + " ")


def test_every_non_finite_number_is_reported_at_once(write_config):
    found = problems(write_config, target=".inf", weight="1e309", baseline=".nan", high=".inf", on_track=".nan", delay=".inf",
                     timeout=".inf", max_change=".nan")
    assert [(p.line, p.path) for p in found] == sorted((LINES[k], PATHS[k]) for k in
                                                       ("target", "weight", "baseline", "high", "on_track", "delay", "timeout", "max_change"))
    assert all("is not a finite number" in p.message for p in found)
    assert {p.hint for p in found if p.path.endswith("valid_range[1]")} == {"for an open-ended range use a large bound, e.g. [0, 1e12]"}


def test_an_integer_beyond_the_float_range_is_refused(write_config):
    [problem] = problems(write_config, weight="1" + "0" * 400)
    assert problem.line == LINES["weight"] and problem.message.startswith("a 401-digit number is not a finite number")


def test_a_percentage_max_change_must_be_finite(write_config):
    [problem] = problems(write_config, max_change='"inf%"')
    assert (problem.line, problem.path) == (LINES["max_change"], PATHS["max_change"])
    assert problem.message == "max_change 'inf%' is not a finite number"


def test_a_non_finite_bound_does_not_also_claim_the_range_is_malformed_or_reversed(write_config):
    found = problems(write_config, low=".inf", high="10")
    assert [p.path for p in found] == [PATHS["low"]]


def test_non_finite_numbers_in_a_formula_gate_and_input_are_refused(write_config):
    path = write_config("""\
        period: 2026-Q4
        sources:
          jira: {kind: jira, url: "https://acme.atlassian.net", email_env: E, token_env: T}
        objectives:
          - id: flow
            title: Flow
            key_results:
              - id: done
                title: Done
                type: at_least
                target: 10
                metric:
                  formula: a * 2
                  valid_range: [.nan, 100]
                  inputs:
                    a: {source: jira, measure: ratio, numerator: "status = Done", denominator: "project = X", scale: "Infinity"}
        """)
    with pytest.raises(ConfigError) as caught:
        load_config(path, check_env=False)
    assert [(p.line, p.path) for p in caught.value.problems] == [
        (14, "objectives[0].key_results[0].metric.valid_range[0]"),
        (16, "objectives[0].key_results[0].metric.inputs.a.scale")]
