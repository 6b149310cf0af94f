"""examples/finance/okrs.yaml: validates without secrets, syncs against faked Power BI and Superset, gates a jump."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import responses
from typer.testing import CliRunner

from flows.cli import app
from flows.pipeline import run_sync
from mapping.loader import load_config

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "finance" / "okrs.yaml"
ENV = {"POWERBI_TOKEN": "pbi-token", "SUPERSET_USER": "okr", "SUPERSET_PASSWORD": "pw"}
NOW = datetime(2026, 11, 15, 12, tzinfo=timezone.utc)
PBI_URL = ("https://api.powerbi.com/v1.0/myorg/groups/6c1f7a8e-2b1d-4c5e-9a0f-3d2e1b4c5a6f/"
           "datasets/3f9d2c1b-7e6a-4b5c-8d9e-0a1b2c3d4e5f/executeQueries")
CHANNELS = [{"channel": "app", "accounts": 1840}, {"channel": "branch", "accounts": 1105}, {"channel": "web", "accounts": 412}]


def test_finance_example_validates_without_secrets(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["validate", "--no-env-check", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "2 key results, 2 sources" in result.output


def fake_apis(share: float) -> None:
    responses.post(PBI_URL, json={"results": [{"tables": [{"rows": [{"[Digital Share %]": share}]}]}]})
    responses.post("https://superset.example.com/api/v1/security/login", json={"access_token": "jwt"})
    responses.get("https://superset.example.com/api/v1/chart/31/data/", json={"result": [{
        "status": "success", "error": None, "colnames": ["channel", "accounts"], "rowcount": 3, "data": CHANNELS}]})


@responses.activate
def test_finance_example_sync_reads_dax_share_and_superset_chart(tmp_path):
    fake_apis(27.3)
    outcome = run_sync(load_config(EXAMPLE, env=ENV), NOW, write=False, env=ENV)
    assert outcome.ok, outcome.failure_message()
    assert outcome.results["digital-share"].value == 27.3
    assert outcome.results["digital-share"].progress == pytest.approx((27.3 - 22) / (35 - 22), abs=1e-9)
    assert outcome.results["app-onboarding"].value == pytest.approx(1840 / (1840 + 1105 + 412) * 100)
    (pbi,) = [c for c in responses.calls if c.request.url == PBI_URL]  # the sources are fetched concurrently: find it by URL
    sent = json.loads(pbi.request.body)["queries"][0]["query"]
    assert 'DATEVALUE("2026-10-01"), DATEVALUE("2026-12-31")' in sent
    assert [c.request.url.split("?")[0].rsplit("/", 2)[-2] for c in responses.calls].count("data") == 1  # one chart request


@responses.activate
def test_finance_example_holds_back_a_jump_beyond_max_change(tmp_path):
    import shutil
    folder = tmp_path / "finance"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "okrs.yaml")
    config = load_config(folder / "okrs.yaml", env=ENV)
    fake_apis(27.3)
    assert run_sync(config, NOW, env=ENV).ok
    responses.reset()
    fake_apis(33.5)  # +6.2 points = +22.7% of 27.3: more than max_change 20%
    outcome = run_sync(config, NOW + timedelta(days=1), env=ENV)
    held = outcome.results["digital-share"]
    assert held.stale and held.value == 27.3 and held.extra["raw_value"] == 33.5
    assert "more than max_change 20% of 27.3" in held.error
