"""The jira source against fake Jira Cloud and Data Center instances (HTTP faked with `responses`).

Expected values are worked out by hand from the fixture issues below (see the comments), not by
the code under test; request counts are exact.
"""
from __future__ import annotations

import base64
import json
import logging
import threading
import time
from datetime import datetime, timezone

import pytest
import responses

from connectors.base import Context, RetriableError, SourceError
from connectors.jira import JiraConnector
from connectors.jira_client import retry_after_seconds
from fakes.jira_fake import RATE_429, Failure, FakeJira, issue
from mapping.config import Query
from mapping.period import parse_period
from mapping.results import Observation
from mapping.sources.jira import JiraQuery, JiraSource

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
Q4 = parse_period("2026-Q4")
CLOUD_ENV = {"JIRA_EMAIL": "ops@acme.example", "JIRA_API_TOKEN": "cloud-token-SECRET-123"}
DC_ENV = {"JIRA_PAT": "dc-pat-SECRET-456"}
PERIOD = 'created >= "2026-10-01" AND created <= "2026-12-31 23:59"'
RESOLVED = 'resolved >= "2026-10-01" AND resolved <= "2026-12-31 23:59"'

# --- fixture data -------------------------------------------------------------------------------
ESCAPED_T = "project = PAY AND issuetype = Bug AND labels = escaped AND created >= {start} AND created <= {end}"
ESCAPED = f"project = PAY AND issuetype = Bug AND labels = escaped AND {PERIOD}"
EPIC_T = "parent = PAY-100 AND statusCategory = Done AND resolved >= {start} AND resolved <= {end}"
EPIC = f"parent = PAY-100 AND statusCategory = Done AND {RESOLVED}"
# story points 5 + 3 + null + 8 + 2.5 + null + 13 = 31.5 over 7 issues, 2 nulls
POINTS = [5, 3, None, 8, 2.5, None, 13]
STORIES_T = "project = PAY AND issuetype = Story AND resolved >= {start} AND resolved <= {end}"
STORIES = f"project = PAY AND issuetype = Story AND {RESOLVED}"
# created -> resolved, in days:
#   PAY-11  Oct 1 09:00Z  -> Oct 3 09:00Z            = 2.0
#   PAY-12  Oct 5 10:00+02:00 (08:00Z) -> Oct 9 20:00Z = 4 d 12 h = 4.5
#   PAY-13  Oct 10 00:00Z -> Oct 11 06:00Z           = 1.25
#   PAY-14  Oct 12 00:00Z -> Oct 22 00:00Z           = 10.0
#   PAY-15  no resolution date                        -> skipped
# sorted 1.25, 2.0, 4.5, 10.0: median (2.0 + 4.5) / 2 = 3.25 d = 78 h; mean 17.75 / 4 = 4.4375;
# p90: rank 0.9 * 3 = 2.7 -> 4.5 + 0.7 * (10.0 - 4.5) = 8.35
STORY_ROWS = [
    ("PAY-11", "2026-10-01T09:00:00.000+0000", "2026-10-03T09:00:00.000+0000"),
    ("PAY-12", "2026-10-05T10:00:00.000+0200", "2026-10-09T20:00:00.000+0000"),
    ("PAY-13", "2026-10-10T00:00:00.000+0000", "2026-10-11T06:00:00.000+0000"),
    ("PAY-14", "2026-10-12T00:00:00.000+0000", "2026-10-22T00:00:00.000+0000"),
    ("PAY-15", "2026-10-20T12:00:00.000+0000", None),
]
P1_ALL_T = "project = OPS AND priority = P1 AND created >= {start}"
P1_ALL = 'project = OPS AND priority = P1 AND created >= "2026-10-01"'
P1_SLA_T = P1_ALL_T + ' AND "Time to resolution" = completed() AND "Time to resolution" != everBreached()'
P1_SLA = P1_ALL + ' AND "Time to resolution" = completed() AND "Time to resolution" != everBreached()'


def stories():
    return [issue(key, created=c, resolutiondate=r, summary=f"story {key}") for key, c, r in STORY_ROWS]


def epic_issues(field_id="customfield_10016"):
    return [issue(f"PAY-{101 + i}", **{field_id: p, "summary": "x"}) for i, p in enumerate(POINTS)]


def cloud_fake(**kw) -> FakeJira:
    fake = FakeJira(**kw)
    fake.counts.update({ESCAPED: 17, P1_SLA: 19, P1_ALL: 20})
    fake.issues.update({EPIC: epic_issues(), STORIES: stories()})
    return fake


def source(**kw) -> JiraSource:
    settings = {"kind": "jira", "url": "https://acme.atlassian.net", "email_env": "JIRA_EMAIL", "token_env": "JIRA_API_TOKEN"}
    settings.update(kw)
    return JiraSource.model_validate(settings)


def dc_source(**kw) -> JiraSource:
    settings = {"kind": "jira", "url": "https://jira.example.com/jira", "pat_env": "JIRA_PAT"}
    settings.update(kw)
    return JiraSource.model_validate(settings)


def q(**spec) -> Query:
    return Query.of("jira", JiraQuery.model_validate({"source": "jira", **spec}))


def mock() -> responses.RequestsMock:
    """A responses mock that lets the fake register endpoints a test does not reach."""
    return responses.RequestsMock(assert_all_requests_are_fired=False)


class Sleeps(list):
    """Records the waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def connector(settings: JiraSource, env=None, sleeps=None) -> JiraConnector:
    return JiraConnector("jira", settings, Context(env=env if env is not None else (DC_ENV if settings.pat_env else CLOUD_ENV)),
                         sleep=sleeps if sleeps is not None else Sleeps())


def paths(rsps) -> list[str]:
    return [call.request.url.split("/rest/api/2")[1].split("?")[0] for call in rsps.calls]


def bodies(rsps, path) -> list[dict]:
    return [json.loads(c.request.body) for c in rsps.calls if c.request.url.split("?")[0].endswith(path)]


ALL_MEASURES = {
    "escaped": dict(measure="count", jql=ESCAPED_T),
    "points": dict(measure="sum", jql=EPIC_T, field="Story point estimate"),
    "points_by_id": dict(measure="sum", jql=EPIC_T, field="customfield_10016"),
    "median": dict(measure="median", jql=STORIES_T),
    "median_h": dict(measure="median", jql=STORIES_T, unit="hours"),
    "average": dict(measure="average", jql=STORIES_T),
    "p90": dict(measure="percentile", percentile=90, jql=STORIES_T),
    "sla": dict(measure="ratio", numerator=P1_SLA_T, denominator=P1_ALL_T, scale=100),
    "p1_count": dict(measure="count", jql=P1_ALL_T),  # the ratio's denominator again: not asked twice
}


# --- Cloud --------------------------------------------------------------------------------------
def test_cloud_sync_computes_every_measure_from_the_fixture_with_one_request_per_distinct_query():
    queries = {name: q(**spec) for name, spec in ALL_MEASURES.items()}
    with mock() as rsps:
        cloud_fake().register(rsps)
        answers = connector(source(page_size=3)).fetch(list(queries.values()), Q4, NOW)
        got = {name: answers[query] for name, query in queries.items()}
        assert all(isinstance(r, Observation) for r in got.values()), got
        values = {name: r.value for name, r in got.items()}
        assert values == pytest.approx({
            "escaped": 17, "points": 31.5, "points_by_id": 31.5, "median": 3.25, "median_h": 78.0,
            "average": 4.4375, "p90": 8.35, "sla": 95.0, "p1_count": 20})
        # serverInfo + field list once; 3 distinct counts (escaped, SLA, all P1); the epic listing in
        # 3 pages of 3 (7 issues); the stories listing in 2 pages (5 issues), shared by the 4 duration measures.
        assert sorted(paths(rsps)) == sorted(["/serverInfo", "/field"] + ["/search/approximate-count"] * 3 + ["/search/jql"] * 5)
        assert len(rsps.calls) == 10
        assert sorted(b["jql"] for b in bodies(rsps, "/approximate-count")) == sorted([ESCAPED, P1_SLA, P1_ALL])
        pages = bodies(rsps, "/search/jql")
        epic_pages = [b for b in pages if b["jql"] == EPIC]
        assert [b.get("nextPageToken") is None for b in epic_pages] == [True, False, False]
        assert all(b["fields"] == ["customfield_10016"] and b["maxResults"] == 3 for b in epic_pages)
        story_pages = [b for b in pages if b["jql"] == STORIES]
        assert len(story_pages) == 2 and all(sorted(b["fields"]) == ["created", "resolutiondate"] for b in story_pages)
    assert "2 without a value counted as 0" in got["points"].query and "over 7 issues" in got["points"].query
    assert "1 without both dates skipped" in got["median"].query and "over 4 issues" in got["median"].query
    assert got["sla"].query.startswith("ratio 19/20")
    assert got["escaped"].source == "jira" and got["escaped"].as_of == NOW


def test_cloud_large_pages_request_only_the_needed_field():
    many = [issue(f"PAY-{i}", customfield_10016=1 + i % 3, summary="s") for i in range(2500)]
    # points cycle 1, 2, 3: 833 full cycles (6 points each) + 1 extra issue with 1 point = 4999
    expected = sum(1 + i % 3 for i in range(2500))
    assert expected == 833 * 6 + 1
    fake = FakeJira(issues={EPIC: many})
    with mock() as rsps:
        fake.register(rsps)
        query = q(measure="sum", jql=EPIC_T, field="cf[10016]")
        result = connector(source()).fetch([query], Q4, NOW)[query]
        assert result.value == expected
        pages = bodies(rsps, "/search/jql")
        assert len(pages) == 3 and all(p["maxResults"] == 1000 and p["fields"] == ["customfield_10016"] for p in pages)


def test_repeated_next_page_token_stops_with_an_error_instead_of_looping():
    fake = FakeJira(issues={EPIC: epic_issues()}, repeat_token=True)
    with mock() as rsps:
        fake.register(rsps)
        query = q(measure="sum", jql=EPIC_T, field="Story point estimate")
        result = connector(source(page_size=2)).fetch([query], Q4, NOW)[query]
        assert isinstance(result, SourceError)
        assert "same nextPageToken twice" in str(result) and EPIC in str(result)
        # page 1 hands out token T, page 2 (asked with T) hands out T again -> stop after 2 requests
        assert paths(rsps).count("/search/jql") == 2


def test_max_issues_guards_against_unbounded_jql():
    fake = FakeJira(issues={EPIC: epic_issues()})
    with mock() as rsps:
        fake.register(rsps)
        query = q(measure="sum", jql=EPIC_T, field="Story point estimate")
        result = connector(source(page_size=2, max_issues=5)).fetch([query], Q4, NOW)[query]
        assert isinstance(result, SourceError) and "max_issues=5" in str(result) and "{start}" in str(result)


def test_deployment_setting_skips_server_info():
    with mock() as rsps:
        cloud_fake().register(rsps)
        query = q(measure="count", jql=ESCAPED_T)
        assert connector(source(deployment="cloud")).fetch([query], Q4, NOW)[query].value == 17
        assert paths(rsps) == ["/search/approximate-count"]


# --- Data Center --------------------------------------------------------------------------------
def dc_fake(**kw) -> FakeJira:
    escaped_bugs = [issue(f"PAY-{500 + i}", summary="bug") for i in range(12)]
    p1 = [issue(f"OPS-{i}", summary="incident") for i in range(8)]
    fake = FakeJira(url="https://jira.example.com/jira", cloud=False, **kw)
    fake.issues.update({ESCAPED: escaped_bugs, EPIC: epic_issues("customfield_10106"), STORIES: stories(),
                        P1_ALL: p1, P1_SLA: p1[:6]})
    return fake


def test_datacenter_counts_with_total_and_pages_with_start_at():
    queries = {
        "escaped": q(measure="count", jql=ESCAPED_T),
        "points": q(measure="sum", jql=EPIC_T, field="Story Points"),
        "median": q(measure="median", jql=STORIES_T),
        "sla": q(measure="ratio", numerator=P1_SLA_T, denominator=P1_ALL_T, scale=100),
    }
    with mock() as rsps:
        dc_fake().register(rsps)
        answers = connector(dc_source(page_size=3)).fetch(list(queries.values()), Q4, NOW)
        values = {name: getattr(answers[query], "value", answers[query]) for name, query in queries.items()}
        # 12 escaped bugs; 31.5 points; median 3.25 d; 6 of 8 P1 within SLA = 75%
        assert values == pytest.approx({"escaped": 12, "points": 31.5, "median": 3.25, "sla": 75.0})
        searches = bodies(rsps, "/search")
        counts = [b for b in searches if b["maxResults"] == 1]
        assert sorted(b["jql"] for b in counts) == sorted([ESCAPED, P1_ALL, P1_SLA])
        assert all(b["startAt"] == 0 and b["fields"] == ["issuekey"] for b in counts)
        epic = [b for b in searches if b["jql"] == EPIC]
        assert [b["startAt"] for b in epic] == [0, 3, 6] and all(b["fields"] == ["customfield_10106"] for b in epic)
        # serverInfo + field + 3 counts + 3 epic pages + 2 story pages (5 stories, pages of 3)
        assert len(rsps.calls) == 2 + 3 + 3 + 2
        assert all(c.request.headers["Authorization"] == "Bearer dc-pat-SECRET-456" for c in rsps.calls[1:])


def test_datacenter_server_page_cap_is_followed():
    fake = dc_fake(max_page=2)  # the server returns at most 2 issues per page whatever we ask
    with mock() as rsps:
        fake.register(rsps)
        query = q(measure="sum", jql=EPIC_T, field="Story Points")
        assert connector(dc_source()).fetch([query], Q4, NOW)[query].value == 31.5
        assert [b["startAt"] for b in bodies(rsps, "/search") if b["jql"] == EPIC] == [0, 2, 4, 6]


# --- errors -------------------------------------------------------------------------------------
def test_retries_honour_retry_after_and_never_sleep_less():
    fake = cloud_fake()
    fake.fail(ESCAPED, Failure(429, RATE_429, {"Retry-After": "7"}), Failure(503, {"errorMessages": []}, {"Retry-After": "45"}))
    sleeps = Sleeps()
    with mock() as rsps:
        fake.register(rsps)
        query = q(measure="count", jql=ESCAPED_T)
        result = connector(source(), sleeps=sleeps).fetch([query], Q4, NOW)[query]
        assert result.value == 17
        assert paths(rsps).count("/search/approximate-count") == 3
    # exactly what was asked; the library's own retry would have slept 2*45 capped at 60 x jitter 0.5..1
    assert sleeps == [7.0, 45.0]


def test_without_retry_after_backoff_is_exponential():
    fake = cloud_fake()
    fake.fail(ESCAPED, Failure(503), Failure(502), Failure(504))
    sleeps = Sleeps()
    with mock() as rsps:
        fake.register(rsps)
        query = q(measure="count", jql=ESCAPED_T)
        assert connector(source(), sleeps=sleeps).fetch([query], Q4, NOW)[query].value == 17
    assert sleeps == [1.0, 2.0, 4.0]


def test_rate_limit_that_persists_fails_only_that_query_after_bounded_retries():
    fake = cloud_fake()
    fake.fail(ESCAPED, *[Failure(429, RATE_429, {"Retry-After": "1"})] * 5)
    sleeps = Sleeps()
    with mock() as rsps:
        fake.register(rsps)
        bad, good = q(measure="count", jql=ESCAPED_T), q(measure="count", jql=P1_ALL_T)
        answers = connector(source(retries=2), sleeps=sleeps).fetch([bad, good], Q4, NOW)
        assert answers[good].value == 20
        assert isinstance(answers[bad], SourceError)
        assert "429" in str(answers[bad]) and "after 2 retries" in str(answers[bad]) and "concurrency" in str(answers[bad])
        assert [b["jql"] for b in bodies(rsps, "/approximate-count")].count(ESCAPED) == 3
    assert sleeps == [1.0, 1.0]


def test_retry_after_longer_than_allowed_fails_the_query_without_sleeping():
    fake = cloud_fake()
    fake.fail(ESCAPED, Failure(429, RATE_429, {"Retry-After": "3600"}))
    sleeps = Sleeps()
    with mock() as rsps:
        fake.register(rsps)
        query = q(measure="count", jql=ESCAPED_T)
        result = connector(source(max_retry_wait_seconds=60), sleeps=sleeps).fetch([query], Q4, NOW)[query]
    assert isinstance(result, SourceError) and "3600s" in str(result) and "max_retry_wait_seconds=60" in str(result)
    assert sleeps == []


def test_server_info_unreachable_is_retriable_for_the_whole_batch():
    fake = cloud_fake()
    fake.fail("/serverInfo", *[Failure(503, {"errorMessages": []}, {"Retry-After": "2"})] * 4)
    sleeps = Sleeps()
    with mock() as rsps:
        fake.register(rsps)
        with pytest.raises(RetriableError) as caught:
            connector(source(), sleeps=sleeps).fetch([q(measure="count", jql=ESCAPED_T)], Q4, NOW)
    assert caught.value.retry_after == 2.0 and str(caught.value).startswith("source 'jira': Jira kept failing (HTTP 503) for serverInfo")
    assert sleeps == [2.0, 2.0, 2.0]


def test_bad_jql_shows_jiras_message_with_the_query_and_fails_only_that_kr():
    message = "Field 'priorty' does not exist or you do not have permission to view it."
    bad_jql = 'priorty = P1 AND created >= "2026-10-01"'
    fake = cloud_fake(bad_jql={bad_jql: message})
    with mock() as rsps:
        fake.register(rsps)
        bad, good = q(measure="count", jql="priorty = P1 AND created >= {start}"), q(measure="count", jql=ESCAPED_T)
        answers = connector(source()).fetch([bad, good], Q4, NOW)
    assert answers[good].value == 17
    text = str(answers[bad])
    assert text == f"source 'jira': Jira rejected JQL {bad_jql!r}: {message}"


def test_bad_ratio_side_says_which_side_failed():
    fake = cloud_fake(bad_jql={P1_SLA: "Field 'Time to resolution' does not exist"})
    with mock() as rsps:
        fake.register(rsps)
        query = q(measure="ratio", numerator=P1_SLA_T, denominator=P1_ALL_T)
        result = connector(source()).fetch([query], Q4, NOW)[query]
    assert str(result).startswith("source 'jira': numerator Jira rejected JQL") and "Time to resolution" in str(result)


def test_cloud_401_names_the_env_vars_says_tokens_expire_and_stops_sending():
    env = {"JIRA_EMAIL": "ops@acme.example", "JIRA_API_TOKEN": "expired-token-SECRET-789"}
    with mock() as rsps:
        cloud_fake().register(rsps)
        queries = [q(measure="count", jql=ESCAPED_T), q(measure="count", jql=P1_ALL_T), q(measure="count", jql=P1_SLA_T)]
        answers = connector(source(concurrency=1), env=env).fetch(queries, Q4, NOW)
        # serverInfo answers anonymously; the first count gets 401; the other two are not sent
        assert paths(rsps) == ["/serverInfo", "/search/approximate-count"]
    for answer in answers.values():
        text = str(answer)
        assert isinstance(answer, SourceError) and "401" in text
        assert "JIRA_EMAIL" in text and "JIRA_API_TOKEN" in text and "expire" in text
        assert "expired-token-SECRET-789" not in text


def test_datacenter_401_names_the_pat_env_var():
    with mock() as rsps:
        dc_fake().register(rsps)
        query = q(measure="count", jql=ESCAPED_T)
        result = connector(dc_source(), env={"JIRA_PAT": "wrong-pat-SECRET"}).fetch([query], Q4, NOW)[query]
        assert paths(rsps) == ["/serverInfo", "/field"]  # the field list (needed by Data Center searches) was refused
    assert "401" in str(result) and "JIRA_PAT" in str(result) and "wrong-pat-SECRET" not in str(result)


def test_403_says_permission_or_captcha_and_which_env_vars():
    fake = cloud_fake()
    fake.fail(ESCAPED, Failure(403, {"errorMessages": ["You do not have permission to view these issues."], "errors": {}}))
    with mock() as rsps:
        fake.register(rsps)
        query = q(measure="count", jql=ESCAPED_T)
        text = str(connector(source()).fetch([query], Q4, NOW)[query])
    assert "403" in text and "permission" in text and "CAPTCHA" in text and "JIRA_API_TOKEN" in text


def test_410_from_cloud_explains_the_search_api_change():
    with mock() as rsps:
        cloud_fake().register(rsps)
        query = q(measure="count", jql=ESCAPED_T)
        result = connector(source(deployment="datacenter")).fetch([query], Q4, NOW)[query]
    text = str(result)
    assert "410" in text and "CHANGE-2046" in text and "/search/jql" in text and "deployment" in text


def test_unknown_field_name_lists_close_matches():
    with mock() as rsps:
        cloud_fake().register(rsps)
        query = q(measure="sum", jql=EPIC_T, field="Story Points")
        result = connector(source()).fetch([query], Q4, NOW)[query]
        assert paths(rsps) == ["/serverInfo", "/field"]  # nothing searched for a query that cannot be answered
    assert "unknown Jira field 'Story Points'" in str(result) and "'Story point estimate'" in str(result)


def test_summing_a_field_that_is_not_a_number_is_refused():
    with mock() as rsps:
        cloud_fake().register(rsps)
        query = q(measure="sum", jql=EPIC_T, field="Sprint")
        result = connector(source()).fetch([query], Q4, NOW)[query]
    assert "Sprint (customfield_10020)" in str(result) and "'array'" in str(result) and "number" in str(result)


def test_duration_fields_must_be_dates():
    with mock() as rsps:
        cloud_fake().register(rsps)
        query = q(measure="median", jql=STORIES_T, from_field="Summary")
        result = connector(source()).fetch([query], Q4, NOW)[query]
    assert "Summary (summary)" in str(result) and "date or datetime" in str(result)


def test_duration_by_custom_date_field_name():
    # Started -> Resolved: PAY-11 started Oct 2 09:00Z (resolved Oct 3 09:00Z) = 1.0 d; PAY-12 Oct 8 20:00Z -> Oct 9 20:00Z = 1.0 d;
    # PAY-13 has no start -> skipped; mean 1.0 d = 24 h
    rows = stories()[:3]
    rows[0]["fields"]["customfield_10040"] = "2026-10-02T09:00:00.000+0000"
    rows[1]["fields"]["customfield_10040"] = "2026-10-08T22:00:00.000+0200"
    rows[2]["fields"]["customfield_10040"] = None
    fake = FakeJira(issues={STORIES: rows})
    with mock() as rsps:
        fake.register(rsps)
        query = q(measure="average", jql=STORIES_T, from_field="Started", to_field="Resolved", unit="hours")
        result = connector(source()).fetch([query], Q4, NOW)[query]
        assert sorted(bodies(rsps, "/search/jql")[0]["fields"]) == ["customfield_10040", "resolutiondate"]
    assert result.value == pytest.approx(24.0) and "1 without both dates skipped" in result.query


def test_no_issue_with_both_dates_is_an_error_not_a_zero():
    fake = FakeJira(issues={STORIES: [issue("PAY-1", created="2026-10-01T00:00:00.000+0000", resolutiondate=None)]})
    with mock() as rsps:
        fake.register(rsps)
        query = q(measure="median", jql=STORIES_T)
        result = connector(source()).fetch([query], Q4, NOW)[query]
    assert isinstance(result, SourceError) and "none of the 1 issues" in str(result)


def test_empty_denominator_is_reported_not_a_crash():
    fake = cloud_fake()
    fake.counts[P1_ALL] = 0
    fake.counts[P1_SLA] = 0
    with mock() as rsps:
        fake.register(rsps)
        query = q(measure="ratio", numerator=P1_SLA_T, denominator=P1_ALL_T, scale=100)
        result = connector(source()).fetch([query], Q4, NOW)[query]
    assert isinstance(result, SourceError) and "denominator" in str(result) and "matches no issues" in str(result)


def test_template_values_are_quoted_so_they_cannot_change_the_query():
    sneaky = 'PAY" OR project = SECRET OR summary ~ "x'
    rendered = ('project = "PAY\\" OR project = SECRET OR summary ~ \\"x" AND labels in ("escaped", "prod") '
                'AND summary !~ "2026-Q4 PAY\\" OR project = SECRET OR summary ~ \\"x" AND created >= "2026-10-01"')
    fake = FakeJira(counts={rendered: 3})
    with mock() as rsps:
        fake.register(rsps)
        query = q(measure="count", params={"team": sneaky, "labels": ["escaped", "prod"]},
                  jql='project = {team} AND labels in {labels} AND summary !~ "{period} {team}" AND created >= {start}')
        result = connector(source()).fetch([query], Q4, NOW)[query]
        assert bodies(rsps, "/approximate-count")[0]["jql"] == rendered
    assert result.value == 3


def test_secrets_never_reach_messages_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    fake = cloud_fake()
    fake.fail(ESCAPED, Failure(429, RATE_429, {"Retry-After": "1"}), Failure(400, {"errorMessages": ["bad"], "errors": {}}))
    with mock() as rsps:
        fake.register(rsps)
        queries = [q(measure="count", jql=ESCAPED_T), q(measure="sum", jql=EPIC_T, field="Story Points")]
        answers = connector(source()).fetch(queries, Q4, NOW)
    texts = [str(a) for a in answers.values()] + [r.getMessage() for r in caplog.records]
    secret_b64 = base64.b64encode(b"ops@acme.example:cloud-token-SECRET-123").decode()
    assert texts and not [t for t in texts if "cloud-token-SECRET-123" in t or secret_b64 in t]


def test_missing_env_var_is_a_clear_error_before_any_request():
    with mock() as rsps:
        cloud_fake().register(rsps)
        with pytest.raises(SourceError) as caught:
            connector(source(), env={"JIRA_EMAIL": "ops@acme.example"}).fetch([q(measure="count", jql=ESCAPED_T)], Q4, NOW)
        assert len(rsps.calls) == 0
    assert str(caught.value) == ("source 'jira': environment variable JIRA_API_TOKEN (Jira API token) is not set; "
                                 "export it before running")


# --- concurrency --------------------------------------------------------------------------------
def test_distinct_queries_run_concurrently_within_the_bound():
    jqls = [f"project = P{i}" for i in range(12)]
    fake = FakeJira(counts={j: i for i, j in enumerate(jqls)})
    active, peak, lock = [0], [0], threading.Lock()
    original = fake._approximate_count

    def slow_count(request):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)  # let overlapping requests overlap; the assertion is an upper bound, not a timing
        with lock:
            active[0] -= 1
        return original(request)

    fake._approximate_count = slow_count  # type: ignore[method-assign]
    with mock() as rsps:
        fake.register(rsps)
        queries = [q(measure="count", jql=j) for j in jqls]
        answers = connector(source(concurrency=3)).fetch(queries, Q4, NOW)
    assert [answers[query].value for query in queries] == list(range(12))
    assert 1 <= peak[0] <= 3


def test_client_has_a_timeout_and_leaves_retries_to_okr_sync():
    from connectors.jira_client import build_client
    client = build_client(source(timeout_seconds=12), Context(env=CLOUD_ENV))
    session = client._session  # the library's ResilientSession
    assert session.timeout == 12 and session.max_retries == 0
    assert session.auth == ("ops@acme.example", "cloud-token-SECRET-123")


# --- pure helpers -------------------------------------------------------------------------------
def test_retry_after_reads_seconds_http_dates_and_rate_limit_reset():
    import requests
    now = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)

    def response(**headers):
        r = requests.Response()
        r.headers.update(headers)
        return r

    assert retry_after_seconds(response(**{"Retry-After": "30"}), now) == 30.0
    assert retry_after_seconds(response(**{"Retry-After": "Sun, 15 Nov 2026 12:01:30 GMT"}), now) == 90.0
    assert retry_after_seconds(response(**{"X-RateLimit-Reset": "2026-11-15T12:00:10Z"}), now) == 10.0
    assert retry_after_seconds(response(), now) is None

