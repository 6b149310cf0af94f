"""`okr-sync history` and `okr-sync explain`: look at the recorded series, and at where one KR's number comes from.

`explain` answers a manager's "why is this red?" in a minute: it evaluates that one KR now (its own
source batch only, nothing recorded), then lays out every step — source, query as sent with its bound
parameters, raw answer, quality gate, the progress/score/status arithmetic — and the last recorded
observations and run.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any, Mapping, Optional

from connectors.base import SourceError
from flows.pipeline import (_params, context_of, evaluation, fetch_all_local, kr_queries, load_register, make_plan,
                            manual_observations, open_history, score_all)
from mapping.config import Config, KeyResult
from mapping.errors import ConfigError, Problem
from mapping.report import text_sparkline


def _known(config: Config, kr_ids: list[str]) -> None:
    known = {kr.id for _, kr in config.key_results()}
    unknown = [k for k in kr_ids if k not in known]
    if unknown:
        raise ConfigError([Problem(str(config.file), None, "key_results", f"no key result {k!r} in this config",
                                   f"known: {', '.join(sorted(known))}") for k in unknown])


def history_rows(config: Config, kr_ids: list[str], period: Optional[str] = None, env: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The recorded series of this config's workspace in `period` (default: the config's), one dict per KR and day."""
    context = context_of(config, env)
    if config.okrs is not None:
        config, _ = load_register(config, context)
    _known(config, kr_ids)
    store = open_history(config, context, read_only=True)
    if store is None:
        return []
    try:
        rows = store.observed(kr_ids or None, period)
    finally:
        store.close()
    return [{"kr_id": r.kr_id, "day": r.day.isoformat(), "value": r.value, "score": r.score, "status": r.status,
             "source": r.source, "provenance": r.provenance, "run_id": r.run_id} for r in rows]


def format_history(rows: list[dict[str, Any]], fmt: str) -> str:
    """csv or json text of the rows (the table format is drawn by the CLI)."""
    if fmt == "json":
        return json.dumps(rows, indent=2)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["kr_id", "day", "value", "score", "status", "source", "provenance", "run_id"],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def by_kr(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["kr_id"], []).append(row)
    return out


def sparkline(rows: list[dict[str, Any]]) -> str:
    return text_sparkline([r["value"] for r in rows])


def _arithmetic(kr: KeyResult, value: Optional[float], progress: Optional[float], expected: float, status: str,
                bar: float, extra: Optional[dict] = None) -> list[str]:
    """The formulas of the README's Formulas section, filled in with this KR's numbers."""
    if value is None:
        return ["no value: progress and score are blank, status no_data"]
    lines = []
    if kr.type == "compliance" and kr.compliance is not None:
        rule = kr.compliance
        sign = "<=" if rule.at_most is not None else ">="
        lines.append(f"compliance: a {rule.window} holds when its {rule.window_value} value {sign} {rule.threshold:g}; "
                     f"{(extra or {}).get('compliance', 'windows counted from the series')}")
        lines.append(f"progress = min(1, held / required {rule.required}) = {progress or 0:.4f}; "
                     f"expected = windows over / windows counted = {expected:.4f}; bar = {bar:g}")
        lines.append(f"status {status} (done once held >= required; off_track once the required count cannot be reached; see README)")
        return lines
    if kr.levels is not None:
        lines.append(f"three levels: baseline {kr.baseline:g} -> 0, minimum {kr.levels.minimum:g} -> 0.3, target {kr.target:g} -> 0.7, "
                     f"stretch {kr.levels.stretch:g} -> 1.0, straight lines between; {value:g} -> {progress or 0:.4f}")
    elif kr.type in ("increase", "decrease"):
        lines.append(f"progress = clamp((current - baseline) / (target - baseline)) = clamp(({value:g} - {kr.baseline:g}) / "
                     f"({kr.target:g} - {kr.baseline:g})) = {progress:.4f}")
    elif kr.type == "milestone":
        lines.append(f"progress = 1 if current >= target ({value:g} >= {kr.target:g}) else 0 = {progress:g}")
    else:
        sign = "<=" if kr.type == "at_most" else ">="
        holds = (value <= kr.target) if kr.type == "at_most" else (value >= kr.target)  # type: ignore[operator]
        lines.append(f"threshold {kr.type}: {value:g} {sign} {kr.target:g} is {'held' if holds else 'breached'}"
                     + (" -> progress 1" if holds else (f" -> partial credit from baseline {kr.baseline:g}: {progress:.4f}"
                                                        if kr.baseline is not None else " -> progress 0")))
    lines.append(f"score = progress rounded to 2 decimals = {round(progress or 0, 2):.2f}")
    curve = "the pace curve at this day" if (kr.pace or kr.steps) else "share of the period gone"
    lines.append(f"expected by now = {curve} = {expected:.4f}; bar = {bar:g} "
                 f"({'committed' if kr.committed else 'aspirational'})")
    if expected > 0 and kr.type in ("increase", "decrease") and expected < 1:
        lines.append(f"pace = progress / (expected x bar) = {progress:.4f} / ({expected:.4f} x {bar:g}) = "
                     f"{(progress or 0) / (expected * bar):.3f} -> status {status}")
    else:
        lines.append(f"status {status} (see README, Status)")
    return lines


def _ledger_value(value: Optional[float], raw: Optional[float]) -> str:
    """The value (and raw value) a run recorded, as text: `no value` rather than Python's None for a KR without one."""
    if value is None:
        return "no value" + (f" (raw {raw})" if raw is not None else "")
    return f"value {value}, raw {raw if raw is not None else 'none'}"


def _recorded(history: Any, kr_id: str) -> list[str]:
    """The steps after the arithmetic: the KR's last observations and its last recorded run (numbered by the caller,
    so the steps stay consecutive whichever of them there is)."""
    if history is None:
        return ["no history recorded yet for this config and period"]
    steps = []
    recent = history.series(kr_id, limit=7)
    if recent:
        steps.append("last observations: " + ", ".join(f"{d.isoformat()} {v:g}" for d, v in recent)
                     + f"  {text_sparkline([v for _, v in recent])}")
    else:
        steps.append("last observations: none yet (no value recorded for this KR in this period)")
    ledger = history.run_kr(kr_id)
    if ledger is not None:
        steps.append(f"last recorded run {ledger.run_id} ({ledger.started_at:%Y-%m-%d %H:%M} UTC): "
                     f"{_ledger_value(ledger.value, ledger.raw_value)}, params {ledger.params}"
                     + (f", error {ledger.error}" if ledger.error else ""))
    return steps


def explain(config: Config, kr_id: str, env: Mapping[str, str] | None = None, as_of: Optional[date] = None) -> list[str]:
    """Where KR `kr_id`'s number comes from, step by step, as lines of text (nothing is recorded or written)."""
    context = context_of(config, env)
    if config.okrs is not None:
        config, _ = load_register(config, context)
    _known(config, [kr_id])
    objective, kr = next((o, k) for o, k in config.key_results() if k.id == kr_id)
    ev = evaluation(config, None, as_of)
    lines = [f"KR {kr.id}: {kr.title}",
             f"  objective {objective.id}: {objective.title}; owner {kr.owner or objective.owner or '-'}",
             f"  type {kr.type}, baseline {kr.baseline if kr.baseline is not None else '-'}, target {kr.target}{(' ' + kr.unit) if kr.unit else ''}, "
             f"{'committed' if kr.committed else 'aspirational'}, weight {kr.weight:g}",
             f"  evaluated {'as of the end of ' + ev.day.isoformat() if ev.past else 'now (' + ev.now.isoformat(timespec='minutes') + ')'}, "
             f"period {ev.query_period.name} {ev.query_period.start}..{ev.query_period.end}"]
    if kr.metric is None:
        lines.append("1. no metric: the KR is not measured automatically (a manual value in the register, or nothing)")
        return lines
    params = _params(config, ev)
    if kr.metric.formula is not None:
        lines.append(f"1. formula {kr.metric.formula.strip()} over inputs {', '.join(kr.metric.inputs)}")
    for name, leaf in (kr.metric.inputs.items() if kr.metric.formula is not None else [("value", kr.metric)]):
        source = config.sources[leaf.source]  # type: ignore[index]
        query = leaf.query
        lines.append(f"{'  ' if kr.metric.formula is not None else ''}1. {name}: source {leaf.source!r} ({source.kind}), query {query.describe()}")
    lines.append(f"2. bound parameters: {json.dumps(params)}")
    plan = make_plan(config)
    mine = set(kr_queries(kr))
    plan.by_source = {s: [q for q in qs if q in mine] for s, qs in plan.by_source.items() if any(q in mine for q in qs)}
    history = open_history(config, context, read_only=True)
    try:
        answers = fetch_all_local(config, plan, ev.query_period, ev.now, context)
        for query in kr_queries(kr):
            answer = answers.get(query)
            if isinstance(answer, SourceError):
                lines.append(f"3. answer of {query.source!r}: error: {answer}")
            elif answer is not None:
                lines.append(f"3. answer of {query.source!r}: {answer.value:g} (query as sent: {' '.join(answer.query.split())})")
        result = score_all(config, plan, answers, ev.now, history, manual_observations(config, ev.now))[kr.id]
        if "raw_value" in result.extra:
            lines.append(f"4. quality gate: raw value {result.extra['raw_value']:g} held back ({result.error}); the last good value is used")
        elif kr.metric.valid_range or kr.metric.max_change:
            lines.append(f"4. quality gate: passed (valid_range {kr.metric.valid_range}, max_change {kr.metric.max_change}, "
                         f"previous value {result.previous_value if result.previous_value is not None else 'none'})")
        else:
            lines.append("4. quality gate: none configured")
        if result.stale:
            since = result.stale_since.isoformat(timespec="minutes") if result.stale_since else "-"
            if result.value is not None:
                lines.append(f"   stale since {since}: {result.error}; the last good value {result.value} is shown")
            else:
                lines.append(f"   source failing since {since}: {result.error}; no value recorded yet, so none is shown")
        lines.append(f"5. current value {result.value}{(' ' + kr.unit) if kr.unit else ''}" if result.value is not None
                     else "5. no current value: none recorded yet in this period")
        bar = 1.0 if kr.committed else config.status.aspirational_bar
        lines.extend("   " + line for line in _arithmetic(kr, result.value, result.progress, result.expected, result.status, bar,
                                                                result.extra))
        lines.extend(f"{step}. {text}" for step, text in enumerate(_recorded(history, kr.id), start=6))
    finally:
        if history is not None:
            history.close()
    return lines
