"""The period review (the methodology's quarter review): final 0-1 scores, what missed, what counts as success.

Scoring follows the methodology: a committed KR must reach 1.0 (anything less is "missed (committed)");
an aspirational KR at 0.6 or more is a success (0.6-0.7 is the expected landing of an ambitious goal),
below 0.6 it is flagged. Objectives get the weighted mean of their KRs' final scores (mapping.rollup).
The review table has one row per objective followed by its KRs, with an empty "Lessons / premises for
next period" cell per objective for the review meeting to fill (kept when the tab is written again).

Pure: the results evaluated as of the period's last day are passed in.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Mapping, Optional, Sequence

from mapping.labels import STATUS_LABELS, display_status
from mapping.period import Period
from mapping.report import Column, Table
from mapping.results import KRResult
from mapping.rollup import ObjectiveResult

TAB_PREFIX = "Review "
ASPIRATIONAL_SUCCESS = 0.6  # an aspirational KR at or above this final score is a success
COMMITTED_SUCCESS = 1.0
LESSONS = "Lessons / premises for next period"
REVIEW_COLUMNS = [
    Column("Objective id", "text", 16), Column("KR id", "text", 16), Column("Title", "text", 44), Column("Owner", "text", 14),
    Column("Kind", "text", 12), Column("Unit", "text", 7), Column("Final value", "number", 11), Column("Target", "number", 10),
    Column("Score", "score", 8), Column("Verdict", "text", 20), Column("Flagged", "bool", 8), Column("Status", "text", 11),
    Column("Note", "text", 40), Column(LESSONS, "text", 50),
]
MISSED, BELOW, SUCCESS, ACHIEVED, NO_DATA = "missed (committed)", "below 0.6", "success", "achieved", "no data"


def tab_title(period_name: str) -> str:
    return TAB_PREFIX + period_name


def review_from(period: Period, offset_days: int = 0) -> date:
    """The first day a review may run: the day after the period's last day, plus `offset_days` for sources that close late."""
    return period.end + timedelta(days=1 + offset_days)


def verdict(committed: bool, score: Optional[float]) -> tuple[str, bool]:
    """(verdict, flagged) of a KR's final score: committed must reach 1.0; aspirational succeeds from 0.6."""
    if score is None:
        return NO_DATA, True
    if committed:
        return (ACHIEVED, False) if score >= COMMITTED_SUCCESS else (MISSED, True)
    return (SUCCESS, False) if score >= ASPIRATIONAL_SUCCESS else (BELOW, True)


@dataclass(frozen=True)
class KRReview:
    objective_id: str
    kr_id: str
    title: str
    owner: str
    committed: bool
    unit: str
    value: Optional[float]
    target: Optional[float]
    score: Optional[float]
    verdict: str
    flagged: bool
    status: str  # display status key as of the period's last day
    note: str  # why a value is missing or stale; a hint for an aspirational 1.0


@dataclass(frozen=True)
class ObjectiveReview:
    objective_id: str
    title: str
    owner: str
    level: str
    score: float
    met: int
    total: int
    krs: tuple[KRReview, ...]

    @property
    def verdict(self) -> str:
        return f"{self.met} of {self.total} KRs met"


@dataclass(frozen=True)
class Review:
    period: str
    as_of: date
    objectives: tuple[ObjectiveReview, ...]

    @property
    def krs(self) -> list[KRReview]:
        return [kr for objective in self.objectives for kr in objective.krs]

    @property
    def flagged(self) -> list[KRReview]:
        return [kr for kr in self.krs if kr.flagged]

    @property
    def successes(self) -> int:
        """Aspirational KRs counted a success and committed KRs achieved."""
        return sum(not kr.flagged for kr in self.krs)


def _note(result: KRResult, committed: bool) -> str:
    if result.value is None:
        return f"no value by the period's end{': ' + result.error if result.error else ''}"
    if result.stale:
        return f"last good value (source failed: {result.error})"
    if not committed and result.score is not None and result.score >= 1.0:
        return "aspirational KR fully reached: was it ambitious enough?"
    return ""


def build_review(period: Period, as_of: date, results: Mapping[str, KRResult], objectives: Sequence[ObjectiveResult]) -> Review:
    """The review of every objective (alignment-tree order) and KR from results evaluated as of `as_of`."""
    out = []
    for entry in objectives:
        objective = entry.objective
        krs = []
        for kr in objective.key_results:
            r = results[kr.id]
            text, flagged = verdict(kr.committed, r.score)
            krs.append(KRReview(objective.id, kr.id, kr.title, kr.owner or objective.owner or "", kr.committed, kr.unit,
                                r.value, kr.target, r.score, text, flagged, display_status(r), _note(r, kr.committed)))
        out.append(ObjectiveReview(objective.id, objective.title, objective.owner or "", objective.level, entry.score,
                                   sum(not k.flagged for k in krs), len(krs), tuple(krs)))
    return Review(period.name, as_of, tuple(out))


def review_table(review: Review, lessons: Optional[Mapping[str, str]] = None) -> Table:
    """The Review tab: an objective row (score, "2 of 3 KRs met", its lessons cell) followed by its KR rows."""
    lessons = lessons or {}
    table = Table(tab_title(review.period), REVIEW_COLUMNS)
    for objective in review.objectives:
        table.rows.append([objective.objective_id, None, objective.title, objective.owner or None, "objective", None, None, None,
                           objective.score, objective.verdict, None, None, None, lessons.get(objective.objective_id) or None])
        for kr in objective.krs:
            table.rows.append([kr.objective_id, kr.kr_id, "    " + kr.title, kr.owner or None,
                               "committed" if kr.committed else "aspirational", kr.unit or None, kr.value, kr.target,
                               kr.score, kr.verdict, kr.flagged, STATUS_LABELS[kr.status], kr.note or None, None])
    return table


def read_lessons(rows: Sequence[Sequence[Any]]) -> dict[str, str]:
    """Objective id -> the lessons typed into an existing Review tab (objective rows only, matched by header)."""
    if not rows:
        return {}
    header = [str(cell or "").strip() for cell in rows[0]]
    if "Objective id" not in header or LESSONS not in header:
        return {}
    oid, les = header.index("Objective id"), header.index(LESSONS)
    kr = header.index("KR id") if "KR id" in header else None
    out: dict[str, str] = {}
    for row in rows[1:]:
        cells = list(row) + [None] * (len(header) - len(row))
        if kr is not None and str(cells[kr] or "").strip():
            continue
        key, text = str(cells[oid] or "").strip(), str(cells[les] or "").strip()
        if key and text:
            out[key] = text
    return out


def artifact_rows(review: Review) -> list[dict[str, str]]:
    """The review as rows of a Prefect table artifact: rounded values, words not codes."""
    rows = []
    for objective in review.objectives:
        rows.append({"Objective": objective.objective_id, "KR": "", "Title": objective.title, "Kind": "objective",
                     "Score": f"{objective.score:.2f}", "Verdict": objective.verdict})
        for kr in objective.krs:
            rows.append({"Objective": objective.objective_id, "KR": kr.kr_id, "Title": kr.title,
                         "Kind": "committed" if kr.committed else "aspirational",
                         "Score": "" if kr.score is None else f"{kr.score:.2f}", "Verdict": kr.verdict})
    return rows
