"""examples/services/okrs.yaml: validates without secrets, and syncs against faked survey, helpdesk and Metabase APIs."""
from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path

import pytest
import responses
from responses import matchers
from typer.testing import CliRunner

from flows.cli import app
from flows.pipeline import make_plan, run_sync
from mapping.loader import load_config

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "services" / "okrs.yaml"
ENV = {"SURVEY_API_TOKEN": "s-tok", "HELPDESK_API_KEY": "h-key", "METABASE_API_KEY": "mb-key"}
NOW = datetime(2026, 11, 15, 12, tzinfo=timezone.utc)


def test_services_example_validates_without_secrets_and_names_them_otherwise(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", "--no-env-check", str(EXAMPLE)])
    assert ok.exit_code == 0, ok.output
    assert "3 key results, 3 sources" in ok.output
    missing = runner.invoke(app, ["validate", str(EXAMPLE)])
    assert missing.exit_code == 2
    assert all(f"environment variable {name} is not set" in missing.output for name in ENV)


@responses.activate
def test_services_example_sync_matches_the_payloads():
    rng = random.Random(3)
    scores = [rng.choice([10, 9, 9, 8, 7, 6, 3, 10, 9, 5]) for _ in range(1234)]
    pages = [scores[i:i + 500] for i in range(0, len(scores), 500)]
    base = "https://survey.example.com/api/v2/surveys/nps-2026/responses"
    for index, page in enumerate(pages):
        next_link = f"{base}?page={index + 2}" if index + 1 < len(pages) else None
        query = {"submitted_from": "2026-10-01", "submitted_to": "2026-12-31", "per_page": "500"} if index == 0 else {"page": str(index + 1)}
        responses.get(base, json={"data": [{"id": f"r{index}-{i}", "score": s, "comment": "=HYPERLINK(\"x\")"} for i, s in enumerate(page)],
                                  "links": {"next": next_link}, "meta": {"total": len(scores)}},
                      match=[matchers.query_param_matcher(query), matchers.header_matcher({"Authorization": "Bearer s-tok"})])
    channels = [{"channel": "phone", "complaints": 840, "answered_within_30s": 771},
                {"channel": "chat", "complaints": 1290, "answered_within_30s": 1266},
                {"channel": "email", "complaints": 0, "answered_within_30s": 0}]
    responses.get("https://helpdesk.example.com/api/v1/reports/complaints", json={"period": {"from": "2026-10-01"}, "channels": channels},
                  match=[matchers.query_param_matcher({"from": "2026-10-01", "to": "2026-12-31"}), matchers.header_matcher({"X-Api-Key": "h-key"})])
    responses.post("https://metabase.example.com/api/card/118/query", status=202, json={
        "data": {"rows": [[9.4]], "cols": [{"name": "repeat_share_pct", "display_name": "Repeat Share Pct"}]},
        "status": "completed", "row_count": 1})

    config = load_config(EXAMPLE, env=ENV)
    assert make_plan(config).query_count == 6  # 3 survey extracts, 2 helpdesk extracts, 1 card
    outcome = run_sync(config, NOW, write=False, env=ENV)
    assert outcome.ok, outcome.failure_message()
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    assert outcome.results["nps"].value == pytest.approx((promoters - detractors) / len(scores) * 100)
    assert outcome.results["answered-30s"].value == pytest.approx((771 + 1266) / (840 + 1290) * 100)
    assert outcome.results["repeat-complaints"].value == 9.4
    # the survey pages are read once for all three NPS inputs, the helpdesk report once for both of its inputs
    assert len(responses.calls) == len(pages) + 1 + 1
