"""Credentials as env vars or Prefect Secret blocks (`*_env` / `*_secret`): read at run time, never shown anywhere."""
import asyncio
import json
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import responses

from connectors.base import Context, SourceError
from mapping.errors import ConfigError
from mapping.loader import load_config
from mapping.sources.bi import MetabaseSource
from mapping.sources.jira import JiraSource
from mapping.sources.rest import RestSource
from mapping.sources.sql import SqlSource

NOW = datetime(2026, 11, 28, 9, tzinfo=ZoneInfo("Europe/Berlin"))
API = "https://bi.example.com/api"


@pytest.mark.parametrize("model,fields", [
    (RestSource, {"kind": "rest", "base_url": API, "auth": "bearer", "token_secret": "bi-token"}),
    (RestSource, {"kind": "rest", "base_url": API, "auth": "basic", "username_env": "U", "password_secret": "bi-pw"}),
    (JiraSource, {"kind": "jira", "url": "https://acme.atlassian.net", "email_secret": "e", "token_secret": "t"}),
    (JiraSource, {"kind": "jira", "url": "https://jira.example.com", "pat_secret": "p"}),
    (MetabaseSource, {"kind": "metabase", "url": "https://mb.example.com", "api_key_secret": "mb"}),
    (SqlSource, {"kind": "sql", "url_secret": "mes-url"}),
])
def test_every_credential_may_come_from_a_secret_block(model, fields):
    model(**fields)


@pytest.mark.parametrize("model,fields,message", [
    (RestSource, {"kind": "rest", "base_url": API, "auth": "bearer", "token_env": "T", "token_secret": "t"}, "only one of token_env"),
    (RestSource, {"kind": "rest", "base_url": API, "auth": "bearer"}, "needs token_env"),
    (MetabaseSource, {"kind": "metabase", "url": "https://mb.example.com"}, "api_key_env"),
    (SqlSource, {"kind": "sql", "url_env": "U", "url_secret": "u"}, "exactly one of url"),
])
def test_a_credential_needs_exactly_one_of_env_or_secret(model, fields, message):
    with pytest.raises(ValueError, match=message):
        model(**fields)


def test_history_env_and_history_secret_together_are_refused(write_config):
    with pytest.raises(ConfigError, match="history_secret: set only one of history_env"):
        load_config(write_config("period: 2026-Q4\nhistory_env: H\nhistory_secret: h\n"), env={"H": "sqlite://"})


def test_a_missing_secret_block_is_one_line_naming_it(prefect_harness):
    settings = RestSource(kind="rest", base_url=API, auth="bearer", token_secret="no-such-block")
    with pytest.raises(SourceError) as info:
        Context().credential(settings, "token", "source 'bi' token")
    message = str(info.value)
    assert "\n" not in message and "'no-such-block'" in message and "prefect block create secret" in message


@responses.activate
def test_a_secret_block_reaches_the_service_and_nothing_else(prefect_harness, write_config):
    from prefect import get_client
    from prefect.blocks.system import Secret
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterFlowRunId

    from flows.sync import sync_okrs

    canary = f"canary-{uuid.uuid4().hex}"
    block = f"bi-token-{uuid.uuid4().hex[:8]}"
    Secret(value=canary).save(block)
    responses.get(f"{API}/kpi", json={"oee": 0.64})
    responses.get(f"{API}/broken", status=401, json={"message": f"bad token {canary[:6]}"})
    path = write_config(f"""\
period: 2026-Q4
sources:
  bi: {{kind: rest, base_url: {API}, auth: bearer, token_secret: {block}, retries: 0}}
objectives:
  - id: o
    title: Run well
    key_results:
      - {{id: oee, title: OEE to 70%, baseline: 0.5, target: 0.7, metric: {{source: bi, path: /kpi, extract: oee}}}}
      - {{id: scrap, title: Scrap down, type: decrease, baseline: 5, target: 2, metric: {{source: bi, path: /broken, extract: scrap}}}}
outputs:
  - {{kind: xlsx, path: out/summary.xlsx}}
""")
    from prefect.logging.handlers import APILogWorker

    state = sync_okrs(str(path), now=NOW, return_state=True)
    APILogWorker.drain_all(timeout=10)  # every log line reaches the API before it is searched
    assert state.is_failed()  # the 401 query failed: its error is logged and put in the artifact and the workbook
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {canary}"
    assert "token_secret" in (path.parent / "okrs.yaml").read_text()

    run_id = state.state_details.flow_run_id

    async def read():
        async with get_client() as client:
            run = await client.read_flow_run(run_id)
            logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
            artifacts = await client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
            return run, logs, artifacts

    run, logs, artifacts = asyncio.run(read())
    seen = [json.dumps(run.parameters, default=str), json.dumps(run.job_variables or {}, default=str), state.message or ""]
    seen += [log.message for log in logs] + [json.dumps(a.data, default=str) for a in artifacts]
    assert any("HTTP 401" in text for text in seen)  # the failure is reported...
    assert not any(canary in text for text in seen)  # ...but the secret appears nowhere
    from openpyxl import load_workbook

    book = load_workbook(path.parent / "out" / "summary.xlsx")
    assert not any(canary in str(cell) for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row)


def test_values_read_from_secret_blocks_are_masked_in_alert_messages(monkeypatch, write_config):
    from prefect.blocks.system import Secret

    from connectors.redaction import scrub, secret_values

    class Stored:
        def get(self):
            return "blk-s3cr3t-value"

    monkeypatch.setattr(Secret, "load", classmethod(lambda cls, name: Stored()))
    settings = RestSource(kind="rest", base_url=API, auth="bearer", token_secret="bi-token")
    assert Context().credential(settings, "token", "token") == "blk-s3cr3t-value"
    config = load_config(write_config("period: 2026-Q4\nobjectives:\n  - {id: o, title: O, key_results: [{id: k, title: K, baseline: 0, target: 1}]}\n"), env={})
    assert scrub("HTTP 401 for blk-s3cr3t-value", secret_values(config, {})) == "HTTP 401 for ***"
