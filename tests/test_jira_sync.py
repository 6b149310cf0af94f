"""The jira source inside a whole sync (history + workbook), and the Jira examples in examples/ and README.md."""
from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import responses
import yaml
from openpyxl import load_workbook
from typer.testing import CliRunner

from fakes.jira_fake import FakeJira, Failure, issue
from flows.cli import app
from flows.pipeline import run_sync
from mapping.loader import load_config
from mapping.sources.jira import JiraQuery

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "software" / "okrs.yaml"
ENV = {"JIRA_EMAIL": "ops@acme.example", "JIRA_API_TOKEN": "cloud-token-SECRET-123"}
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
Q4 = 'AND resolved >= "2026-10-01" AND resolved <= "2026-12-31 23:59"'

# The example's JQL after templating (folded YAML joins lines with one space; params are quoted).
ESCAPED = 'project = "PAY" AND issuetype = Bug AND labels = escaped AND created >= "2026-10-01" AND created <= "2026-12-31 23:59"'
EPIC = f'parent = "PAY-100" AND statusCategory = Done {Q4}'
STORIES = f"project = PAY AND issuetype = Story AND statusCategory = Done {Q4}"
P1_ALL = f"project = OPS AND priority = P1 {Q4}"
P1_SLA = P1_ALL + ' AND "Time to resolution" != everBreached()'


def software_fake() -> FakeJira:
    # points 8 + 13 + 5 + null + 20 = 46 (one unestimated story counts 0)
    epic = [issue(f"PAY-{200 + i}", customfield_10016=p) for i, p in enumerate([8, 13, 5, None, 20])]
    # cycle times 1.5, 3.0, 6.0 days -> median 3.0
    stories = [issue("PAY-301", created="2026-10-01T00:00:00.000+0000", resolutiondate="2026-10-02T12:00:00.000+0000"),
               issue("PAY-302", created="2026-10-03T00:00:00.000+0000", resolutiondate="2026-10-06T00:00:00.000+0000"),
               issue("PAY-303", created="2026-10-04T00:00:00.000+0000", resolutiondate="2026-10-10T00:00:00.000+0000")]
    return FakeJira(counts={ESCAPED: 17, P1_ALL: 40, P1_SLA: 36}, issues={EPIC: epic, STORIES: stories})


@pytest.fixture
def software(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "okrs.yaml")
    return load_config(tmp_path / "okrs.yaml", env=ENV)


def summary_rows(path: Path) -> dict[str, dict]:
    sheet = load_workbook(path)["Summary"]
    rows = list(sheet.iter_rows(values_only=True))
    return {row[1]: dict(zip(rows[0], row)) for row in rows[1:]}


def test_software_example_syncs_from_jira_into_history_and_workbook(software, tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        software_fake().register(rsps)
        outcome = run_sync(software, NOW, env=ENV)
        # serverInfo, field list, 3 counts (escaped, P1 all, P1 within SLA), 1 epic page, 1 stories page
        assert len(rsps.calls) == 7
    values = {kr: r.value for kr, r in outcome.results.items()}
    assert values == pytest.approx({"escaped-bugs": 17, "payments-epic-points": 46, "story-cycle-time": 3.0,
                                    "p1-within-24h": 90.0})
    assert outcome.ok and outcome.plan.by_source == {"jira": list(outcome.plan.krs_by_query)}
    # decrease 40 -> 10 at 17: (17 - 40) / (10 - 40) = 23/30; increase 0 -> 80 at 46: 46/80;
    # at_most 5 held at 3.0: 1.0; increase 80 -> 95 at 90: 10/15
    progress = {kr: r.progress for kr, r in outcome.results.items()}
    assert progress == pytest.approx({"escaped-bugs": 23 / 30, "payments-epic-points": 46 / 80,
                                      "story-cycle-time": 1.0, "p1-within-24h": 10 / 15})
    rows = summary_rows(tmp_path / "out" / "okr-summary.xlsx")
    assert rows["escaped-bugs"]["Current"] == 17 and rows["p1-within-24h"]["Current"] == pytest.approx(90.0)
    assert rows["payments-epic-points"]["Source"] == "jira" and rows["payments-epic-points"]["Error"] is None


def test_a_failing_jira_query_marks_only_its_kr_stale_and_keeps_its_last_value(software, tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        software_fake().register(rsps)
        run_sync(software, NOW, env=ENV)
    later = NOW + timedelta(days=1)
    fake = software_fake()
    fake.counts[P1_ALL], fake.counts[P1_SLA] = 41, 38
    fake.fail(ESCAPED, Failure(400, {"errorMessages": ["The value 'PAY' does not exist for the field 'project'."], "errors": {}}))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.register(rsps)
        outcome = run_sync(software, later, env=ENV)
    escaped = outcome.results["escaped-bugs"]
    assert escaped.stale and escaped.value == 17 and escaped.stale_since == later
    assert "The value 'PAY' does not exist" in escaped.error and ESCAPED in escaped.error
    fresh = {kr: r.value for kr, r in outcome.results.items() if not r.stale}
    assert fresh == pytest.approx({"payments-epic-points": 46, "story-cycle-time": 3.0, "p1-within-24h": 100 * 38 / 41})
    assert outcome.failed_sources == ["jira"] and "(KR escaped-bugs)" in outcome.failure_message()
    rows = summary_rows(tmp_path / "out" / "okr-summary.xlsx")
    assert rows["escaped-bugs"]["Current"] == 17 and "does not exist" in rows["escaped-bugs"]["Error"]


def test_software_example_validates_without_credentials():
    result = CliRunner().invoke(app, ["validate", str(EXAMPLE), "--no-env-check"])
    assert result.exit_code == 0, result.output
    assert "OK - 2 objectives, 4 key results, 1 sources" in result.output


def test_software_example_without_env_vars_names_them():
    result = CliRunner(env={"JIRA_EMAIL": "", "JIRA_API_TOKEN": ""}).invoke(app, ["validate", str(EXAMPLE)])
    assert result.exit_code != 0
    assert "JIRA_EMAIL" in result.output and "JIRA_API_TOKEN" in result.output


# --- README -------------------------------------------------------------------------------------
def readme_jira_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("#### `jira`")
    end = min(i for i in (text.find("\n#### ", start + 1), text.find("\n### ", start + 1), text.find("\n## ", start + 1)) if i > 0)
    return re.findall(r"```yaml\n(.*?)```", text[start:end], flags=re.S)


def test_readme_jira_yaml_blocks_are_configs_or_metric_snippets():
    blocks = readme_jira_blocks()
    assert blocks and all(b.lstrip().startswith(("period:", "metric:")) for b in blocks)


def test_readme_jira_config_examples_load(tmp_path):
    blocks = [b for b in readme_jira_blocks() if b.lstrip().startswith("period:")]
    assert blocks, "the README's jira section has a full config example"
    for i, block in enumerate(blocks):
        path = tmp_path / f"readme-{i}.yaml"
        path.write_text(block, encoding="utf-8")
        config = load_config(path, check_env=False)
        assert any(s.kind == "jira" for s in config.sources.values())


def test_readme_jira_metric_snippets_are_valid_queries():
    snippets = [yaml.safe_load(b) for b in readme_jira_blocks() if b.lstrip().startswith("metric:")]
    assert len(snippets) >= 5
    measures = set()
    for snippet in snippets:
        query = JiraQuery.model_validate(snippet["metric"])
        measures.add(query.measure)
    assert measures == {"count", "sum", "average", "median", "percentile", "ratio"}
