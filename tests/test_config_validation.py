"""Bad configs: every problem reported at once, each with file, line, key path and a hint."""
import json

import pytest

from mapping.errors import ConfigError
from mapping.loader import load_config
from mapping.schema import config_schema
from mapping.sources import KINDS

GOOD = """
period: 2026-Q4
sources:
  mes: {kind: sql, url_env: MES_URL}
objectives:
  - id: quality
    title: Raise quality
    key_results:
      - id: defect-rate
        title: Defects
        type: at_most
        baseline: 1.2
        target: 0.5
        metric:
          source: mes
          sql: SELECT 1
"""
ENV = {"MES_URL": "sqlite:///x.db"}


def problems(path, env=ENV):
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env)
    return caught.value.problems


def test_good_config_loads_and_binds_metric_queries(write_config):
    config = load_config(write_config(GOOD), env=ENV)
    (_, kr), = config.key_results()
    assert kr.metric.query.source == "mes"
    assert kr.metric.query.spec.sql == "SELECT 1"
    assert config.period_obj().name == "2026-Q4"


def test_malformed_yaml_names_the_line(write_config):
    path = write_config("period: 2026-Q4\nobjectives:\n  - id: a\n   title: broken indent\n")
    (problem,) = problems(path)
    assert problem.line == 4
    assert "malformed YAML" in problem.message


def test_duplicate_yaml_key_is_malformed(write_config):
    path = write_config("period: 2026-Q4\nperiod: 2026-Q3\nobjectives: []\n")
    (problem,) = problems(path)
    assert "duplicate key 'period'" in problem.message and problem.line == 2


def test_unknown_key_gets_a_did_you_mean(write_config):
    path = write_config(GOOD.replace("        baseline: 1.2", "        baseline: 1.2\n        targett: 0.4"))
    (problem,) = problems(path)
    assert problem.message == "unknown key 'targett'"
    assert problem.hint == "did you mean 'target'?"
    assert problem.line == 12
    assert problem.path == "objectives[0].key_results[0].targett"


def test_unknown_metric_key_is_checked_against_its_source_kind(write_config):
    path = write_config(GOOD.replace("          sql: SELECT 1", "          sq: SELECT 1"))
    messages = {p.message for p in problems(path)}
    assert "unknown key 'sq'" in messages
    assert "required key is missing" in messages


def test_unknown_source_key_gets_a_did_you_mean_from_its_own_kind(write_config):
    text = GOOD.replace("  mes: {kind: sql, url_env: MES_URL}",
                        "  mes: {kind: sql, url_env: MES_URL, dialct: postgresql}\n"
                        "  jira: {kind: jira, url: 'https://acme.atlassian.net', deploymnt: cloud, pat_env: PAT}")
    found = {p.message: p for p in problems(write_config(text), env={**ENV, "PAT": "x"})}
    assert found["unknown key 'dialct'"].hint == "did you mean 'dialect'?"
    assert (found["unknown key 'dialct'"].line, found["unknown key 'dialct'"].path) == (3, "sources.mes.dialct")
    assert found["unknown key 'deploymnt'"].hint == "did you mean 'deployment'?"
    assert (found["unknown key 'deploymnt'"].line, found["unknown key 'deploymnt'"].path) == (4, "sources.jira.deploymnt")


@pytest.mark.parametrize("block, message", [
    ("{url_env: MES_URL}", "source has no 'kind'"),
    ("{kind: [sql], url_env: MES_URL}", "unknown source kind \"['sql']\""),
    ("{kind: 7, url_env: MES_URL}", "unknown source kind '7'"),
    ("just-text", "Input should be a valid dictionary or object to extract fields from"),
])
def test_a_source_block_without_a_usable_kind_is_named_at_its_line(write_config, block, message):
    path = write_config(GOOD.replace("  mes: {kind: sql, url_env: MES_URL}", f"  mes: {block}"))
    found = [p for p in problems(path) if p.path.startswith("sources.mes")]
    assert found and found[0].line == 3, [str(p) for p in found]
    assert message in found[0].message


def test_a_config_loads_only_the_source_kinds_it_uses():
    """Models of kinds a config does not use are not built (their modules are never imported)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    code = ("import sys\nfrom mapping.loader import load_config\n"
            "load_config('examples/factory/okrs.yaml', check_env=False)\n"
            "print(sorted(m for m in sys.modules if m.startswith('mapping.sources.') or m == 'jmespath'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['mapping.sources.base', 'mapping.sources.file', 'mapping.sources.sheets', 'mapping.sources.sql']"


def test_unknown_source_names_close_match(write_config):
    path = write_config(GOOD.replace("          source: mes", "          source: mess"))
    (problem,) = problems(path)
    assert problem.message == "unknown source 'mess'"
    assert problem.hint == "did you mean 'mes'?"
    assert problem.line == 14


def test_duplicate_kr_id_points_at_first_use(write_config):
    text = GOOD + """      - id: defect-rate
        title: again
        type: milestone
"""
    (problem,) = problems(write_config(text))
    assert problem.message == "duplicate key result id 'defect-rate'"
    assert problem.line == 16 and "first used at line 8" in problem.hint


def test_baseline_equal_to_target_is_rejected(write_config):
    text = GOOD.replace("type: at_most", "type: increase").replace("baseline: 1.2", "baseline: 0.5")
    (problem,) = problems(write_config(text))
    assert "baseline equals target" in problem.message
    assert problem.path == "objectives[0].key_results[0].target"


def test_direction_must_match_the_numbers(write_config):
    (problem,) = problems(write_config(GOOD.replace("type: at_most", "type: increase")))
    assert "type is increase but target 0.5 is below baseline 1.2" in problem.message
    assert problem.hint == "use type: decrease"


def test_missing_env_var_is_named(write_config):
    (problem,) = problems(write_config(GOOD), env={})
    assert problem.message == "environment variable MES_URL is not set"
    assert problem.line == 3


def test_env_check_can_be_skipped(write_config):
    assert load_config(write_config(GOOD), env={}, check_env=False)


def test_inline_password_is_refused(write_config):
    path = write_config(GOOD.replace("{kind: sql, url_env: MES_URL}", "{kind: sql, url: 'postgresql://u:s3cret@db/mes'}"))
    (problem,) = problems(path)
    assert "holds a password" in problem.message
    assert "s3cret" not in str(problem)


def test_alignment_to_unknown_kr_and_cycles(write_config):
    text = """
    period: 2026-Q4
    objectives:
      - id: a
        title: A
        aligns_to: b1
        key_results: [{id: a1, title: x, type: milestone}]
      - id: b
        title: B
        aligns_to: a1
        key_results: [{id: b1, title: y, type: milestone}]
      - id: c
        title: C
        aligns_to: nope
        key_results: [{id: c1, title: z, type: milestone}]
    """
    found = problems(write_config(text))
    messages = [p.message for p in found]
    assert "aligns to unknown key result 'nope'" in messages
    assert sum("forms a cycle" in m for m in messages) == 2


def test_every_problem_is_reported_at_once_sorted_by_line(write_config):
    text = """
    period: 2026-Q9
    timezone: Mars/Olympus
    sources:
      mes: {kind: sql, url_env: MES_URL}
      web: {kind: ftp}
    objectives:
      - id: o
        title: O
        key_results:
          - {id: k1, title: a, baseline: 1, target: 1}
          - {id: k1, title: b, type: milestone, metric: {source: nowhere}}
          - {id: k3, title: c, colour: red}
    """
    found = problems(write_config(text), env={})
    text_lines = [str(p) for p in found]
    assert len(found) >= 7, text_lines
    assert [p.line for p in found] == sorted(p.line for p in found)
    joined = "\n".join(text_lines)
    for expected in ["is not a quarter", "unknown time zone 'Mars/Olympus'", "unknown source kind 'ftp'",
                     "MES_URL is not set", "baseline equals target", "duplicate key result id 'k1'",
                     "unknown source 'nowhere'", "unknown key 'colour'"]:
        assert expected in joined
    assert all(str(p).startswith(str(found[0].file) + ":") for p in found)


def test_not_a_mapping_and_missing_file(write_config, tmp_path):
    (problem,) = problems(write_config("- just\n- a list\n"))
    assert "must be a mapping" in problem.message
    (missing,) = problems(tmp_path / "nope.yaml")
    assert missing.message == "file not found"


def test_schema_lists_kinds_and_metric_shapes():
    schema = config_schema()
    json.dumps(schema)
    defs = schema["$defs"]
    assert {"SqlSource", "FileSource", "KeyResult", "Objective"} <= set(defs)
    assert {"$ref": "#/$defs/SqlQueryGated"} in defs["Metric"]["anyOf"]
    assert {"$ref": "#/$defs/FormulaMetric"} in defs["Metric"]["anyOf"]
    assert {"sql", "valid_range", "max_change"} <= set(defs["SqlQueryGated"]["properties"])
    assert set(defs["FormulaMetric"]["required"]) == {"formula", "inputs"}


def test_every_example_config_passes_the_json_schema_an_editor_would_use():
    import glob
    from pathlib import Path

    import jsonschema
    import yaml

    schema = config_schema()
    root = Path(__file__).resolve().parent.parent
    examples = sorted(glob.glob(str(root / "examples" / "*" / "*.yaml")))
    assert len(examples) >= 3
    for path in examples:
        data = json.loads(json.dumps(yaml.safe_load(Path(path).read_text()), default=str))
        jsonschema.validate(data, schema)
    broken = json.loads(json.dumps(yaml.safe_load(Path(examples[0]).read_text()), default=str))
    broken["objectives"][0]["key_results"][0]["targett"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_two_sheets_sources_on_one_spreadsheet_are_refused(write_config):
    text = """
    period: 2026-Q4
    sources:
      a: {kind: sheets, spreadsheet: "https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg/edit", credentials_env: G}
      b: {kind: sheets, spreadsheet: 1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg, credentials_env: G}
    objectives:
      - {id: o, title: O, key_results: [{id: k, title: K, type: milestone}]}
    """
    (problem,) = problems(write_config(text), env={"G": "x"})
    assert problem.message == "source 'b' reads the same spreadsheet as source 'a'"
    assert problem.line == 4 and "one request per sync" in problem.hint


def test_every_source_kind_has_a_connector():
    import importlib

    from connectors.registry import CONNECTORS

    assert set(CONNECTORS) == set(KINDS)
    for target in CONNECTORS.values():
        module, cls = target.split(":")
        assert callable(getattr(importlib.import_module(module), cls))
