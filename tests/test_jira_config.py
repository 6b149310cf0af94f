"""Config checks of the jira source and its queries: every mistake reported with its line, and JQL templating."""
from __future__ import annotations

from datetime import date

import pytest

from mapping.errors import ConfigError
from mapping.loader import load_config
from mapping.sources.jira import placeholders, render_jql, template_values

HEAD = """
period: 2026-Q4
sources:
{sources}
objectives:
  - id: o
    title: O
    key_results:
{krs}
"""


def kr(i: int, metric: str) -> str:
    return f"""      - id: kr{i}
        title: KR {i}
        type: at_least
        target: 1
        metric: {metric}
"""


def problems(write_config, sources: str, *metrics: str) -> list[str]:
    path = write_config(HEAD.format(sources=sources, krs="".join(kr(i, m) for i, m in enumerate(metrics))))
    with pytest.raises(ConfigError) as caught:
        load_config(path, check_env=False)
    return [str(p) for p in caught.value.problems]


CLOUD = "  jira: {kind: jira, url: https://acme.atlassian.net, email_env: JIRA_EMAIL, token_env: JIRA_API_TOKEN}"


def test_source_auth_mistakes_are_reported_with_their_lines(write_config):
    sources = "\n".join([
        "  a: {kind: jira, url: https://acme.atlassian.net}",
        "  b: {kind: jira, url: https://acme.atlassian.net, email_env: E, token_env: T, pat_env: P}",
        "  c: {kind: jira, url: https://acme.atlassian.net, email_env: E}",
        "  d: {kind: jira, url: https://acme.atlassian.net, pat_env: P, deployment: cloud}",
        "  e: {kind: jira, url: 'https://me:pw@acme.atlassian.net', pat_env: P}",
        "  f: {kind: jira, url: acme.atlassian.net, pat_env: P}",
    ])
    found = problems(write_config, sources, "{source: a, jql: x}")
    text = "\n".join(found)
    assert len(found) == 6, text
    assert "okrs.yaml:3: sources.a: set either email_env + token_env" in text
    assert "okrs.yaml:4: sources.b: set either email_env + token_env" in text
    assert "okrs.yaml:5: sources.c: set both email_env and token_env" in text
    assert "okrs.yaml:6: sources.d: Jira Cloud does not accept personal access tokens" in text
    assert "okrs.yaml:7: sources.e.url: must not hold credentials" in text
    assert "okrs.yaml:8: sources.f.url: must be an http(s) URL" in text


def test_query_mistakes_are_reported_per_kr(write_config):
    found = problems(
        write_config, CLOUD,
        "{source: jira, measure: ratio, numerator: x}",
        "{source: jira, measure: sum, jql: x}",
        "{source: jira, jql: 'project = {team}'}",
        "{source: jira, jql: x, params: {start: '2026-01-01'}}",
        "{source: jira, measure: percentile, jql: x}",
        "{source: jira, mesure: count, jql: x}",
        "{source: jira, measure: mean, jql: x}",
        "{source: jira, measure: count, jql: x, field: Story Points}",
    )
    text = "\n".join(found)
    assert "objectives[0].key_results[0].metric: measure ratio needs numerator and denominator" in text
    assert "key_results[1].metric: measure sum needs field" in text
    assert "key_results[2].metric: JQL uses {team}, which is not a template value; define it under params" in text
    assert "key_results[3].metric.params: param 'start' is set by okr-sync from the period" in text
    assert "key_results[4].metric: measure percentile needs percentile" in text
    assert "key_results[5].metric.mesure: unknown key 'mesure' (did you mean 'measure'?)" in text
    assert "key_results[6].metric.measure:" in text and "'count'" in text
    assert "key_results[7].metric: field is only used by measure sum" in text


def test_valid_jira_config_binds_queries_and_identical_metrics_share_one_query(write_config):
    path = write_config(HEAD.format(sources=CLOUD, krs=kr(0, "{source: jira, jql: 'project = A'}")
                                    + kr(1, "{source: jira, measure: count, jql: 'project = A'}")))
    config = load_config(path, check_env=False)
    first, second = (k.metric.query for _, k in config.key_results())
    assert first == second  # the default measure is count, so both ask the same question


def test_render_jql_quotes_values_outside_literals_and_escapes_inside():
    values = template_values(date(2026, 10, 1), date(2026, 12, 31), "2026-Q4",
                             {"team": 'A" OR x = "y', "n": 3, "labels": ["a", "b"], "apos": "it's"})
    assert render_jql("team = {team}", values) == 'team = "A\\" OR x = \\"y"'
    assert render_jql('summary ~ "{team} {period}"', values) == 'summary ~ "A\\" OR x = \\"y 2026-Q4"'
    assert render_jql("summary ~ '{apos}'", values) == "summary ~ 'it\\'s'"
    assert render_jql("created >= {start} AND created <= {end}", values) == 'created >= "2026-10-01" AND created <= "2026-12-31 23:59"'
    assert render_jql("votes > {n} AND labels in {labels}", values) == 'votes > 3 AND labels in ("a", "b")'
    assert render_jql('summary ~ "a\\"{n}" AND x = {{literal}}', values) == 'summary ~ "a\\"3" AND x = {literal}'


def test_placeholders_ignore_escaped_braces():
    assert placeholders("a = {x} AND b = {{y}} AND c ~ \"{z}\"") == ["x", "z"]
