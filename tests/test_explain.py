"""`okr-sync explain` of a KR that never had a value: plain words, no Python artefacts, steps numbered 1, 2, 3, ..."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from flows.pipeline import run_sync
from mapping.loader import load_config

CONFIG = """\
period: 2026-Q4
history: sqlite:///history.db
sources:
  quality: {kind: file, path: missing.csv}
objectives:
  - id: voice
    title: Hear the customer
    key_results:
      - {id: nps, title: Customer NPS, baseline: 20, target: 40, unit: x,
         metric: {source: quality, column: nps, agg: last}}
"""


def explain_text(folder: Path, synced: bool) -> str:
    (folder / "okrs.yaml").write_text(CONFIG)
    if synced:  # a run whose source failed: the ledger has the KR, without a value
        run_sync(load_config(folder / "okrs.yaml"), datetime(2026, 11, 16, 12, 0, tzinfo=timezone.utc))
    result = CliRunner().invoke(app, ["explain", str(folder / "okrs.yaml"), "nps"])
    assert result.exit_code == 0, result.output
    return result.stdout


def steps(text: str) -> list[int]:
    return [int(m.group(1)) for m in re.finditer(r"^(\d+)\. ", text, re.MULTILINE)]


def test_explain_of_a_kr_that_never_had_a_value_reads_naturally(tmp_path):
    text = explain_text(tmp_path, synced=True)
    assert "None" not in text and " - x" not in text
    assert "missing.csv" in text and "no value recorded yet, so none is shown" in text
    assert "5. no current value: none recorded yet in this period" in text
    assert "6. last observations: none yet" in text
    assert re.search(r"^7\. last recorded run \w+ \(.*UTC\): no value, params", text, re.MULTILINE)
    assert steps(text) == [1, 2, 3, 4, 5, 6, 7]


def test_explain_before_any_history_numbers_its_steps_consecutively(tmp_path):
    text = explain_text(tmp_path, synced=False)
    assert "None" not in text
    assert steps(text) == [1, 2, 3, 4, 5, 6]
