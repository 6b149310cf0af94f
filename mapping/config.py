"""The okrs.yaml model: period, sources, objectives with their key results, outputs and status bands."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from mapping.period import Period, parse_period
from mapping.sources import SourceConfig
from mapping.register import RegisterConfig
from mapping.alerts import AlertSettings
from mapping.sources.base import MAX_AGE_HELP, Duration, StrictModel, check_duration
from mapping.sources.sheets import SheetsOutput

KRType = Literal["increase", "decrease", "at_most", "at_least", "milestone", "compliance"]
Level = Literal["company", "department", "team", "individual"]
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


@dataclass(frozen=True)
class Query:
    """One distinct question to one source; identical questions from different KRs compare equal."""

    source: str
    key: str  # canonical JSON of the kind-specific query fields
    spec: Any = None  # the validated kind-specific query model

    def __hash__(self) -> int:
        return hash((self.source, self.key))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Query) and (self.source, self.key) == (other.source, other.key)

    @classmethod
    def of(cls, source: str, spec: BaseModel) -> "Query":
        fields = spec.model_dump(mode="json", exclude={"source"})
        return cls(source, json.dumps(fields, sort_keys=True, separators=(",", ":")), spec)

    def describe(self) -> str:
        """Short human text of the query, for history rows and reports."""
        return self.key if len(self.key) <= 200 else self.key[:197] + "..."


class PeriodSpec(StrictModel):
    """An explicit period: a name with first and last day (both included)."""

    name: str
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> "PeriodSpec":
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


GATE_KEYS = ("valid_range", "max_change")
FORMULA_KEYS = ("formula", "inputs")


class Metric(BaseModel):
    """Where a KR's current value comes from: a source name plus that source kind's query fields,
    or a `formula` over named `inputs` (each a source + query); optionally guarded by a quality gate."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)  # .inf/.nan never score
    source: Optional[str] = Field(None, description="name of an entry under sources (not with formula)")
    formula: Optional[str] = Field(None, description="arithmetic over the input names, e.g. defects / produced * 100 (+ - * /, parentheses, min, max, abs, round)")
    inputs: dict[str, "Metric"] = Field(default_factory=dict, description="name -> {source, <query fields>} used by formula")
    valid_range: Optional[tuple[float, float]] = Field(None, description="[min, max]: a value outside is held back (not published, not recorded)")
    max_change: Optional[Union[float, str]] = Field(None, description="largest plausible move from the last recorded day, in the unit (5) or relative ('20%'); a bigger jump is held back")
    _query: Optional[Query] = PrivateAttr(None)

    @property
    def query(self) -> Query:
        if self._query is None:
            raise RuntimeError("metric was not bound to its source; load the config with mapping.loader.load_config")
        return self._query

    def query_fields(self) -> dict[str, Any]:
        """The kind-specific query fields (plus source), without the formula and gate keys."""
        return self.model_dump(exclude={*GATE_KEYS, *FORMULA_KEYS})

    def leaves(self) -> list["Metric"]:
        """The metrics that are asked of a source: this one, or a formula's inputs."""
        return list(self.inputs.values()) if self.formula is not None else [self]


class Compliance(StrictModel):
    """`type: compliance`: a threshold that must hold in at least `required` of `of` windows (days or weeks)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    at_most: Optional[float] = Field(None, description="a window holds when its value is at or below this (set this or at_least)")
    at_least: Optional[float] = Field(None, description="a window holds when its value is at or above this (set this or at_most)")
    window: Literal["day", "week"] = Field("week", description="day, or week (Monday to Sunday); only windows wholly inside the period count")
    required: int = Field(ge=1, description="how many windows must hold")
    of: Optional[int] = Field(None, ge=1, description="how many windows are counted: the first `of` whole windows of the period (default: all of them)")
    window_value: Literal["mean", "last", "worst"] = Field("mean", description="a window's value from its points: mean, last (newest), or worst (every point must hold)")

    @model_validator(mode="after")
    def _one_threshold(self) -> "Compliance":
        if (self.at_most is None) == (self.at_least is None):
            raise ValueError("set exactly one of at_most or at_least (the threshold each window must hold)")
        return self

    @property
    def threshold(self) -> float:
        return self.at_most if self.at_most is not None else self.at_least  # type: ignore[return-value]

    def holds(self, value: float) -> bool:
        return value <= self.threshold if self.at_most is not None else value >= self.threshold


class Levels(StrictModel):
    """Three-level grading of an increase/decrease KR: minimum scores 0.3, the KR's target 0.7, stretch 1.0."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    minimum: float = Field(description="value that scores 0.3 (between baseline and target)")
    stretch: float = Field(description="value that scores 1.0 (beyond the target)")


class KeyResult(StrictModel):
    """A measurable result: where it starts, where it must get to, and how it is measured."""

    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)  # "inf"/"nan" as text too
    id: str = Field(pattern=ID_PATTERN, description="unique across the file; used in history and alignment")
    title: str
    owner: Optional[str] = None
    type: KRType = Field("increase", description="increase/decrease: baseline -> target; at_most/at_least: keep a threshold; milestone: 0 or 1")
    baseline: Optional[float] = Field(None, description="value at the start of the period")
    target: Optional[float] = Field(None, description="value to reach (or threshold to hold)")
    unit: str = ""
    weight: float = Field(1.0, gt=0, description="weight in the objective's score")
    committed: bool = Field(False, description="committed KRs must reach 1.0; aspirational ones (default) count 0.7 as success")
    metric: Optional[Metric] = Field(None, description="where the current value comes from; none = not measured automatically")
    compliance: Optional[Compliance] = Field(None, description="type compliance: {at_most | at_least, window, required, of}")
    pace: Optional[dict[date, float]] = Field(None, description="date -> share (0..1) of the way from baseline to target expected by the end of that day; linear between points")
    steps: Optional[dict[date, float]] = Field(None, description="date -> value expected by the end of that day (like pace, in the KR's unit)")
    levels: Optional[Levels] = Field(None, description="{minimum, stretch}: score 0.3 at minimum, 0.7 at target, 1.0 at stretch")
    confidence: Optional[float] = Field(None, json_schema_extra={"minimum": 0, "maximum": 10},
                                        description="the owner's confidence 0..10 that the KR will be achieved (shown next to the status)")
    max_age: Duration = Field(None, description=MAX_AGE_HELP + " (default: its source's max_age)")
    _max_age = field_validator("max_age")(classmethod(lambda cls, value: check_duration(value)))

    @field_validator("confidence")
    @classmethod
    def _confidence_scale(cls, value: Optional[float]) -> Optional[float]:
        if value is not None and not 0 <= value <= 10:
            raise ValueError(f"confidence {value:g} is not on the 0-10 scale; write 0 (no chance) to 10 (certain)")
        return value

    @model_validator(mode="after")
    def _milestone_target(self) -> "KeyResult":
        if self.type == "milestone" and self.target is None:
            self.target = 1.0
        return self


class Objective(StrictModel):
    """A qualitative goal measured by its key results, possibly supporting a higher-level KR."""

    model_config = ConfigDict(extra="forbid", frozen=False)
    id: str = Field(pattern=ID_PATTERN)
    title: str
    level: Level = "team"
    owner: Optional[str] = None
    aligns_to: Optional[str] = Field(None, description="id of the parent KR this objective supports")
    key_results: list[KeyResult] = Field(min_length=1)


class StatusBands(StrictModel):
    """When a KR counts as on track or at risk, relative to the progress expected by now."""

    model_config = ConfigDict(allow_inf_nan=False)

    on_track: float = Field(0.9, ge=0, le=1, description="pace (progress / expected) at or above this is on_track")
    at_risk: float = Field(0.6, ge=0, le=1, description="pace at or above this (but below on_track) is at_risk; below is off_track")
    aspirational_bar: float = Field(0.7, gt=0, le=1, description="progress an aspirational KR needs by period end to count as achieved")
    milestone_at_risk_after: float = Field(0.75, ge=0, le=1, description="an unreached milestone turns at_risk once this share of the period is over")

    @model_validator(mode="after")
    def _ordered(self) -> "StatusBands":
        if self.at_risk > self.on_track:
            raise ValueError("at_risk must not exceed on_track")
        return self


class FetchPolicy(StrictModel):
    """Retries of a source whose whole batch failed with a retriable error (unreachable, 429, 5xx)."""

    model_config = ConfigDict(allow_inf_nan=False)

    retries: int = Field(2, ge=0, le=10)
    retry_delay_seconds: float = Field(10.0, ge=0, description="first delay; doubles on every retry")


class XlsxOutput(StrictModel):
    """The summary workbook: Dashboard, Summary, Objectives and History sheets, written atomically."""

    kind: Literal["xlsx"]
    path: str = Field(description="where to write the .xlsx, relative to the config file")
    title: Optional[str] = Field(None, description="title of the Dashboard sheet (default: OKR dashboard · <workspace> · <period>)")
    checkin_path: Optional[str] = Field(None, description="workbook of the weekly check-in and period review sheets, relative to the config file (default: <path stem>-checkins.xlsx next to path)")


class HtmlOutput(StrictModel):
    """The self-contained HTML report: the dashboard with a trend per KR and why each value is what it is."""

    kind: Literal["html"]
    path: str = Field(description="where to write the .html, relative to the config file")
    title: Optional[str] = Field(None, description="heading of the report (default: OKR dashboard · <workspace> · <period>)")


OutputConfig = Annotated[Union[XlsxOutput, SheetsOutput, HtmlOutput], Field(discriminator="kind")]


class LintSettings(StrictModel):
    """Thresholds of `okr-sync lint` (the OKR pitfalls it warns about) and the rules switched off."""

    model_config = ConfigDict(allow_inf_nan=False)

    disable: list[str] = Field(default_factory=list, description="rule ids not to check, e.g. [monthly-period]")
    max_objectives_per_owner: int = Field(5, ge=1, description="more objectives than this for one owner at one level is too-many-objectives")
    max_krs_per_objective: int = Field(5, ge=1, description="more KRs than this in one objective is too-many-krs")
    committed_share: tuple[float, float] = Field((0.2, 0.8), description="[min, max] share of committed KRs in a file of 3 or more KRs")
    sandbagging_days: int = Field(14, ge=0, description="an aspirational KR already at its target on a day recorded this many days into the period is sandbagging")
    confidence_high: float = Field(8, ge=0, le=10, description="confidence (0-10) at or above this while off_track is confidence-mismatch")
    confidence_low: float = Field(2, ge=0, le=10, description="confidence (0-10) at or below this while on_track or done is confidence-mismatch")

    @field_validator("disable")
    @classmethod
    def _known_rules(cls, rules: list[str]) -> list[str]:
        import difflib

        from mapping.lint import RULES
        for rule in rules:
            if rule not in RULES:
                close = difflib.get_close_matches(rule, list(RULES), n=1)
                raise ValueError(f"unknown lint rule {rule!r}" + (f"; did you mean {close[0]!r}?" if close else f"; rules: {', '.join(RULES)}"))
        return rules

    @model_validator(mode="after")
    def _share(self) -> "LintSettings":
        low, high = self.committed_share
        if not 0 <= low <= high <= 1:
            raise ValueError("committed_share must be [min, max] with 0 <= min <= max <= 1")
        return self


_CRON = re.compile(r"^\S+(\s+\S+){4}$")


class ScheduleSpec(StrictModel):
    """When `okr-sync deploy` schedules this config's flows: cron lines in the config's `timezone` (null = no schedule)."""

    sync: Optional[str] = Field("0 6 * * 1-5", description="cron of the sync (default 06:00 on weekdays)")
    checkin: Optional[str] = Field("0 8 * * 1", description="cron of the weekly check-in (default Monday 08:00)")
    review: Optional[str] = Field("0 7 * * *", description="cron of the period review; it writes once, on the first run "
                                  "after the period ended plus review_offset_days (default: tried daily at 07:00)")
    review_offset_days: int = Field(0, ge=0, le=90, description="days after the period's end before the review is written (sources that close late)")

    @field_validator("sync", "checkin", "review")
    @classmethod
    def _cron(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not _CRON.match(value.strip()):
            raise ValueError(f"{value!r} is not a cron line of 5 fields like '0 6 * * 1-5' (minute hour day month weekday)")
        return value.strip() if value else value


class Config(StrictModel):
    """A whole okrs.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=False)
    period: Union[str, PeriodSpec] = Field(description="2026-Q4, 2026-11, or {name, start, end}")
    workspace: Optional[str] = Field(None, pattern=ID_PATTERN, max_length=100,
                                     description="the history series this config writes (default: <folder>-<file name>); renaming it starts a new series")
    history_retention_days: Optional[int] = Field(None, ge=1, description="delete recorded days and runs older than this (default: keep everything)")
    timezone: str = Field("UTC", description="IANA zone in which days and 'now' are counted")
    history: str = Field("sqlite:///.okr-sync/history.db", description="SQLAlchemy URL of the history store (relative SQLite paths are relative to the config file)")
    history_env: Optional[str] = Field(None, description="env var holding the history URL (overrides history)")
    history_secret: Optional[str] = Field(None, description="name of a Prefect Secret block holding the history URL (overrides history; not with history_env)")
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    objectives: list[Objective] = Field(default_factory=list, description="required unless okrs names a register sheet")
    okrs: Optional[RegisterConfig] = Field(None, description="objectives and KRs kept in a Google Sheets register: {from: sheets, spreadsheet, worksheet, metrics}")
    outputs: list[OutputConfig] = Field(default_factory=list)
    status: StatusBands = Field(default_factory=StatusBands)
    fetch: FetchPolicy = Field(default_factory=FetchPolicy)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec, description="when `okr-sync deploy` schedules the sync, check-in and review (cron, in timezone)")
    lint: Optional[LintSettings] = Field(None, description="settings of okr-sync lint: {disable: [rule ids], max_krs_per_objective: 5, ...}")
    alerts: Optional[AlertSettings] = Field(None, description="messages on a KR turning at_risk/off_track, a failed source, a stale KR: {notify: [<block type>/<name>], when, recovered}")

    _file: Path = PrivateAttr(Path("okrs.yaml"))
    _register: Any = PrivateAttr(None)  # the parsed register (rows, manual values), set by mapping.loader.apply_register
    _lines: dict = PrivateAttr(default_factory=dict)  # key path -> line in the file, kept by the loader for later messages (lint)

    @property
    def file(self) -> Path:
        return self._file

    @property
    def base_dir(self) -> Path:
        return self._file.parent

    def resolve_path(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def period_obj(self) -> Period:
        if isinstance(self.period, PeriodSpec):
            return Period(self.period.name, self.period.start, self.period.end)
        return parse_period(self.period)

    def key_results(self) -> list[tuple[Objective, KeyResult]]:
        return [(objective, kr) for objective in self.objectives for kr in objective.key_results]

    @property
    def workspace_id(self) -> str:
        """The `workspace:` key, else `<folder>-<file stem>` of the config file, lower-case (stable across checkouts)."""
        if self.workspace:
            return self.workspace
        parts = [self._file.resolve().parent.name, self._file.stem]
        slug = re.sub(r"[^a-z0-9_.-]+", "-", "-".join(p for p in parts if p).lower()).strip("-.")
        return slug or "okrs"

    def period_name_of(self, day: date) -> str:
        """The name of the period `day` falls in, counted like this config's period: its own name inside it,
        else the quarter (for a quarter or an explicit range) or the month (for a month) of that day."""
        period = self.period_obj()
        if period.start <= day <= period.end:
            return period.name
        if isinstance(self.period, str) and re.match(r"^\d{4}-\d{2}$", self.period.strip()):
            return f"{day.year}-{day.month:02d}"
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
