"""okr-sync lint: every rule on a good and a bad example, a config that breaks every rule once, settings, CLI."""
import copy
from collections import Counter
from datetime import date, timedelta

import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app
from mapping.errors import ConfigError
from mapping.lint import RULES, lint_file
from mapping.loader import load_config
from mapping.results import KRResult

runner = CliRunner()


def kr(kr_id, **extra):
    base = {"id": kr_id, "title": f"{kr_id} from 10 to 20", "type": "increase", "baseline": 10, "target": 20, "unit": "%",
            "metric": {"source": "db", "sql": "SELECT 1"}}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def good():
    """A config every rule is happy with: a company objective, an aligned department one, 2 of 5 KRs committed."""
    return {
        "period": "2026-Q4",
        "sources": {"db": {"kind": "sql", "url": "sqlite:///data.db"}},
        "objectives": [
            {"id": "loved", "title": "Customers love us", "level": "company", "owner": "CEO",
             "key_results": [kr("nps", committed=True), kr("churn", type="decrease", baseline=20, target=10), kr("reviews")]},
            {"id": "fast", "title": "Help arrives fast", "level": "department", "owner": "Support lead", "aligns_to": "nps",
             "key_results": [kr("answered", committed=True), kr("resolved")]},
        ],
    }


def findings(tmp_path, data, **kwargs):
    path = tmp_path / "okrs.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return lint_file(load_config(path, check_env=False), **kwargs)


def rules(tmp_path, data, **kwargs):
    return Counter(f.rule for f in findings(tmp_path, data, **kwargs))


def test_the_good_config_has_no_findings(tmp_path):
    assert findings(tmp_path, good()) == []


def test_too_many_objectives_per_owner_and_level(tmp_path):
    data = good()
    extra = [{"id": f"o{i}", "title": f"Goal {i}", "level": "individual", "owner": "Ann",
              "key_results": [kr(f"k{i}", committed=i % 2 == 0)]} for i in range(5)]
    data["objectives"] += extra
    assert rules(tmp_path, data)["too-many-objectives"] == 0  # five is fine
    data["objectives"].append({"id": "o5", "title": "Goal 5", "level": "individual", "owner": "Ann", "key_results": [kr("k5")]})
    assert rules(tmp_path, data)["too-many-objectives"] == 1
    data["objectives"][-1]["owner"] = "Bob"  # another owner: counted apart
    assert rules(tmp_path, data)["too-many-objectives"] == 0


def test_too_many_krs_per_objective(tmp_path):
    data = good()
    data["objectives"][1]["key_results"] += [kr("r3", committed=True), kr("r4"), kr("r5")]
    assert rules(tmp_path, data)["too-many-krs"] == 0  # five
    data["objectives"][1]["key_results"].append(kr("r6"))
    found = [f for f in findings(tmp_path, data) if f.rule == "too-many-krs"]
    assert len(found) == 1 and "6 key results" in found[0].message and found[0].path == "objectives[1].key_results[5]"


def test_milestone_only_objective(tmp_path):
    data = good()
    data["objectives"][1]["key_results"][1] = kr("go-live", type="milestone", baseline=None, target=None, unit=None)
    assert rules(tmp_path, data)["milestone-only"] == 0  # one milestone next to a measured KR is fine
    data["objectives"][1]["key_results"][0] = kr("signed", type="milestone", baseline=None, target=None, unit=None, committed=True)
    assert rules(tmp_path, data)["milestone-only"] == 1


@pytest.mark.parametrize("title", ["Launch the partner portal", "Hold 10 customer workshops", "Complete the ISO audit",
                                   "Attend three trade fairs", "implemented: new CRM"])
def test_activity_kr_titles(tmp_path, title):
    data = good()
    data["objectives"][0]["key_results"][2]["title"] = title
    assert rules(tmp_path, data)["activity-kr"] == 1


@pytest.mark.parametrize("title", ["Partner revenue from 10% to 20%", "80 story points delivered", "Launches that miss the date from 30% to 10%"])
def test_outcome_titles_are_not_activities(tmp_path, title):
    data = good()
    data["objectives"][0]["key_results"][2]["title"] = title
    assert rules(tmp_path, data)["activity-kr"] == 0


def test_kr_without_owner(tmp_path):
    data = good()
    del data["objectives"][1]["owner"]
    data["objectives"][1]["key_results"][0]["owner"] = "Ann"  # its own owner is enough
    found = [f for f in findings(tmp_path, data) if f.rule == "kr-no-owner"]
    assert [f.path for f in found] == ["objectives[1].key_results[1].id"]


def test_kr_without_unit_and_without_metric(tmp_path):
    data = good()
    del data["objectives"][0]["key_results"][1]["unit"]
    del data["objectives"][0]["key_results"][2]["metric"]
    data["objectives"][1]["key_results"][1] = kr("go-live", type="milestone", baseline=None, target=None, unit=None)  # a milestone needs no unit
    assert rules(tmp_path, data) == Counter({"kr-no-unit": 1, "kr-no-metric": 1})


def test_no_company_objective_and_unaligned_objectives(tmp_path):
    data = good()
    data["objectives"][0]["level"] = "department"
    found = rules(tmp_path, data)
    assert found["no-company-objective"] == 1 and found["unaligned-objective"] == 1  # the former company objective aligns to nothing
    data = good()
    data["objectives"][1]["level"] = "individual"
    del data["objectives"][1]["aligns_to"]
    assert rules(tmp_path, data)["unaligned-objective"] == 0  # individual objectives may stand alone


def test_committed_share_out_of_range(tmp_path):
    data = good()
    for _, objective in enumerate(data["objectives"]):
        for item in objective["key_results"]:
            item["committed"] = True
    found = [f for f in findings(tmp_path, data) if f.rule == "committed-share"]
    assert len(found) == 1 and "100% of the 5 key results" in found[0].message
    for objective in data["objectives"]:
        for item in objective["key_results"]:
            item["committed"] = False
    assert rules(tmp_path, data)["committed-share"] == 1
    data["lint"] = {"committed_share": [0, 0.5]}  # a team that wants no committed KRs says so
    assert rules(tmp_path, data)["committed-share"] == 0


def test_committed_share_needs_three_krs(tmp_path):
    data = good()
    data["objectives"] = data["objectives"][:1]
    data["objectives"][0]["key_results"] = [kr("nps", committed=True), kr("churn", committed=True)]
    assert rules(tmp_path, data)["committed-share"] == 0  # 100% of two KRs says nothing yet


def test_sandbagging_from_the_first_recorded_value(tmp_path):
    data = good()
    start = date(2026, 10, 1)
    at_target = {"reviews": (start + timedelta(days=2), 25.0)}  # aspirational 10 -> 20, already 25 on day 3
    found = [f for f in findings(tmp_path, data, first_values=at_target) if f.rule == "sandbagging"]
    assert len(found) == 1 and "reviews" in found[0].message and found[0].path.endswith(".target")
    assert rules(tmp_path, data)["sandbagging"] == 0  # no history: silent
    assert rules(tmp_path, data, first_values={"reviews": (start + timedelta(days=2), 15.0)})["sandbagging"] == 0  # on its way
    assert rules(tmp_path, data, first_values={"nps": (start, 25.0)})["sandbagging"] == 0  # committed: holding it is the point
    assert rules(tmp_path, data, first_values={"reviews": (start + timedelta(days=40), 25.0)})["sandbagging"] == 0  # first seen late
    assert rules(tmp_path, data, first_values={"churn": (start, 9.0)})["sandbagging"] == 1  # decrease 20 -> 10, already 9


@pytest.mark.parametrize("title", ["NPS counts for the annual bonus", "Appraisal-ready sales pipeline", "Pay-out of sales commissions on time"])
def test_compensation_words(tmp_path, title):
    data = good()
    data["objectives"][0]["title"] = title
    assert rules(tmp_path, data)["compensation"] == 1


def test_pay_in_ordinary_words_is_not_compensation(tmp_path):
    data = good()
    data["objectives"][0]["title"] = "Payments customers trust; raise product quality"
    assert rules(tmp_path, data)["compensation"] == 0


def test_monthly_period(tmp_path):
    data = good()
    data["period"] = "2026-11"
    assert rules(tmp_path, data)["monthly-period"] == 1
    data["lint"] = {"disable": ["monthly-period"]}  # the startup template does this
    assert rules(tmp_path, data)["monthly-period"] == 0
    data["period"] = {"name": "H2", "start": "2026-07-01", "end": "2026-12-31"}
    assert rules(tmp_path, data)["monthly-period"] == 0


def result(kr_id, status, confidence=None):
    extra = {} if confidence is None else {"confidence": confidence}
    return KRResult("loved", kr_id, 15.0, 0.5, 0.5, 0.5, status, extra=extra)


def test_confidence_mismatch(tmp_path):
    data = good()
    bad = {"nps": result("nps", "off_track", 9.0), "churn": result("churn", "done", 1.0)}
    found = [f for f in findings(tmp_path, data, results=bad) if f.rule == "confidence-mismatch"]
    assert [f.path for f in found] == ["objectives[0].key_results[0].id", "objectives[0].key_results[1].id"]
    assert "confidence 9/10 but the numbers say off_track" in found[0].message
    fine = {"nps": result("nps", "on_track", 9.0), "churn": result("churn", "off_track", 1.0), "reviews": result("reviews", "off_track"),
            "answered": result("answered", "at_risk", 5.0)}
    assert rules(tmp_path, data, results=fine)["confidence-mismatch"] == 0
    assert rules(tmp_path, data)["confidence-mismatch"] == 0  # no results: silent


def every_rule_broken():
    """One config that breaks every rule exactly once (sandbagging and confidence need the inputs below)."""
    people = [{"id": f"p{i}", "title": f"Personal goal {i}", "level": "individual", "owner": "Bob",
               "key_results": [kr(f"p{i}-kr")]} for i in range(6)]
    return {
        "period": "2026-11",
        "sources": {"db": {"kind": "sql", "url": "sqlite:///data.db"}},
        "objectives": [
            {"id": "dept", "title": "Sales tied to the yearly bonus", "level": "department", "owner": "Ann",
             "key_results": [kr("a1"), kr("a2"), kr("a3"), kr("a4", unit=None), kr("a5", metric=None), kr("a6")]},
            {"id": "events", "title": "Be seen", "level": "individual",
             "key_results": [kr("launch", type="milestone", title="Launch the community", baseline=None, target=None, unit=None, owner="Eve"),
                             kr("fair", type="milestone", title="Booth at the fair", baseline=None, target=None, unit=None)]},
            *people,
        ],
    }


def test_a_config_that_breaks_every_rule_reports_each_once(tmp_path):
    data = every_rule_broken()
    first = {"a1": (date(2026, 11, 2), 30.0)}
    results = {"a2": result("a2", "off_track", 10.0)}
    found = findings(tmp_path, data, first_values=first, results=results)
    assert Counter(f.rule for f in found) == Counter({rule: 1 for rule in RULES}), [str(f) for f in found]
    text = (tmp_path / "okrs.yaml").read_text().splitlines()
    for finding in found:  # every finding names this file and a line, and says how to fix it
        assert finding.file == str(tmp_path / "okrs.yaml") and finding.line and finding.fix
        assert str(finding).startswith(f"{tmp_path / 'okrs.yaml'}:{finding.line}: {finding.rule}: ")
    by_rule = {f.rule: f for f in found}
    assert text[by_rule["kr-no-metric"].line - 1].strip() == "- id: a5"
    assert text[by_rule["monthly-period"].line - 1].startswith("period:")


def test_disable_and_thresholds(tmp_path):
    data = every_rule_broken()
    data["lint"] = {"disable": ["compensation", "monthly-period"], "max_krs_per_objective": 6, "max_objectives_per_owner": 6}
    found = rules(tmp_path, data)
    for rule in ("compensation", "monthly-period", "too-many-krs", "too-many-objectives"):
        assert found[rule] == 0
    assert found["kr-no-metric"] == 1


def test_lint_settings_are_validated_with_file_line_and_did_you_mean(tmp_path):
    data = good()
    data["lint"] = {"disable": ["too-many-kr"], "max_kr_per_objective": 3}
    path = tmp_path / "okrs.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, check_env=False)
    text = str(caught.value)
    assert "did you mean 'too-many-krs'?" in text and "did you mean 'max_krs_per_objective'?" in text
    assert f"{path}:" in text
    data["lint"] = {"committed_share": [0.9, 0.1]}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError, match="committed_share must be"):
        load_config(path, check_env=False)


def test_schema_lists_the_rule_ids():
    from mapping.schema import config_schema
    schema = config_schema()
    assert "lint" in schema["properties"]
    assert schema["$defs"]["LintSettings"]["properties"]["disable"]["items"]["enum"] == list(RULES)


# ---- the CLI: lint, validate's warnings, --strict, --history ----------------------------------------

def write(tmp_path, data):
    path = tmp_path / "okrs.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


def test_lint_cli_warns_and_strict_fails_with_the_config_exit_code(tmp_path):
    data = good()
    data["period"] = "2026-11"
    path = write(tmp_path, data)
    plain = runner.invoke(app, ["lint", path])
    assert plain.exit_code == 0 and "monthly-period" in plain.stdout and "1 lint finding" in plain.stdout
    strict = runner.invoke(app, ["lint", "--strict", path])
    assert strict.exit_code == 2 and "error:" in strict.stderr and "monthly-period" in strict.stderr
    clean = runner.invoke(app, ["lint", "--strict", write(tmp_path, good())])
    assert clean.exit_code == 0 and "no lint findings" in clean.stdout


def test_validate_prints_findings_as_warnings_and_strict_makes_them_errors(tmp_path):
    data = good()
    data["objectives"][0]["key_results"][2]["title"] = "Launch the partner portal"
    path = write(tmp_path, data)
    plain = runner.invoke(app, ["validate", path])
    assert plain.exit_code == 0 and ": OK - " in plain.stdout and "warning:" in plain.stderr and "activity-kr" in plain.stderr
    strict = runner.invoke(app, ["validate", "--strict", path])
    assert strict.exit_code == 2 and "activity-kr" in strict.stderr and ": OK - " not in strict.stdout


def test_lint_history_finds_sandbagging_after_a_run(tmp_path):
    """End to end: a run records an aspirational KR already past its target; lint --history reads it back."""
    today = date.today()
    (tmp_path / "value.csv").write_text("value\n25\n", encoding="utf-8")
    data = good()
    data["period"] = {"name": "sprint", "start": (today - timedelta(days=3)).isoformat(), "end": (today + timedelta(days=80)).isoformat()}
    data["sources"] = {"csv": {"kind": "file", "path": "value.csv"}}
    for objective in data["objectives"]:
        for item in objective["key_results"]:
            item["metric"] = {"source": "csv", "column": "value", "agg": "last"}
    path = write(tmp_path, data)
    assert runner.invoke(app, ["run", path], env={"PREFECT_API_URL": ""}).exit_code == 0
    assert "sandbagging" not in runner.invoke(app, ["lint", path]).stdout  # without --history: silent
    found = runner.invoke(app, ["lint", "--history", path])
    assert found.exit_code == 0
    flagged = sorted(line.split("'")[1] for line in found.stdout.splitlines() if "sandbagging" in line)
    assert flagged == ["resolved", "reviews"]  # the aspirational increase KRs; committed and decrease KRs are not sandbagging


def test_lint_preview_finds_confidence_far_from_the_numbers(tmp_path):
    """End to end: `lint --preview` computes the KRs (writing nothing) and compares them with the owners' confidence."""
    today = date.today()
    (tmp_path / "value.csv").write_text("value\n10\n", encoding="utf-8")
    data = good()
    data["period"] = {"name": "late", "start": (today - timedelta(days=80)).isoformat(), "end": (today + timedelta(days=5)).isoformat()}
    data["sources"] = {"csv": {"kind": "file", "path": "value.csv"}}
    for objective in data["objectives"]:
        for item in objective["key_results"]:
            item["metric"] = {"source": "csv", "column": "value", "agg": "last"}  # 10: no progress, late in the period
    data["objectives"][0]["key_results"][0]["confidence"] = 9  # nps: off_track, yet the owner is sure
    data["objectives"][0]["key_results"][2]["confidence"] = 3  # reviews: off_track and the owner knows it
    path = write(tmp_path, data)
    assert "confidence-mismatch" not in runner.invoke(app, ["lint", path]).stdout  # nothing computed: silent
    found = runner.invoke(app, ["lint", "--preview", path], env={"PREFECT_API_URL": ""})
    assert found.exit_code == 0, found.output
    flagged = [line for line in found.stdout.splitlines() if "confidence-mismatch" in line]
    assert len(flagged) == 1 and "'nps'" in flagged[0] and "9/10" in flagged[0] and "off_track" in flagged[0]
    assert not (tmp_path / ".okr-sync").exists() and not (tmp_path / "out").exists()  # a preview: nothing written


def test_lint_history_without_a_history_store_is_silent(tmp_path):
    path = write(tmp_path, good())
    result = runner.invoke(app, ["lint", "--history", path])
    assert result.exit_code == 0 and "no lint findings" in result.stdout
    assert not (tmp_path / ".okr-sync").exists()  # read-only: nothing created


def test_every_rule_is_documented_in_the_readme():
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for rule in RULES:
        assert f"`{rule}`" in readme, rule


def test_rules_do_not_mutate_the_config(tmp_path):
    data = every_rule_broken()
    path = tmp_path / "okrs.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    config = load_config(path, check_env=False)
    before = copy.deepcopy(config.model_dump())
    lint_file(config)
    assert config.model_dump() == before


def test_lint_uses_the_line_map_of_the_load_and_does_not_read_the_file_again(tmp_path):
    data = good()
    data["period"] = "2026-11"
    path = write(tmp_path, data)
    config = load_config(path, check_env=False)
    (tmp_path / "okrs.yaml").unlink()  # gone after the load: lint still names the line
    (finding,) = lint_file(config)
    assert finding.rule == "monthly-period" and finding.line == 1
