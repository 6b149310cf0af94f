"""The README is the manual: its YAML examples validate, its test command is what CI runs, prefect.yaml deploys the real flow."""
import inspect
import re
from pathlib import Path

import pytest
import yaml
from pydantic import TypeAdapter

from mapping.config import Config, OutputConfig, StatusBands
from mapping.loader import load_config
from mapping.sources import KINDS, SourceConfig

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```yaml\n(.*?)```", README, flags=re.S)


def test_readme_has_yaml_examples():
    assert len(BLOCKS) >= 6


def test_complete_configs_in_readme_validate(tmp_path):
    complete = [b for b in BLOCKS if re.search(r"^period:", b, flags=re.M)]
    assert complete
    for i, block in enumerate(complete):
        path = tmp_path / f"readme{i}.yaml"
        path.write_text(block, encoding="utf-8")
        load_config(path, check_env=False)


def _source_kinds() -> dict[str, str]:
    kinds = {}
    for block in BLOCKS:
        data = yaml.safe_load(block)
        if isinstance(data, dict) and isinstance(data.get("sources"), dict):
            kinds.update({name: s.get("kind") for name, s in data["sources"].items() if isinstance(s, dict)})
    return kinds


def test_readme_fragments_match_the_config_models():
    kinds = _source_kinds()
    checked = 0
    for block in BLOCKS:
        data = yaml.safe_load(block)
        assert isinstance(data, dict), block
        if "period" in data:
            continue
        for key, value in data.items():
            if key == "sources":
                for settings in value.values():
                    TypeAdapter(SourceConfig).validate_python(settings)
            elif key == "metric" and "source" in value:
                KINDS[kinds[value["source"]]].query_model.model_validate(value)
            elif key == "outputs":
                TypeAdapter(list[OutputConfig]).validate_python(value)
            elif key == "status":
                StatusBands.model_validate(value)
            else:
                assert key in Config.model_fields or key == "metric", f"README fragment uses unknown key {key!r}"
            checked += 1
    assert checked >= 5


def test_ci_runs_exactly_the_readme_test_command():
    commands = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    test_command = next(c.strip() for c in commands if "pytest" in c)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()
    assert "OKR_SYNC_REQUIRE_SERVICES=1" in ci


def test_readme_run_command_uses_the_factory_example():
    commands = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    run = next(c.strip() for c in commands if "okr-sync run examples/factory/okrs.yaml" in c)
    assert "okr-sync example factory" in run


def test_prefect_yaml_deploys_the_sync_flow_on_a_valid_schedule():
    from prefect.client.schemas.schedules import CronSchedule

    from flows.sync import sync_okrs

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (deployment,) = spec["deployments"]
    module, function = deployment["entrypoint"].split(":")
    assert module == "flows/sync.py" and function == "sync_okrs"
    assert set(deployment["parameters"]) <= set(inspect.signature(sync_okrs.fn).parameters)
    assert (ROOT / deployment["parameters"]["config_path"]).exists()
    for schedule in deployment["schedules"]:
        CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    assert deployment["work_pool"]["name"]


def documented(key: str) -> bool:
    """A key counts as documented when it appears as code (`key`, `a[].key`) or as YAML (`key:`) in the README."""
    return bool(re.search(rf"`[^`\n]*\b{re.escape(key)}\b[^`\n]*`", README) or re.search(rf"\b{re.escape(key)}:", README))


def test_every_config_key_is_documented_in_the_readme():
    from mapping.config import KeyResult, Objective

    for model in (Config, Objective, KeyResult, StatusBands):
        for key in model.model_fields:
            assert documented(key), f"{model.__name__}.{key} is not documented in README.md"
    for kind in KINDS.values():
        for model in (kind.source_model, kind.query_model):
            for key in model.model_fields:
                assert documented(key), f"{model.__name__}.{key} ({kind.name}) is not documented"


def test_constraints_pin_every_dependency_the_project_declares():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+; the same file is checked by the 3.11 run")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"]) + list(project["optional-dependencies"]["test"])
    pinned = {re.split(r"[=;\s]", line, maxsplit=1)[0].lower().replace("_", "-")
              for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line and not line.startswith("#")}
    for requirement in wanted:
        name = re.split(r"[<>=!\[;\s]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pinned, f"{name} is not pinned in constraints.txt"


def test_every_variable_the_prefect_pull_step_needs_is_set_in_the_readme_worker_command():
    text = (ROOT / "prefect.yaml").read_text()
    variables = set(re.findall(r"\{\{\s*\$(\w+)\s*\}\}", text))
    section = README.split("### `prefect.yaml`", 1)[1]  # the README part that deploys prefect.yaml
    worker = next(line for line in section.splitlines() if "prefect worker start" in line)
    assert variables and all(f"{name}=" in worker for name in variables), (variables, worker)
