"""OKR lint: the methodology's pitfalls and common sense, checked on a valid config (see README, 'okr-sync lint').

Pure: a loaded Config (plus the YAML line map, and optionally the first recorded value per KR and the
results of a sync) in, a list of findings out. Each finding names its rule id, file:line and a fix.
Reading history or computing results is the caller's job (flows/cli.py); without them the rules that
need them (sandbagging, confidence-mismatch) are silent.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Mapping, Optional

from mapping.config import Config, KeyResult, LintSettings, Objective
from mapping.results import KRResult
from mapping.yaml_lines import dotted, line_of

# rule id -> what it warns about (the README's rule table says the same, with the fix)
RULES: dict[str, str] = {
    "too-many-objectives": "more objectives for one owner at one level than max_objectives_per_owner",
    "too-many-krs": "more key results in one objective than max_krs_per_objective",
    "milestone-only": "an objective whose key results are all milestones (activities, not outcomes)",
    "activity-kr": "a key result titled as a task (launch, hold, complete, attend, ...) instead of an outcome",
    "kr-no-owner": "a key result with no owner (neither its own nor its objective's)",
    "kr-no-unit": "a measured key result without a unit",
    "kr-no-metric": "a key result with no metric (never measured automatically)",
    "no-company-objective": "department/team/individual objectives but no company-level objective",
    "unaligned-objective": "a department or team objective that aligns to no key result",
    "committed-share": "the share of committed key results outside committed_share",
    "sandbagging": "an aspirational key result already at its target at the start of the period (needs history)",
    "compensation": "OKR text that ties OKRs to pay, bonus or appraisal",
    "monthly-period": "a monthly (or shorter) period outside a startup",
    "confidence-mismatch": "an owner's confidence (0-10) far from the computed status (needs results)",
}

ACTIVITY_VERBS = frozenset("""
    launch launched hold held complete completed attend attended organise organize organised organized conduct conducted
    host hosted run finish finished implement implemented introduce introduced kick start prepare prepared
    write publish published create created build migrate migrated train roll rolled
""".split())
PAY_WORDS = re.compile(r"\b(bonus(es)?|salar(y|ies)|compensation|appraisals?|payouts?|pay[ -]?(rise|raise|grade|out)s?|"
                       r"variable pay|merit increases?|performance[ -](review|rating|appraisal)s?|tied to pay)\b", re.IGNORECASE)
LOWER_LEVELS = ("department", "team", "individual")


@dataclass(frozen=True)
class Finding:
    """One lint warning, located so the user can jump to it."""

    rule: str
    file: str
    line: Optional[int]
    path: str
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.rule}: {self.message} (fix: {self.fix})"


class _Out:
    """Collects findings of one file, dropping disabled rules."""

    def __init__(self, config: Config, lines: Mapping[tuple, int], disabled: set[str]):
        self.file, self.lines, self.disabled = str(config.file), lines, disabled
        self.findings: list[Finding] = []

    def add(self, rule: str, path: tuple, message: str, fix: str) -> None:
        if rule not in self.disabled:
            self.findings.append(Finding(rule, self.file, line_of(self.lines, path), dotted(path), message, fix))  # type: ignore[arg-type]


def _obj_path(oi: int) -> tuple:
    return ("objectives", oi)


def _kr_path(oi: int, ki: int) -> tuple:
    return ("objectives", oi, "key_results", ki)


def _first_word(title: str) -> str:
    words = title.split()
    return words[0].strip(".,:;!?()'\"").lower() if words else ""


def _reached(kr: KeyResult, value: float) -> bool:
    """The KR's target is met by `value` (increase/decrease/milestone; thresholds are meant to hold from the start)."""
    if kr.target is None:
        return False
    if kr.type == "decrease":
        return value <= kr.target
    if kr.type in ("increase", "milestone"):
        return value >= kr.target
    return False


def _structure(config: Config, s: LintSettings, out: _Out) -> None:
    """Counts, alignment and committed share across the objectives."""
    objectives = config.objectives
    groups: dict[tuple, list[int]] = defaultdict(list)
    for oi, objective in enumerate(objectives):
        groups[(objective.owner or "", objective.level)].append(oi)
    for (owner, level), indices in groups.items():
        if len(indices) > s.max_objectives_per_owner:
            who = f"owner {owner!r} has" if owner else "there are"
            out.add("too-many-objectives", _obj_path(indices[s.max_objectives_per_owner]),
                    f"{who} {len(indices)} {level}-level objectives{'' if owner else ' without an owner'} (more than {s.max_objectives_per_owner})",
                    "focus on 2-3 objectives per owner and level; move the rest to a later period or to the backlog")
    levels = {o.level for o in objectives}
    if levels & set(LOWER_LEVELS) and "company" not in levels:
        out.add("no-company-objective", ("objectives",), "there are lower-level objectives but no company-level objective",
                "add the company objective (level: company) they support, written by leadership first")
    for oi, objective in enumerate(objectives):
        if objective.level in ("department", "team") and not objective.aligns_to:
            out.add("unaligned-objective", _obj_path(oi) + ("id",), f"{objective.level} objective {objective.id!r} aligns to no key result",
                    "add aligns_to: <id of the higher-level KR it supports>")
    krs = config.key_results()
    if len(krs) >= 3:
        share = sum(1 for _, kr in krs if kr.committed) / len(krs)
        low, high = s.committed_share
        if not low <= share <= high:
            out.add("committed-share", ("objectives",), f"{share:.0%} of the {len(krs)} key results are committed (expected {low:.0%}-{high:.0%})",
                    "mark must-deliver KRs committed: true and stretch goals committed: false, or change lint.committed_share")


def _objective(oi: int, objective: Objective, s: LintSettings, out: _Out) -> None:
    """Per objective: size, milestone-only, pay words, and every KR."""
    if len(objective.key_results) > s.max_krs_per_objective:
        out.add("too-many-krs", _kr_path(oi, s.max_krs_per_objective),
                f"objective {objective.id!r} has {len(objective.key_results)} key results (more than {s.max_krs_per_objective})",
                "keep the 3-5 that best prove the objective; track the rest as health metrics elsewhere")
    if all(kr.type == "milestone" for kr in objective.key_results):
        out.add("milestone-only", _obj_path(oi) + ("id",), f"every key result of objective {objective.id!r} is a milestone",
                "add at least one KR that measures the outcome the milestones should produce (a rate, a count, a share)")
    if match := PAY_WORDS.search(objective.title):
        out.add("compensation", _obj_path(oi) + ("title",), f"objective {objective.id!r} mentions pay: {match.group(0)!r}",
                "keep OKRs out of pay and appraisal; remove the reference (assess performance separately)")
    for ki, kr in enumerate(objective.key_results):
        _key_result(oi, ki, objective, kr, out)


def _key_result(oi: int, ki: int, objective: Objective, kr: KeyResult, out: _Out) -> None:
    path = _kr_path(oi, ki)
    verb = _first_word(kr.title)
    if verb in ACTIVITY_VERBS:
        out.add("activity-kr", path + ("title",), f"key result {kr.id!r} reads as a task ({verb!r}): {kr.title!r}",
                "write the outcome the task should change, with a number: e.g. 'Hold 10 customer workshops' -> 'Churn from 8% to 5%'")
    if not kr.owner and not objective.owner:
        out.add("kr-no-owner", path + ("id",), f"key result {kr.id!r} has no owner", "add owner: to the KR or to its objective")
    if not kr.unit and kr.type != "milestone":
        out.add("kr-no-unit", path + ("id",), f"key result {kr.id!r} has no unit", 'add unit: "%", days, EUR, points, ...')
    if kr.metric is None:
        out.add("kr-no-metric", path + ("id",), f"key result {kr.id!r} has no metric: it is never measured",
                "add metric: {source: <name>, <query>} so its value comes from the system where the number lives")
    if match := PAY_WORDS.search(kr.title):
        out.add("compensation", path + ("title",), f"key result {kr.id!r} mentions pay: {match.group(0)!r}",
                "keep OKRs out of pay and appraisal; remove the reference (assess performance separately)")


def _period(config: Config, out: _Out) -> None:
    period = config.period_obj()
    if (period.end - period.start).days < 32:
        out.add("monthly-period", ("period",), f"period {period.name} is a month or shorter",
                "use a quarter (2026-Q4) for OKRs; monthly cycles suit startups: there, add lint: {disable: [monthly-period]}")


def _sandbagging(config: Config, s: LintSettings, first: Mapping[str, tuple[date, float]], out: _Out) -> None:
    start = config.period_obj().start
    for oi, objective in enumerate(config.objectives):
        for ki, kr in enumerate(objective.key_results):
            if kr.committed or kr.id not in first:
                continue
            day, value = first[kr.id]
            if (day - start).days <= s.sandbagging_days and _reached(kr, value):
                out.add("sandbagging", _kr_path(oi, ki) + ("target",),
                        f"aspirational key result {kr.id!r} was already at {value:g} on {day} (target {kr.target:g})",
                        "set a target that stretches, or make it committed: true if holding it is the point")


def _confidence(config: Config, s: LintSettings, results: Mapping[str, KRResult], out: _Out) -> None:
    for oi, objective in enumerate(config.objectives):
        for ki, kr in enumerate(objective.key_results):
            result = results.get(kr.id)
            if result is None:
                continue
            confidence = result.extra.get("confidence", getattr(kr, "confidence", None))  # the sync's, else the config's
            if confidence is None or result.status == "no_data":
                continue
            high = confidence >= s.confidence_high and result.status == "off_track"  # type: ignore[union-attr]
            low = confidence <= s.confidence_low and result.status in ("on_track", "done")  # type: ignore[union-attr]
            if high or low:
                out.add("confidence-mismatch", _kr_path(oi, ki) + ("id",),
                        f"key result {kr.id!r}: owner's confidence {confidence:g}/10 but the numbers say {result.status}",  # type: ignore[union-attr]
                        "talk it through at the check-in: update the confidence, or check the metric and target")


def lint(config: Config, lines: Optional[Mapping[tuple, int]] = None, *,
         first_values: Optional[Mapping[str, tuple[date, float]]] = None,
         results: Optional[Mapping[str, KRResult]] = None) -> list[Finding]:
    """Every lint finding of a loaded config, sorted by line.

    `lines` maps YAML key paths to lines (mapping.yaml_lines); `first_values` is the first recorded
    (day, value) per KR id in the period (for sandbagging); `results` the KR results of a sync, by KR id
    (for confidence-mismatch). Rules listed in the config's lint.disable are skipped.
    """
    settings = config.lint or LintSettings()
    out = _Out(config, lines or {}, set(settings.disable))
    _period(config, out)
    _structure(config, settings, out)
    for oi, objective in enumerate(config.objectives):
        _objective(oi, objective, settings, out)
    if first_values:
        _sandbagging(config, settings, first_values, out)
    if results:
        _confidence(config, settings, results, out)
    return sorted(out.findings, key=lambda f: (f.line or 0, f.rule))


def lint_file(config: Config, **kwargs: object) -> list[Finding]:
    """lint() with the line map read from the config's own file (when it can be read)."""
    from mapping.errors import ConfigError
    from mapping.yaml_lines import load_yaml_with_lines

    lines = config._lines  # kept by the loader: the file is not read twice
    if not lines:
        try:
            _, lines = load_yaml_with_lines(config.file)
        except ConfigError:
            lines = {}
    return lint(config, lines, **kwargs)  # type: ignore[arg-type]
