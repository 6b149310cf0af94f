"""Objective scores and the alignment tree (company -> department -> team -> individual)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from mapping.config import Config, Objective
from mapping.results import KRResult

SEVERITY = {"off_track": 0, "at_risk": 1, "no_data": 2, "on_track": 3, "done": 4}


@dataclass(frozen=True)
class ObjectiveResult:
    """An objective's rollup and its place in the alignment tree."""

    objective: Objective
    score: float
    progress: float
    status: str
    depth: int
    parent_kr: Optional[str]
    parent_objective: Optional[str]
    measured: int  # KRs with a value
    total: int


def worst_status(statuses: list[str]) -> str:
    """The most alarming status of a list (off_track < at_risk < no_data < on_track < done)."""
    return min(statuses, key=SEVERITY.__getitem__) if statuses else "no_data"


def objective_status(results: list[KRResult]) -> str:
    """The worst status among the KRs that have a value; no_data only when none has one.

    An objective with 1 of 2 KRs measured is as good as its measured KR says (the "KRs measured"
    column shows that one is missing); it is not hidden behind no_data.
    """
    return worst_status([r.status for r in results if r.value is not None])


def relative_weights(weights: list[float]) -> list[float]:
    """Each weight's share of the total (summing to 1), computed so that no weight a config may hold (up to the
    largest float) overflows the sum: 1.7e308 and 1.7e308 are half and half."""
    largest = max(weights)
    scaled = [w / largest for w in weights] if largest > 0 else [1.0] * len(weights)
    total = sum(scaled)
    return [w / total for w in scaled]


def rollup(config: Config, results: dict[str, KRResult]) -> list[ObjectiveResult]:
    """Weighted mean of KR scores per objective (unmeasured KRs count as 0), in alignment-tree order."""
    kr_owner = {kr.id: objective.id for objective, kr in config.key_results()}
    by_id = {objective.id: objective for objective in config.objectives}
    children: dict[Optional[str], list[Objective]] = {}
    for objective in config.objectives:
        parent = kr_owner.get(objective.aligns_to) if objective.aligns_to else None
        children.setdefault(parent if parent in by_id else None, []).append(objective)

    out: list[ObjectiveResult] = []

    def visit(objective: Objective, depth: int) -> None:
        krs = objective.key_results
        weights = relative_weights([kr.weight for kr in krs])
        score = sum(w * (results[kr.id].score or 0.0) for w, kr in zip(weights, krs))
        progress = sum(w * (results[kr.id].progress or 0.0) for w, kr in zip(weights, krs))
        status = objective_status([results[kr.id] for kr in krs])
        parent_objective = kr_owner.get(objective.aligns_to) if objective.aligns_to else None
        out.append(ObjectiveResult(objective, round(score, 4), round(progress, 4), status, depth, objective.aligns_to, parent_objective,
                                   sum(results[kr.id].value is not None for kr in krs), len(krs)))
        for child in children.get(objective.id, []):
            visit(child, depth + 1)

    for root in children.get(None, []):
        visit(root, 0)
    return out
