"""What every source and query model shares."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A config block that rejects unknown keys (typos must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf/.nan/"inf" are refused by pydantic itself


class SourceBase(StrictModel):
    """Settings shared by all sources (secrets only as `*_env` names, checked by the loader)."""
