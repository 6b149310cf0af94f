"""Services that echo the request back: their secrets and terminal control codes reach no message, log, history or output."""
import base64
import re
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pytest
import responses
from typer.testing import CliRunner

from connectors.redaction import safe_url, scrub
from flows.cli import app
from flows.example_data import make_factory

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "factory" / "okrs.yaml"
API = "https://bi.example.com/api"
JIRA = "https://acme.atlassian.net"


def test_scrub_masks_known_values_the_parts_a_service_echoes_and_credential_shaped_text():
    url = "postgresql://okr:Pw-S3cr3t@db/mes"
    assert scrub(f"cannot connect to {url}", [url]) == "cannot connect to ***"
    assert scrub('{"username": "bot", "password": "hunter2!"}') == '{"username": "bot", "password": ***}'
    assert scrub("Authorization: Basic b3BzQGFjbWUuY29tOkFUQVRUM3g= X-Token: ATATT3xabc") == "Authorization: *** X-Token: ***"
    assert scrub("a bearer eyJhbGciOi.payload.sig came back") == "a bearer *** came back"
    assert scrub("db?sslmode=disable&password=Pw-777&user=okr") == "db?sslmode=disable&password=***&user=okr"
    # okr-sync's own hints name config keys, not secrets; ordinary words stay
    hint = "set token_env: JIRA_TOKEN (or token_secret: jira-token); password authentication failed for user okr"
    assert scrub(hint) == hint


def test_scrub_shows_terminal_control_codes_instead_of_sending_them():
    said = "bad\x1b[2J request\x1b]8;;https://evil.example\x07link\r\x9b31m"
    assert scrub(said) == "bad\\x1b[2J request\\x1b]8;;https://evil.example\\x07link\\r\\x9b31m"
    assert scrub("two\nlines\tand a tab") == "two\nlines\tand a tab"


def test_a_database_url_is_shown_without_its_password_wherever_it_is_written():
    from sqlalchemy.engine import make_url

    url = make_url("postgresql+psycopg://okr:Pw-1@127.0.0.1:1/mes?password=Pw-2&sslmode=disable&sslpassword=Pw-3")
    assert safe_url(url) == "postgresql+psycopg://okr:***@127.0.0.1:1/mes?password=***&sslmode=disable&sslpassword=***"


@pytest.fixture
def factory(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "okrs.yaml")
    make_factory(tmp_path / "data", date(2026, 11, 27))
    return tmp_path / "okrs.yaml"


def traces(result, folder: Path) -> str:
    """Everything a run left a person could read: its output, the history database and the workbook."""
    from openpyxl import load_workbook

    text = [result.output]
    history = folder / ".okr-sync" / "history.db"
    if history.exists():
        with sqlite3.connect(history) as db:
            for table, in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                text += [repr(row) for row in db.execute(f'SELECT * FROM "{table}"')]
    for book in folder.glob("out/*.xlsx"):
        text += [str(cell) for sheet in load_workbook(book) for row in sheet.iter_rows(values_only=True) for cell in row]
    return "\n".join(text)


def with_source(factory: Path, source: str, kr: str) -> Path:
    text = factory.read_text().replace("sources:\n", f"sources:\n  {source}\n", 1)
    text = text.replace("    key_results:\n", f"    key_results:\n      - {kr}\n", 1)
    factory.write_text(text)
    return factory


@responses.activate
def test_a_rest_error_echoing_the_api_key_leaves_no_trace_of_it(factory):
    key = "sk_live_S3CR3T-abc123"
    responses.get(f"{API}/kpi", status=400, json={"error": "bad request", "echo": {"X-API-Key": key, "path": "/kpi"}},
                  match=[responses.matchers.header_matcher({"X-API-Key": key})])
    with_source(factory, f"bi: {{kind: rest, base_url: {API}, auth: api_key, api_key_env: BI_KEY, retries: 0}}",
                "{id: oee, title: OEE to 70%, baseline: 0.5, target: 0.7, metric: {source: bi, path: /kpi, extract: oee}}")
    result = CliRunner().invoke(app, ["run", str(factory)], env={"PREFECT_API_URL": "", "BI_KEY": key})
    assert result.exit_code == 1, result.output
    assert "answered HTTP 400" in result.output and "source 'bi'" in result.output
    assert key not in traces(result, factory.parent)


@responses.activate
def test_a_jira_proxy_page_echoing_the_auth_header_leaves_no_trace_of_the_token(factory):
    token, email = "ATATT3xFfGF0-SECRET-token", "ops@acme.example"
    basic = base64.b64encode(f"{email}:{token}".encode()).decode()
    page = f"<html><body><h1>502 Bad Gateway</h1><pre>Authorization: Basic {basic}\nX-Token: {token}</pre></body></html>"
    for path in ("/rest/api/3/search/approximate-count", "/rest/api/2/search/approximate-count"):
        responses.post(f"{JIRA}{path}", status=400, body=f"Bad request; token={token}", content_type="text/plain")
    responses.get(re.compile(f"{JIRA}/rest/api/.*"), status=400, body=page, content_type="text/html")
    with_source(factory, f"jira: {{kind: jira, url: {JIRA}, email_env: JIRA_EMAIL, token_env: JIRA_TOKEN, retries: 0}}",
                "{id: bugs, title: Open bugs below 5, type: decrease, baseline: 20, target: 5, metric: {source: jira, jql: 'project = PAY'}}")
    result = CliRunner().invoke(app, ["run", str(factory)], env={"PREFECT_API_URL": "", "JIRA_EMAIL": email, "JIRA_TOKEN": token})
    assert result.exit_code == 1, result.output
    assert "Jira" in result.output
    seen = traces(result, factory.parent)
    assert token not in seen and basic not in seen


def test_a_password_in_the_database_url_query_is_never_printed_or_stored(factory):
    url = "postgresql+psycopg://okr@127.0.0.1:1/mes?password=Pw-S3cr3t-777&sslmode=disable&connect_timeout=2"
    with_source(factory, "erp: {kind: sql, url_env: ERP_URL}",
                "{id: orders, title: Orders up, baseline: 0, target: 10, metric: {source: erp, sql: 'SELECT 1'}}")
    factory.write_text(factory.read_text() + "fetch: {retries: 0}\n")
    result = CliRunner().invoke(app, ["run", str(factory)], env={"PREFECT_API_URL": "", "ERP_URL": url})
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert "cannot connect to postgresql+psycopg://okr@127.0.0.1:1/mes?" in said and "password=***" in said
    assert "Pw-S3cr3t-777" not in traces(result, factory.parent)


@responses.activate
def test_control_codes_in_an_answer_do_not_reach_the_terminal(factory):
    responses.get(f"{API}/kpi", status=422, body="no such KPI\x1b[2J\x1b]8;;https://evil.example\x07click\x1b]8;;\x07")
    with_source(factory, f"bi: {{kind: rest, base_url: {API}, retries: 0}}",
                "{id: oee, title: OEE to 70%, baseline: 0.5, target: 0.7, metric: {source: bi, path: /kpi, extract: oee}}")
    result = CliRunner().invoke(app, ["run", str(factory)], env={"PREFECT_API_URL": ""})
    assert result.exit_code == 1, result.output
    assert "no such KPI\\x1b[2J" in result.output
    assert "\x1b" not in traces(result, factory.parent) and "\x07" not in result.output


@pytest.mark.parametrize("sql,shown", [("SELECT 1e308 * 10", "inf"), ("SELECT -1e308 * 10", "-inf")])
def test_an_infinite_value_from_a_database_is_that_kr_s_error_not_a_score(factory, sql, shown):
    with_source(factory, "calc: {kind: sql, url: 'sqlite:///data/mes.db'}",
                f"{{id: odd, title: Odd value, baseline: 0, target: 10, metric: {{source: calc, sql: '{sql} WHERE :end IS NOT NULL'}}}}")
    result = CliRunner().invoke(app, ["run", str(factory), "--format", "json"], env={"PREFECT_API_URL": ""})
    assert result.exit_code == 1, result.output
    import json

    said = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    rows = {row["kr_id"]: row for row in said["key_results"]}
    assert rows["odd"]["value"] is None and rows["odd"]["status"] == "no_data"
    assert f"returned {shown}, not a finite number" in rows["odd"]["error"]
    assert rows["defect-rate"]["value"] is not None  # the other KRs synced


def test_every_connector_s_non_finite_value_becomes_that_query_s_error():
    from datetime import datetime

    from connectors.base import SourceError
    from connectors.registry import Scrubbed
    from mapping.config import Query
    from mapping.results import Observation

    queries = [Query("bi", f"q{i}", None) for i in range(3)]

    class Answering:
        name = "bi"

        def fetch(self, queries, period, now):
            return {q: Observation(v, now, "bi", q.key) for q, v in zip(queries, (float("nan"), float("inf"), 0.5))}

    answers = Scrubbed(Answering()).fetch(queries, None, datetime(2026, 12, 1))
    assert [type(answers[q]).__name__ for q in queries] == ["SourceError", "SourceError", "Observation"]
    assert str(answers[queries[0]]) == "source 'bi': the query answered nan, not a finite number; make it return a real value"
    assert isinstance(answers[queries[1]], SourceError) and answers[queries[2]].value == 0.5


@pytest.mark.parametrize("echoed", [
    "s3cr3t-T0k3n+/=xyz",                          # as sent
    "s3cr3t-T0k3n%2B%2F%3Dxyz",                    # percent-encoded (a query string, a form body)
    "s3cr3t-T0k3n%2B%2F%3Dxyz".lower(),            # percent-encoded, lower-case hex digits
    "czNjcjN0LVQwazNuKy89eHl6",                    # base64
    "7333637233742d54306b336e2b2f3d78797a",        # hex
    "S3CR3T-T0K3N+/=XYZ",                          # upper-cased by a gateway
])
def test_a_secret_echoed_in_another_encoding_or_case_is_masked(echoed):
    assert scrub(f"bad token {echoed} (HTTP 401)", ["s3cr3t-T0k3n+/=xyz"]) == "bad token *** (HTTP 401)"


def test_whether_a_password_was_sent_is_not_mistaken_for_one():
    said = "Access denied for user 'okr'@'10.0.0.5' (using password: YES)"
    assert scrub(said) == said
