"""The jira source "as of" a past day, against fake Jira Cloud and Data Center faked with `responses`.

The fake here answers from one pool of issues by evaluating the small JQL subset these tests use
(`project =`, `created`/`resolved` compared with absolute dates), so a JQL that still carried the
period's own end would count issues created after the evaluated day. Expected values are computed
in Python from the same pool.
"""
from __future__ import annotations

import json
import random
import re
import statistics
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import pytest
import responses

from connectors.base import AS_OF_PHRASE, Context, NotAsOfError
from connectors.jira import JiraConnector
from fakes.jira_fake import FakeJira, issue
from mapping.config import Query
from mapping.period import parse_period
from mapping.results import Observation
from mapping.sources.jira import JiraQuery, JiraSource

Q4 = parse_period("2026-Q4")
DAY = date(2026, 11, 10)
AS_OF = Q4.until(DAY)
END_OF_DAY = datetime.combine(DAY, time(23, 59, 59), tzinfo=timezone.utc)
TODAY = datetime(2026, 12, 20, 9, 0, tzinfo=timezone.utc)
CLOUD_ENV = {"JIRA_EMAIL": "ops@acme.example", "JIRA_API_TOKEN": "cloud-token-SECRET-123"}
DC_ENV = {"JIRA_PAT": "dc-pat-SECRET-456"}


def jira_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def make_pool(seed: int = 3) -> list[dict[str, Any]]:
    """Issues of PAY created from late September to late December, most resolved 0.5-20 days later."""
    rng = random.Random(seed)
    pool = []
    for n in range(1, 61):
        created = datetime(2026, 9, 20, tzinfo=timezone.utc) + timedelta(hours=rng.randint(0, 90 * 24 - 1), minutes=rng.choice([0, 15, 30]))
        resolved = created + timedelta(hours=rng.randint(12, 20 * 24)) if rng.random() < 0.8 else None
        pool.append({"key": f"PAY-{n}", "created": created, "resolved": resolved, "points": rng.choice([1, 2, 3, 5, 8, None])})
    return pool


POOL = make_pool()
CLAUSE = re.compile(r'^(project|created|resolved)\s*(=|>=|<=)\s*"?([^"]+)"?$')


def matches(row: dict[str, Any], jql: str) -> bool:
    """Does an issue of the pool match this JQL (clauses joined by AND; dates in UTC, as the fake Jira's user)?"""
    for clause in jql.split(" AND "):
        match = CLAUSE.match(clause.strip())
        if not match:
            raise KeyError(f"the test fake cannot evaluate {clause!r}")
        name, op, value = match.groups()
        if name == "project":
            if value != "PAY":
                return False
            continue
        moment = row[name]
        if moment is None:
            return False
        bound = datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
        if (op == ">=" and moment < bound) or (op == "<=" and moment > bound + timedelta(seconds=59)):
            return False
    return True


class PoolIssues(dict):
    """The fake's issues-by-JQL, computed from POOL for whatever JQL comes in."""

    def _evaluate(self, jql: str) -> list[dict[str, Any]] | None:
        try:
            rows = [row for row in POOL if matches(row, jql)]
        except (KeyError, ValueError):  # not a JQL this fake can evaluate: Jira's 400 (or the test's own counts)
            return None
        return [issue(row["key"], created=jira_time(row["created"]),
                      resolutiondate=jira_time(row["resolved"]) if row["resolved"] else None,
                      customfield_10016=row["points"], customfield_10106=row["points"], summary="x") for row in rows]

    def __contains__(self, jql: object) -> bool:
        return isinstance(jql, str) and self._evaluate(jql) is not None

    def get(self, jql: str, default: Any = None) -> Any:
        found = self._evaluate(jql)
        return default if found is None else found


def fake(cloud: bool = True) -> FakeJira:
    jira = FakeJira(cloud=cloud, url="https://acme.atlassian.net" if cloud else "https://jira.example.com/jira")
    jira.issues = PoolIssues()
    return jira


def connector(cloud: bool = True) -> JiraConnector:
    if cloud:
        settings = JiraSource(kind="jira", url="https://acme.atlassian.net", email_env="JIRA_EMAIL", token_env="JIRA_API_TOKEN")
    else:
        settings = JiraSource(kind="jira", url="https://jira.example.com/jira", pat_env="JIRA_PAT")
    return JiraConnector("jira", settings, Context(env=CLOUD_ENV if cloud else DC_ENV), sleep=lambda s: None)


def q(**spec: Any) -> Query:
    return Query.of("jira", JiraQuery.model_validate({"source": "jira", **spec}))


def mock() -> responses.RequestsMock:
    return responses.RequestsMock(assert_all_requests_are_fired=False)


def sent_jql(rsps) -> list[str]:
    """The JQL of every search/count request sent, in order."""
    return [json.loads(c.request.body)["jql"] for c in rsps.calls if "/search" in c.request.url]


def in_window(row: dict[str, Any], field: str, first: date, last: datetime) -> bool:
    moment = row[field]
    return moment is not None and datetime.combine(first, time.min, tzinfo=timezone.utc) <= moment <= last


CREATED_T = "project = PAY AND created >= {start} AND created <= {end}"


@pytest.mark.parametrize("cloud", [True, False], ids=["cloud", "datacenter"])
def test_count_as_of_a_past_day_uses_the_clipped_end(cloud):
    query = q(measure="count", jql=CREATED_T)
    with mock() as rsps:
        fake(cloud).register(rsps)
        result = connector(cloud).fetch([query], AS_OF, END_OF_DAY)[query]
        assert sent_jql(rsps) == ['project = PAY AND created >= "2026-10-01" AND created <= "2026-11-10 23:59"']
    assert isinstance(result, Observation)
    assert result.value == sum(1 for row in POOL if in_window(row, "created", Q4.start, END_OF_DAY))
    assert result.as_of == END_OF_DAY


def test_count_today_still_covers_the_whole_period():
    query = q(measure="count", jql=CREATED_T)
    with mock() as rsps:
        fake().register(rsps)
        result = connector().fetch([query], Q4, TODAY)[query]
    period_end = datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    assert result.value == sum(1 for row in POOL if in_window(row, "created", Q4.start, period_end))
    assert result.value > sum(1 for row in POOL if in_window(row, "created", Q4.start, END_OF_DAY))


def test_sum_bounded_by_as_of():
    query = q(measure="sum", field="Story point estimate", jql="project = PAY AND resolved >= {start} AND resolved <= {as_of}")
    with mock() as rsps:
        fake().register(rsps)
        result = connector().fetch([query], AS_OF, END_OF_DAY)[query]
        assert 'resolved <= "2026-11-10 23:59"' in sent_jql(rsps)[0]
    assert result.value == sum(row["points"] or 0 for row in POOL if in_window(row, "resolved", Q4.start, END_OF_DAY))


def test_as_of_in_a_normal_sync_is_today():
    query = q(measure="count", jql="project = PAY AND created >= {start} AND created <= {as_of}")
    with mock() as rsps:
        fake().register(rsps)
        connector().fetch([query], Q4, TODAY)
        assert sent_jql(rsps) == ['project = PAY AND created >= "2026-10-01" AND created <= "2026-12-20 23:59"']


def test_durations_ending_after_the_day_are_left_out():
    # the JQL bounds creation, not resolution: issues resolved after the day come back from Jira
    query = q(measure="median", unit="hours", jql=CREATED_T)
    with mock() as rsps:
        fake().register(rsps)
        result = connector().fetch([query], AS_OF, END_OF_DAY)[query]
    created = [row for row in POOL if in_window(row, "created", Q4.start, END_OF_DAY)]
    done = [row for row in created if row["resolved"] is not None and row["resolved"] <= END_OF_DAY]
    later = [row for row in created if row["resolved"] is not None and row["resolved"] > END_OF_DAY]
    assert later, "the pool must hold issues resolved after the day for this test to mean anything"
    expected = statistics.median((row["resolved"] - row["created"]).total_seconds() / 3600 for row in done)
    assert isinstance(result, Observation)
    assert result.value == pytest.approx(expected)
    assert f"{len(later)} ending after 2026-11-10 skipped" in result.query


RELATIVE = [
    ("project = PAY AND created >= startOfMonth() AND created <= {end}", "startOfMonth()"),
    ("project = PAY AND created >= startOfWeek(-1) AND created <= {end}", "startOfWeek()"),
    ("project = PAY AND created <= now() AND created >= {start}", "now()"),
    ("project = PAY AND due <= endOfDay() AND created <= {end}", "endOfDay()"),
    ("project = PAY AND updated >= currentLogin() AND created <= {end}", "currentLogin()"),
    ("project = PAY AND updated >= lastLogin() AND created <= {end}", "lastLogin()"),
    ("project = PAY AND created >= -30d AND created <= {end}", "-30d"),
    ('project = PAY AND resolved >= "-2w" AND created <= {end}', '"-2w"'),
    ("project = PAY AND updated > -4h AND created <= {as_of}", "-4h"),
    ("project = PAY AND status CHANGED DURING ('-1w', {end})", "'-1w'"),
    ("project = PAY AND sprint in openSprints() AND created <= {end}", "openSprints()"),
]


@pytest.mark.parametrize("template,construct", RELATIVE)
def test_relative_jql_is_refused_without_a_request(template, construct):
    query = q(measure="count", jql=template)
    with mock() as rsps:
        fake().register(rsps)
        result = connector().fetch([query], AS_OF, END_OF_DAY)[query]
        assert len(rsps.calls) == 0  # not even serverInfo
    assert isinstance(result, NotAsOfError)
    text = str(result)
    assert text.startswith("source 'jira': ") and AS_OF_PHRASE in text and construct in text


def test_a_relative_duration_given_as_a_param_is_refused_too():
    query = q(measure="count", jql="project = PAY AND created >= {since} AND created <= {end}", params={"since": "-30d"})
    with mock() as rsps:
        fake().register(rsps)
        result = connector().fetch([query], AS_OF, END_OF_DAY)[query]
        assert len(rsps.calls) == 0
    assert isinstance(result, NotAsOfError) and '"-30d"' in str(result)


@pytest.mark.parametrize("spec", [
    dict(measure="count", jql="project = PAY AND created >= {start}"),
    dict(measure="sum", field="Story point estimate", jql="project = PAY"),
    dict(measure="ratio", numerator="project = PAY AND resolved <= {end}", denominator="project = PAY AND created >= {start}"),
], ids=["count", "sum", "ratio-denominator"])
def test_jql_without_end_or_as_of_is_refused_without_a_request(spec):
    query = q(**spec)
    with mock() as rsps:
        fake().register(rsps)
        result = connector().fetch([query], AS_OF, END_OF_DAY)[query]
        assert len(rsps.calls) == 0
    assert isinstance(result, NotAsOfError)
    assert f"{AS_OF_PHRASE} JQL references neither {{end}} nor {{as_of}}" in str(result)


def test_in_a_mixed_batch_only_the_evaluable_queries_are_sent():
    good = q(measure="count", jql=CREATED_T)
    relative = q(measure="count", jql="project = PAY AND created >= -30d AND created <= {end}")
    unbounded = q(measure="count", jql="project = PAY AND created >= {start}")
    with mock() as rsps:
        fake().register(rsps)
        results = connector().fetch([good, relative, unbounded], AS_OF, END_OF_DAY)
        assert sent_jql(rsps) == ['project = PAY AND created >= "2026-10-01" AND created <= "2026-11-10 23:59"']
    assert results[good].value == sum(1 for row in POOL if in_window(row, "created", Q4.start, END_OF_DAY))
    assert isinstance(results[relative], NotAsOfError) and isinstance(results[unbounded], NotAsOfError)


def test_relative_jql_still_runs_in_a_normal_sync():
    jql = "project = PAY AND created >= startOfMonth()"
    query = q(measure="count", jql=jql)
    with mock() as rsps:
        jira = fake()
        jira.counts[jql] = 7
        jira.register(rsps)
        result = connector().fetch([query], Q4, TODAY)[query]
    assert result.value == 7
