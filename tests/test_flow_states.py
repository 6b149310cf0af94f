"""Faithful Prefect states: a failed source batch is a Failed task, Retry-After is honoured under Prefect too,
and `okr-sync run` says and exits the same with and without PREFECT_API_URL."""
import asyncio
import re
import time
import shutil
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import responses

from flows.example_data import make_factory

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "factory" / "okrs.yaml"
NOW = datetime(2026, 11, 28, 9, tzinfo=ZoneInfo("Europe/Berlin"))
API = "https://bi.example.com/api"


@pytest.fixture
def factory(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "okrs.yaml")
    make_factory(tmp_path / "data", date(2026, 11, 27))
    return tmp_path / "okrs.yaml"


def task_states(flow_run_id) -> dict[str, tuple[str, str]]:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read():
        async with get_client() as client:
            runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            return {run.name.rsplit("-", 1)[0]: (run.state.type.value, run.state.message or "") for run in runs}

    return asyncio.run(read())


def test_a_failed_source_is_a_failed_task_and_the_other_source_completes(prefect_harness, factory):
    from flows.sync import sync_okrs

    factory.write_text(factory.read_text().replace("path: data/quality.xlsx", "path: data/missing.xlsx"))
    state = sync_okrs(str(factory), now=NOW, return_state=True)
    assert state.is_failed() and "sources failed: quality" in state.message
    states = task_states(state.state_details.flow_run_id)
    assert states["fetch-mes"][0] == "COMPLETED"
    assert states["fetch-quality"][0] == "FAILED"
    assert states["fetch-quality"][1].startswith("source 'quality': file ") and "missing.xlsx not found" in states["fetch-quality"][1]


def test_an_output_that_cannot_be_written_fails_the_flow_run_with_one_line_and_the_other_outputs_written(prefect_harness, factory):
    from flows.sync import sync_okrs

    # /sys takes no new files, not even from root: the HTML report cannot be written (validate cannot know)
    factory.write_text(factory.read_text() + "  - {kind: html, path: /sys/okr-report.html}\n  - {kind: xlsx, path: out/second.xlsx}\n")
    state = sync_okrs(str(factory), now=NOW, return_state=True)
    assert state.is_failed()
    assert state.message.startswith("cannot write HTML report ") and "\n" not in state.message
    assert state.message.endswith(f"(written: {factory.parent / 'out' / 'okr-summary.xlsx'}, {factory.parent / 'out' / 'second.xlsx'})")
    assert (factory.parent / "out" / "second.xlsx").exists()


@responses.activate
def test_retry_after_is_honoured_inside_the_task(prefect_harness, tmp_path, write_config, monkeypatch):
    from flows import sync

    waits: list[float] = []
    monkeypatch.setattr(sync, "_wait", waits.append)
    responses.get(f"{API}/kpi", status=429, headers={"Retry-After": "30"})
    responses.get(f"{API}/kpi", json={"oee": 0.64})
    path = write_config(f"""\
period: 2026-Q4
fetch: {{retries: 2, retry_delay_seconds: 2}}
sources:
  bi: {{kind: rest, base_url: {API}, retries: 0}}
objectives:
  - id: o
    title: Run well
    key_results:
      - {{id: oee, title: OEE to 70%, baseline: 0.5, target: 0.7, metric: {{source: bi, path: /kpi, extract: oee}}}}
""")
    state = sync.sync_okrs(str(path), now=NOW, return_state=True)
    assert state.is_completed(), state.message
    assert waits == [30.0]  # the service's Retry-After, not the 2 s backoff
    assert len(responses.calls) == 2
    assert task_states(state.state_details.flow_run_id)["fetch-bi"][0] == "COMPLETED"


def run_cli(args, env_api: bool, monkeypatch):
    from prefect.settings import PREFECT_API_URL
    from typer.testing import CliRunner

    from flows.cli import app

    if env_api:
        monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    else:
        monkeypatch.delenv("PREFECT_API_URL", raising=False)
    return CliRunner().invoke(app, args)


def test_cli_exit_code_and_result_table_are_the_same_with_and_without_a_prefect_api(prefect_harness, factory, monkeypatch):
    factory.write_text(factory.read_text().replace("path: data/quality.xlsx", "path: data/missing.xlsx"))
    direct = run_cli(["run", str(factory)], False, monkeypatch)
    as_flow = run_cli(["run", str(factory)], True, monkeypatch)
    assert direct.exit_code == as_flow.exit_code == 1, (direct.output, as_flow.output)
    assert "internal error" not in as_flow.output
    assert as_flow.stdout.startswith("flow run ") and ": Failed - sources failed: quality" in as_flow.stdout
    for result in (direct, as_flow):
        assert "defect-rate" in result.stdout and "nps" in result.stdout  # the result table, one row per KR
        assert "missing.xlsx not found" in result.output


def test_flow_artifact_values_are_rounded_and_labelled(prefect_harness, factory):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, ArtifactFilterFlowRunId

    from flows.sync import sync_okrs

    state = sync_okrs(str(factory), now=NOW, return_state=True)

    async def read():
        async with get_client() as client:
            return await client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["okr-summary"]), flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))

    (artifact,) = asyncio.run(read())
    import json

    rows = artifact.data if isinstance(artifact.data, list) else json.loads(artifact.data)
    by_id = {row["KR id"]: row for row in rows}
    assert set(by_id) >= {"defect-rate", "nps"}
    for row in rows:
        for field in ("Current", "Target"):
            assert all(len(decimals) <= 2 for decimals in re.findall(r"\d\.(\d+)", row[field])), row  # 0.82, never 0.81799189...
    assert by_id["nps"]["Status"] in {"Done", "On track", "At risk", "Off track", "Stale", "No data"}


def test_each_source_logs_one_line_with_queries_requests_errors_and_seconds(prefect_harness, factory):
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    from flows.sync import sync_okrs

    from prefect.logging.handlers import APILogWorker

    state = sync_okrs(str(factory), now=NOW, return_state=True)
    APILogWorker.drain_all(timeout=10)  # logs reach the API in batches

    async def read():
        async with get_client() as client:
            return await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id])))

    lines: list[str] = []
    for _ in range(20):
        lines = [log.message for log in asyncio.run(read())]
        if sum("requests" in line for line in lines) >= 2:
            break
        time.sleep(0.5)
    # the factory example: 5 distinct SQL queries (one statement each) and 3 queries answered by one read of the workbook
    assert any(re.fullmatch(r"source 'mes': 5 queries, 5 requests, 0 failed, \d+\.\d\d s", line) for line in lines), lines
    assert any(re.fullmatch(r"source 'quality': 3 queries, 1 requests, 0 failed, \d+\.\d\d s", line) for line in lines), lines
