"""The rest source, faked at the HTTP boundary with `responses`: templating, auth, JMESPath, pagination, retries."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import responses
from responses import matchers

from connectors.base import Context, RetriableError, SourceError
from connectors.rest import RestConnector
from mapping.config import Query
from mapping.errors import ConfigError
from mapping.loader import load_config
from mapping.period import parse_period
from mapping.results import Observation
from mapping.sources.rest import RestQuery, RestSource

NOW = datetime(2026, 11, 15, 12, tzinfo=timezone.utc)
Q4 = parse_period("2026-Q4")
BASE = "https://mes.example.com/api/v1"
ENV = {"MES_TOKEN": "tok-123", "MES_USER": "okr", "MES_PASSWORD": "pw-456", "MES_KEY": "key-789"}
ROWS = [
    {"day": "2026-10-01", "line": "A", "produced": 2000, "defects": 18},
    {"day": "2026-10-01", "line": "B", "produced": 1900, "defects": 31},
    {"day": "2026-10-02", "line": "A", "produced": 2100, "defects": 12},
    {"day": "2026-10-02", "line": "B", "produced": 1800, "defects": 27},
    {"day": "2026-10-03", "line": "A", "produced": 2050, "defects": 9},
]


def source(**overrides) -> RestSource:
    settings = {"kind": "rest", "base_url": BASE, "auth": "bearer", "token_env": "MES_TOKEN", "backoff_seconds": 0, **overrides}
    return RestSource(**settings)


def connector(**overrides) -> RestConnector:
    return RestConnector("mes", source(**overrides), Context(env=ENV))


def q(**fields) -> Query:
    return Query.of("mes", RestQuery(source="mes", **fields))


@responses.activate
def test_get_with_templated_params_bearer_token_and_jmespath_sum():
    responses.get(f"{BASE}/production", json={"rows": ROWS, "count": len(ROWS)},
                  match=[matchers.query_param_matcher({"from": "2026-10-01", "to": "2026-12-31", "q": "2026-Q4"}),
                         matchers.header_matcher({"Authorization": "Bearer tok-123"})])
    query = q(path="/production", params={"from": "{start}", "to": "{end}", "q": "{period}"}, extract="sum(rows[?line=='A'].defects)")
    result = connector().fetch([query], Q4, NOW)[query]
    assert isinstance(result, Observation)
    assert result.value == sum(r["defects"] for r in ROWS if r["line"] == "A")  # 18 + 12 + 9


@responses.activate
def test_two_kris_extracting_from_the_same_request_cost_one_call():
    responses.get(f"{BASE}/production", json={"rows": ROWS})
    defects = q(path="/production", extract="sum(rows[].defects)")
    produced = q(path="/production", extract="sum(rows[].produced)")
    results = connector().fetch([defects, produced], Q4, NOW)
    assert len(responses.calls) == 1
    assert results[defects].value == sum(r["defects"] for r in ROWS)
    assert results[produced].value == sum(r["produced"] for r in ROWS)


@responses.activate
def test_post_body_is_templated_and_api_key_header_sent():
    responses.post(f"{BASE}/reports/run", json={"result": {"value": "12.5%"}},
                   match=[matchers.json_params_matcher({"report": "defects", "range": {"from": "2026-10-01", "to": "2026-12-31"}}),
                          matchers.header_matcher({"X-Plant-Key": "key-789"})])
    query = q(path="reports/run", method="POST", body={"report": "defects", "range": {"from": "{start}", "to": "{end}"}},
              extract="result.value")
    result = connector(auth="api_key", api_key_env="MES_KEY", api_key_header="X-Plant-Key", token_env=None).fetch([query], Q4, NOW)[query]
    assert result.value == 12.5


@responses.activate
def test_basic_auth_from_env_vars():
    import base64
    expected = "Basic " + base64.b64encode(b"okr:pw-456").decode()
    responses.get(f"{BASE}/kpi", json={"oee": 0.71}, match=[matchers.header_matcher({"Authorization": expected})])
    query = q(path="/kpi", extract="oee")
    assert connector(auth="basic", username_env="MES_USER", password_env="MES_PASSWORD", token_env=None).fetch([query], Q4, NOW)[query].value == 0.71


@responses.activate
def test_next_link_pagination_joins_every_page():
    pages = [ROWS[:2], ROWS[2:4], ROWS[4:]]
    responses.get(f"{BASE}/production", json={"data": pages[0], "links": {"next": f"{BASE}/production?cursor=p2"}},
                  match=[matchers.query_param_matcher({"line": "all"})])
    responses.get(f"{BASE}/production", json={"data": pages[1], "links": {"next": "/api/v1/production?cursor=p3"}},
                  match=[matchers.query_param_matcher({"cursor": "p2"})])
    responses.get(f"{BASE}/production", json={"data": pages[2], "links": {"next": None}},
                  match=[matchers.query_param_matcher({"cursor": "p3"})])
    query = q(path="/production", params={"line": "all"}, extract="sum(data[].defects)",
              paginate={"style": "next", "items": "data", "next": "links.next"})
    result = connector().fetch([query], Q4, NOW)[query]
    assert len(responses.calls) == 3
    assert result.value == sum(r["defects"] for r in ROWS)


@responses.activate
def test_cursor_pagination_refuses_a_repeated_token():
    responses.get(f"{BASE}/production", json={"data": ROWS[:2], "next_cursor": "abc"}, match=[matchers.query_param_matcher({})])
    responses.get(f"{BASE}/production", json={"data": ROWS[2:4], "next_cursor": "abc"}, match=[matchers.query_param_matcher({"cursor": "abc"})])
    query = q(path="/production", extract="length(data)",
              paginate={"style": "next", "items": "data", "next": "next_cursor", "cursor_param": "cursor"})
    result = connector().fetch([query], Q4, NOW)[query]
    assert isinstance(result, SourceError)
    assert "next-page token 'abc' twice" in str(result)
    assert len(responses.calls) == 2


@responses.activate
def test_page_number_pagination_stops_at_a_short_page():
    for page, rows in ((1, ROWS[:2]), (2, ROWS[2:4]), (3, ROWS[4:])):
        responses.get(f"{BASE}/production", json={"result": {"rows": rows}},
                      match=[matchers.query_param_matcher({"page": str(page), "per_page": "2"})])
    query = q(path="/production", extract="sum(result.rows[?line=='B'].defects)",
              paginate={"style": "page", "items": "result.rows", "size_param": "per_page", "size": 2})
    assert connector().fetch([query], Q4, NOW)[query].value == 31 + 27
    assert len(responses.calls) == 3


@responses.activate
def test_offset_pagination_and_the_page_limit():
    for offset in (0, 2, 4):
        responses.get(f"{BASE}/production", json={"items": ROWS[offset:offset + 2]},
                      match=[matchers.query_param_matcher({"offset": str(offset), "limit": "2"})])
    full = q(path="/production", extract="length(items)",
             paginate={"style": "offset", "items": "items", "size_param": "limit", "size": 2})
    capped = q(path="/production", extract="length(items)",
               paginate={"style": "offset", "items": "items", "size_param": "limit", "size": 2, "max_pages": 2})
    results = connector().fetch([full, capped], Q4, NOW)
    assert results[full].value == len(ROWS)
    assert "more than 2 pages" in str(results[capped])


@responses.activate
def test_server_errors_are_retried_then_succeed():
    responses.get(f"{BASE}/kpi", status=503)
    responses.get(f"{BASE}/kpi", status=502)
    responses.get(f"{BASE}/kpi", json={"oee": 0.64})
    query = q(path="/kpi", extract="oee")
    assert connector(retries=3).fetch([query], Q4, NOW)[query].value == 0.64
    assert len(responses.calls) == 3


@responses.activate
def test_429_is_retried():
    responses.get(f"{BASE}/kpi", status=429, headers={"Retry-After": "7"})
    responses.get(f"{BASE}/kpi", json={"oee": 0.5})
    query = q(path="/kpi", extract="oee")
    assert connector(retries=2).fetch([query], Q4, NOW)[query].value == 0.5
    assert len(responses.calls) == 2


def test_session_retry_waits_as_long_as_retry_after_says(monkeypatch):
    """`responses` skips urllib3's sleeps, so the session's Retry policy is exercised directly."""
    from urllib3.response import HTTPResponse

    from connectors.rest import make_session
    slept: list[float] = []
    monkeypatch.setattr("urllib3.util.retry.time.sleep", slept.append)
    retry = make_session(source(retries=3, backoff_seconds=0.5)).get_adapter(BASE).max_retries
    answer = HTTPResponse(status=429, headers={"Retry-After": "7"})
    retry = retry.increment("GET", "/kpi", response=answer)
    retry.sleep(answer)
    assert slept == [7.0]
    assert retry.is_retry("POST", 503) and not retry.is_retry("GET", 404)


@responses.activate
def test_retries_are_bounded_and_the_batch_becomes_retriable():
    responses.get(f"{BASE}/kpi", status=503, headers={"Retry-After": "30"})
    with pytest.raises(RetriableError, match="HTTP 503 after 2 retries") as info:
        connector(retries=2).fetch([q(path="/kpi", extract="oee")], Q4, NOW)
    assert len(responses.calls) == 3
    assert info.value.retry_after == 30


@responses.activate
def test_timeout_is_retriable():
    import requests
    responses.get(f"{BASE}/kpi", body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(RetriableError, match="ReadTimeout"):
        connector(retries=0).fetch([q(path="/kpi", extract="oee")], Q4, NOW)


@responses.activate
def test_unauthorised_names_the_env_var_and_never_the_token():
    responses.get(f"{BASE}/kpi", status=401, json={"message": "invalid token"})
    query = q(path="/kpi", extract="oee")
    result = connector().fetch([query], Q4, NOW)[query]
    assert isinstance(result, SourceError)
    assert "HTTP 401" in str(result) and "MES_TOKEN" in str(result)
    assert "tok-123" not in str(result)


@responses.activate
@pytest.mark.parametrize("payload,extract,message", [
    ({"rows": ROWS}, "rows[].defects", "not a number; aggregate it"),
    ({"rows": ROWS}, "total", "found nothing"),
    ({"value": "n/a"}, "value", "'n/a', not a number"),
    ({"value": True}, "value", "true, not a number"),
])
def test_extract_that_is_not_one_number_is_a_clear_error(payload, extract, message):
    responses.get(f"{BASE}/kpi", json=payload)
    query = q(path="/kpi", extract=extract)
    result = connector().fetch([query], Q4, NOW)[query]
    assert isinstance(result, SourceError) and message in str(result)


@responses.activate
def test_client_error_and_non_json_are_source_errors():
    responses.get(f"{BASE}/missing", status=404, body="no such report")
    responses.get(f"{BASE}/html", body="<html>login</html>", content_type="text/html")
    missing, html = q(path="/missing", extract="x"), q(path="/html", extract="x")
    results = connector().fetch([missing, html], Q4, NOW)
    assert "HTTP 404: no such report" in str(results[missing])
    assert "not JSON: <html>login</html>" in str(results[html])


@pytest.mark.parametrize("source_yaml,message", [
    ("{kind: rest, base_url: 'https://x.example.com', headers: {Authorization: 'Bearer abc'}}", "carries a secret"),
    ("{kind: rest, base_url: 'https://x.example.com', auth: bearer}", "auth bearer needs token_env"),
    ("{kind: rest, base_url: 'ftp://x.example.com'}", "must start with https://"),
])
def test_bad_rest_source_settings_are_config_errors(write_config, source_yaml, message):
    path = write_config(f"""
        period: 2026-Q4
        sources:
          api: {source_yaml}
        objectives:
          - id: o
            title: O
            key_results:
              - {{id: k, title: K, type: at_least, target: 1, metric: {{source: api, path: /x, extract: value}}}}
    """)
    with pytest.raises(ConfigError, match=message):
        load_config(path, check_env=False)


def test_bad_jmespath_and_unset_token_env_are_reported_with_lines(write_config):
    path = write_config("""
        period: 2026-Q4
        sources:
          api: {kind: rest, base_url: "https://x.example.com", auth: bearer, token_env: OKR_TEST_UNSET_TOKEN}
        objectives:
          - id: o
            title: O
            key_results:
              - id: k
                title: K
                type: at_least
                target: 1
                metric: {source: api, path: /x, extract: "sum(rows[?line=='A'.defects)"}
    """)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    text = str(info.value)
    assert f"{path}:3: sources.api.token_env: environment variable OKR_TEST_UNSET_TOKEN is not set" in text
    assert f"{path}:12:" in text and "is not a valid JMESPath expression" in text
    assert json.dumps(text)  # one plain string
