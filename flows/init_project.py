"""`okr-sync init`: write a commented okrs.yaml (from a template, with sample data that runs offline) into a folder.

A template is `flows/templates/<name>/okrs.yaml` (installed as package data) plus its sample-data
generator in `flows/templates/sample_data.py`. The period is the current quarter (the current month
for `startup`), filled in when the files are written, and the sample data covers it up to today, so
`okr-sync run DIR/okrs.yaml` works right away. Without a template the smallest valid config is written.
Existing files are never overwritten without `force` (nothing is written when one of them exists).
"""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional

from mapping.errors import OkrSyncError
from mapping.period import Period, parse_period

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATES = ("software", "manufacturing", "services", "finance", "startup")
MONTHLY = {"startup"}  # templates whose period is a month; the others take a quarter

MINIMAL = """\
# The smallest valid okr-sync config. Next steps:
#   - name a source under `sources:` (sql, file, jira, sheets, rest, ...; see the README) and give the KR a
#     `metric:` reading from it; without a metric the KR shows no_data
#   - or start from a template instead:  okr-sync init DIR --template software|manufacturing|services|finance|startup
#   - check it:  okr-sync validate okrs.yaml && okr-sync lint okrs.yaml
period: {period}
objectives:
  - id: first-objective
    title: Describe where you want to be at the end of the period
    level: company
    owner: CEO
    key_results:
      - id: first-kr
        title: A number that proves it, from 0 to 100
        baseline: 0
        target: 100
        unit: "%"
"""


class InitError(OkrSyncError):
    """An unknown template, or files that would be overwritten without --force (exit code 2)."""


def period_for(template: Optional[str], today: date) -> Period:
    """The period a new config starts with: today's month for a monthly template, else today's quarter."""
    if template in MONTHLY:
        return parse_period(f"{today.year}-{today.month:02d}")
    return parse_period(f"{today.year}-Q{(today.month - 1) // 3 + 1}")


def render(template: Optional[str], period: Period) -> str:
    """The okrs.yaml text of a template (or the minimal config) for `period`."""
    if template is None:
        return MINIMAL.format(period=period.name)
    return (TEMPLATE_DIR / template / "okrs.yaml").read_text(encoding="utf-8").replace("__PERIOD__", period.name)


def _refuse_existing(paths: list[Path], force: bool) -> None:
    existing = [str(p) for p in paths if p.exists() or p.is_symlink()]
    if existing and not force:
        raise InitError(f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                        "nothing was written: pass --force to overwrite, or choose another folder")


def init_project(directory: Path, template: Optional[str] = None, today: Optional[date] = None, force: bool = False) -> list[Path]:
    """Write okrs.yaml (and, for a template, its sample data under data/) into `directory`; return the files written."""
    from flows.example_data import _publish
    from flows.templates.sample_data import GENERATORS

    if template is not None and template not in TEMPLATES:
        import difflib
        close = difflib.get_close_matches(template, TEMPLATES, n=1)
        raise InitError(f"unknown template {template!r}" + (f"; did you mean {close[0]!r}?" if close else "")
                        + f" (templates: {', '.join(TEMPLATES)})")
    today = today or date.today()
    period = period_for(template, today)
    directory = Path(directory)
    data_dir = directory / "data"
    new_data_dir = template is not None and not data_dir.exists()
    (data_dir if template else directory).mkdir(parents=True, exist_ok=True)
    temp_config = directory / "okrs.yaml.tmp"
    temp_config.write_text(render(template, period), encoding="utf-8")
    made = {"okrs.yaml": temp_config}
    try:
        if template is not None:
            made.update(GENERATORS[template](data_dir, period, today))
        targets = {name: directory / name for name in made}
        _refuse_existing(list(targets.values()), force)  # all checked before any is moved into place
        for name, temp in made.items():
            _publish(temp, targets[name], force)
    finally:
        for temp in made.values():
            temp.unlink(missing_ok=True)
        if new_data_dir and not any(data_dir.iterdir()):
            data_dir.rmdir()  # refused: leave the folder as it was
    return list(targets.values())
