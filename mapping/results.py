"""The values that flow through a sync: observations from sources and scored KR results."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional

@dataclass(frozen=True)
class Observation:
    """A value read from a source (or typed by a person) at a moment."""

    value: float
    as_of: datetime
    source: str
    query: str
    provenance: str = "auto"  # auto | manual


@dataclass(frozen=True)
class Score:
    """What the formulas say about one KR's value at one moment."""

    progress: Optional[float]
    score: Optional[float]
    expected: float
    status: str


@dataclass
class KRResult:
    """One KR after a sync: its value, how far along it is, and whether that value is fresh."""

    objective_id: str
    kr_id: str
    value: Optional[float]
    progress: Optional[float]
    score: Optional[float]
    expected: float
    status: str
    as_of: Optional[datetime] = None
    source: str = ""
    query: str = ""
    provenance: str = ""
    stale_since: Optional[datetime] = None
    error: str = ""
    previous_value: Optional[float] = None
    extra: dict = field(default_factory=dict)

    @property
    def stale(self) -> bool:
        return bool(self.error)

    @property
    def label(self) -> str:
        """The status as a person should read it: a failed source is said, never hidden behind a stale value."""
        if not self.stale:
            return self.status
        if self.value is None:
            return "no_data (source failed)"
        return f"{self.status} (stale)"

    @property
    def delta(self) -> Optional[float]:
        """Change since the last recorded value of an earlier day."""
        if self.value is None or self.previous_value is None:
            return None
        return self.value - self.previous_value
