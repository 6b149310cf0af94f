"""Alerts: which state changes of a sync deserve one message, and the message's text (pure: no I/O, clock passed in).

Three things are watched, each per subject with one remembered state (kept in the history store):

| kind     | subject  | states                                             | alert when it enters              |
|----------|----------|----------------------------------------------------|-----------------------------------|
| `status` | KR id    | the KR's status (done, on_track, at_risk, ...)     | at_risk / off_track (as `when` says) |
| `source` | source   | ok / failed                                        | failed (`source_failed`)          |
| `age`    | KR id    | ok / stale (no fresh value for longer than max_age)| stale (`stale`)                   |

The remembered state is the last state *announced* (or, for changes nobody needs to hear about, simply
the last one seen): a change is compared with it, so the same state is never announced twice, and a
message that could not be delivered is tried again at the next sync as long as the change still holds.
A KR whose source failed keeps its remembered status (its status was computed from an old value).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Literal, Mapping, Optional

from pydantic import Field, field_validator

from mapping.results import KRResult
from mapping.sources.base import StrictModel, parse_duration

if TYPE_CHECKING:
    from mapping.config import Config, KeyResult

AlertOn = Literal["at_risk", "off_track", "source_failed", "stale"]
ALERT_ON: tuple[str, ...] = ("at_risk", "off_track", "source_failed", "stale")
STATUS_ALERTS = ("at_risk", "off_track")
_BLOCK = re.compile(r"^[a-z0-9][a-z0-9-]*/[^/\s]+$")


class AlertSettings(StrictModel):
    """`alerts:` which changes are announced, and through which Prefect notification blocks."""

    notify: list[str] = Field(min_length=1, description="Prefect notification blocks as <block type>/<block name>, "
                                                        "e.g. slack-webhook/okr-alerts (see `prefect block ls`)")
    when: list[AlertOn] = Field(default_factory=lambda: list(ALERT_ON),
                                description="what is announced: at_risk, off_track, source_failed, stale (default: all four)")
    recovered: bool = Field(True, description="also say once when a KR or source that was announced is back to normal")

    @field_validator("notify")
    @classmethod
    def _block_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not _BLOCK.match(name):
                raise ValueError(f"notification block {name!r} must be written <block type>/<block name>, e.g. "
                                 "slack-webhook/okr-alerts, ms-teams-webhook/okr or custom-webhook/okr (see `prefect block ls`)")
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"notification block {twice[0]!r} is listed twice (every message would be sent twice); list it once")
        return names


@dataclass(frozen=True)
class AlertState:
    """The remembered state of one watched subject, and since when it holds."""

    kind: str  # status | source | age
    subject: str  # KR id or source name
    state: str
    since: datetime


@dataclass(frozen=True)
class Alert:
    """A change of a watched subject: `old` -> `new` ("" = never seen), with the message to send (empty: none)."""

    kind: str
    subject: str
    old: str
    new: str
    title: str = ""
    text: str = ""

    @property
    def silent(self) -> bool:
        """A change that is remembered without a message (e.g. on_track -> done, or a first observation that is fine)."""
        return not self.text


def max_age(config: "Config", kr: "KeyResult") -> Optional[timedelta]:
    """The KR's own `max_age`, else the shortest `max_age` of the sources it reads (None: not watched)."""
    if kr.max_age is not None:
        return parse_duration(kr.max_age)
    ages = [parse_duration(age) for leaf in (kr.metric.leaves() if kr.metric else [])
            if leaf.source in config.sources and (age := getattr(config.sources[leaf.source], "max_age", None)) is not None]
    return min(ages) if ages else None


def transitions(config: "Config", results: Mapping[str, KRResult], sources: Mapping[str, str],
                previous: Mapping[tuple[str, str], AlertState], now: datetime) -> list[Alert]:
    """Every change of a watched subject in this sync, in a stable order (sources, then KRs in config order).

    `sources` maps each source asked in this sync to its error ("" when it answered every query).
    """
    settings = config.alerts
    if settings is None:
        return []
    watched = set(settings.when)
    changes: list[Alert] = []

    def change(kind: str, subject: str, new: str, alarm: bool, describe) -> None:  # type: ignore[no-untyped-def]
        before = previous.get((kind, subject))
        old = before.state if before else ""
        if old == new:
            return
        recovered = bool(old) and not alarm and _alarming(kind, old, watched)
        if alarm or (recovered and settings.recovered):
            title, text = describe(old, before)
            changes.append(Alert(kind, subject, old, new, title, text + _footer(config)))
        else:
            changes.append(Alert(kind, subject, old, new))

    if "source_failed" in watched:
        for name, error in sorted(sources.items()):
            stale = [r.kr_id for r in results.values() if r.stale and r.source == name]
            change("source", name, "failed" if error else "ok", bool(error),
                   lambda old, before, name=name, error=error, stale=stale: _source_text(config, name, error, stale, before))
    krs = {kr.id: kr for _, kr in config.key_results()}
    for kr_id, kr in krs.items():
        result = results.get(kr_id)
        if result is None:
            continue
        if watched & set(STATUS_ALERTS) and not result.stale:
            change("status", kr_id, result.status, result.status in watched,
                   lambda old, before, kr=kr, result=result: _status_text(config, kr, result, old))
        limit = max_age(config, kr) if "stale" in watched else None
        reference = _last_fresh(result)
        if limit is not None and reference is not None:
            age = now - reference
            stale = age > limit
            change("age", kr_id, "stale" if stale else "ok", stale,
                   lambda old, before, kr=kr, result=result, age=age, limit=limit: _age_text(config, kr, result, age, limit, old))
    return changes


def _alarming(kind: str, state: str, watched: set[str]) -> bool:
    """Whether `state` is one that was (or would have been) announced."""
    return {"status": state in watched, "source": state == "failed", "age": state == "stale"}[kind]


def _last_fresh(result: KRResult) -> Optional[datetime]:
    """When the KR's value was last read fresh; for a KR whose source has failed ever since it started, its first failure."""
    moment = result.as_of if result.value is not None and result.as_of is not None else (result.stale_since if result.stale else None)
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def _footer(config: "Config") -> str:
    return f"\n(okr-sync · workspace {config.workspace_id} · period {config.period_obj().name})"


def _number(value: Optional[float], unit: str = "") -> str:
    if value is None:
        return "no value"
    return f"{value:,.4g}{(' ' + unit) if unit and unit != '%' else unit}"


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 48:
        return f"{hours / 24:.1f}".removesuffix(".0") + " days"
    if hours >= 1:
        return f"{hours:.1f}".removesuffix(".0") + " hours"
    return f"{delta.total_seconds() / 60:.0f} minutes"


def _utc(moment: Optional[datetime]) -> str:
    if moment is None:
        return "never"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _status_text(config: "Config", kr: "KeyResult", result: KRResult, old: str) -> tuple[str, str]:
    new = result.status
    if new in STATUS_ALERTS:
        title = f"KR {kr.id} is {new}"
        head = f"KR {kr.id} \"{kr.title}\" is now {new} (was {old or 'not checked before'})."
    else:  # back out of an announced state: on_track again, or done, or no longer measured
        again = " again" if new == "on_track" else ""
        title = f"KR {kr.id} is {new}{again}"
        head = f"KR {kr.id} \"{kr.title}\" is {new}{again} (was {old})."
    progress = "" if result.progress is None else f", progress {result.progress:.0%} where {result.expected:.0%} was expected by now"
    owner = f"; owner {kr.owner}" if kr.owner else ""
    body = (f"{head} Value {_number(result.value, kr.unit)}, target {_number(kr.target, kr.unit)}{progress}. "
            f"Objective {result.objective_id}{owner}.")
    return title, body


def _source_text(config: "Config", name: str, error: str, stale: list[str], before: Optional[AlertState]) -> tuple[str, str]:
    if error:
        detail = error.replace(f"source {name!r}: ", "")
        krs = f" Its KRs keep their last good value, marked stale: {', '.join(stale)}." if stale else ""
        return f"source {name} failed", f"Source {name!r} failed: {detail}.{krs}".replace("..", ".")
    since = f" (it had failed since {_utc(before.since)})" if before else ""
    return f"source {name} answers again", f"Source {name!r} answers again{since}."


def _age_text(config: "Config", kr: "KeyResult", result: KRResult, age: timedelta, limit: timedelta, old: str) -> tuple[str, str]:
    if age > limit:
        last = (f"last value {_number(result.value, kr.unit)} read {_utc(result.as_of)}" if result.value is not None
                else f"no value was ever read; its source has failed since {_utc(result.stale_since)}")
        return (f"KR {kr.id} has no fresh value",
                f"KR {kr.id} \"{kr.title}\" has had no fresh value for {_span(age)} (max_age {_span(limit)}): {last}.")
    return f"KR {kr.id} is fresh again", f"KR {kr.id} \"{kr.title}\" has a fresh value again: {_number(result.value, kr.unit)}."
