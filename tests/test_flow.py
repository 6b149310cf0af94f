"""The Prefect flow: one task per source, Completed when all sources answer, Failed naming the failed source otherwise."""
import shutil
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from flows.example_data import make_factory

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "factory" / "okrs.yaml"
NOW = datetime(2026, 11, 28, 9, tzinfo=ZoneInfo("Europe/Berlin"))


@pytest.fixture
def factory(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "okrs.yaml")
    make_factory(tmp_path / "data", date(2026, 11, 27))
    return tmp_path / "okrs.yaml"


def test_flow_run_completes_with_one_task_per_source(prefect_harness, factory):
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.sync import sync_okrs

    state = sync_okrs(str(factory), now=NOW, return_state=True)
    assert state.is_completed(), state.message
    assert state.message == "8 KRs synced"
    assert (factory.parent / "out" / "okr-summary.xlsx").exists()

    import asyncio

    async def task_names():
        async with get_client() as client:
            runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
            return sorted(run.name.rsplit("-", 1)[0] for run in runs)

    assert asyncio.run(task_names()) == ["fetch-mes", "fetch-quality"]


@pytest.mark.filterwarnings("ignore:Sparkline Group extension")  # openpyxl cannot keep Excel sparklines
def test_flow_run_fails_naming_the_failed_source_and_still_publishes_the_rest(prefect_harness, factory):
    from flows.sync import sync_okrs

    text = factory.read_text().replace("url: sqlite:///data/mes.db", "url: sqlite:///data/missing.db")
    factory.write_text(text.replace("period: 2026-Q4", "period: 2026-Q4\nfetch: {retries: 0, retry_delay_seconds: 0}"))
    state = sync_okrs(str(factory), now=NOW, return_state=True)
    assert state.is_failed()
    assert "sources failed: mes" in state.message and "defect-rate" in state.message
    summary = load_workbook(factory.parent / "out" / "okr-summary.xlsx")["Summary"]
    header = [c.value for c in summary[1]]
    rows = {r[1]: dict(zip(header, r)) for r in summary.iter_rows(min_row=2, values_only=True)}
    assert rows["nps"]["Current"] == 28 and rows["nps"]["Error"] is None          # the file source still published
    assert rows["defect-rate"]["Current"] is None and "missing.db not found" in rows["defect-rate"]["Error"]


def test_cli_runs_as_a_flow_run_when_a_prefect_api_is_configured(prefect_harness, factory, monkeypatch):
    from prefect.settings import PREFECT_API_URL
    from typer.testing import CliRunner

    from flows.cli import app

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    result = CliRunner().invoke(app, ["run", str(factory)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("flow run ") and "Completed - 8 KRs synced" in result.stdout
