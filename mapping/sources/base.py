"""What every source and query model shares."""
from __future__ import annotations

import os
from typing import Mapping

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A config block that rejects unknown keys (typos must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceBase(StrictModel):
    """Settings shared by all sources."""

    def env_names(self) -> dict[str, str]:
        """Config key -> environment variable name, for every secret this source reads from the environment."""
        return {key: value for key, value in self.model_dump().items() if key.endswith("_env") and value}

    def missing_env(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """The env-var settings whose variable is not set."""
        env = os.environ if env is None else env
        return {key: name for key, name in self.env_names().items() if not env.get(name)}
