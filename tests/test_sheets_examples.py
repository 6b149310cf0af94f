"""The Google Sheets examples of the README and examples/sheets/ load and validate (docs match the code)."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import yaml

from mapping.errors import ConfigError
from mapping.loader import apply_register, load_config, register_warnings
from mapping.register import RegisterRows
from mapping.sources.sheets import SheetsQuery

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "sheets" / "okrs.yaml"
TEMPLATE = ROOT / "examples" / "sheets" / "register-template.csv"


def readme_section(start: str, stop_prefix: str = "#### ") -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    begin = text.index(start)
    end = text.find("\n" + stop_prefix, begin + len(start))
    return text[begin:end if end != -1 else len(text)]


def yaml_blocks(section: str) -> list:
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.S)]


def test_the_sheets_example_validates_and_its_register_template_maps_every_kr(write_config):
    config = load_config(EXAMPLE, check_env=False)
    assert config.okrs is not None and {o.kind for o in config.outputs} == {"sheets", "xlsx"}
    with TEMPLATE.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    merged = apply_register(config, RegisterRows(config.okrs.worksheet, rows))
    ids = [kr.id for _, kr in merged.key_results()]
    assert ids == ["new-arr", "pilot-customers", "gross-margin", "runway", "nps", "nps-responses"]
    assert register_warnings(merged) == []  # pilot-customers is typed by hand (Manual value), the rest mapped
    assert merged._register.manual == {"pilot-customers": 3.0}
    assert merged.objectives[2].aligns_to == "new-arr"


def test_readme_sheets_snippets_make_a_valid_config(tmp_path):
    source_blocks = yaml_blocks(readme_section("#### `sheets` — Google Sheets"))
    output_blocks = yaml_blocks(readme_section("#### `sheets` — the Google summary spreadsheet"))
    sources = next(b for b in source_blocks if "sources" in b)["sources"]
    okrs = next(b for b in source_blocks if "okrs" in b)["okrs"]
    metrics = [b["metric"] for b in source_blocks if "metric" in b]
    assert len(metrics) == 3
    for metric in metrics:
        SheetsQuery.model_validate(metric)  # each README metric is a valid sheets query
    config = {"period": "2026-Q4", "sources": sources, "okrs": okrs, "outputs": output_blocks[0]["outputs"]}
    path = tmp_path / "okrs.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    loaded = load_config(path, check_env=False)
    assert set(loaded.okrs.metrics) == {"new-arr", "nps"} and loaded.outputs[0].history_points == 12


def test_an_unknown_output_kind_is_named_as_such(write_config):
    path = write_config("""
        period: 2026-Q4
        objectives: [{id: o, title: O, key_results: [{id: k, title: K, type: milestone}]}]
        outputs:
          - {kind: sheet, spreadsheet: 1OkrSummary000000000000000000000000000000000}
        """)
    with pytest.raises(ConfigError) as info:
        load_config(path, check_env=False)
    assert "okrs.yaml:4: outputs[0].kind: unknown output kind 'sheet'" in str(info.value)


def test_a_sheets_output_with_a_bad_spreadsheet_is_reported_on_its_line(write_config):
    path = write_config("""
        period: 2026-Q4
        objectives: [{id: o, title: O, key_results: [{id: k, title: K, type: milestone}]}]
        outputs:
          - kind: sheets
            spreadsheet: my summary
        """)
    with pytest.raises(ConfigError) as info:
        load_config(path, check_env=False)
    assert "okrs.yaml:5: outputs[0].spreadsheet: 'my summary' is neither a Google Sheets URL" in str(info.value)


def test_validate_reports_unset_credential_env_vars_of_register_and_output(write_config):
    path = write_config("""
        period: 2026-Q4
        okrs: {from: sheets, spreadsheet: 1OkrRegister00000000000000000000000000000000, credentials_env: REG_KEY}
        outputs:
          - {kind: sheets, spreadsheet: 1OkrSummary000000000000000000000000000000000, credentials_env: OUT_KEY}
        """)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"OUT_KEY": "x"})
    assert "okrs.yaml:2: okrs.credentials_env: environment variable REG_KEY is not set" in str(info.value)
    assert "OUT_KEY" not in str(info.value)
    assert load_config(path, env={"OUT_KEY": "x", "REG_KEY": "y"}).okrs.worksheet == "OKRs"
