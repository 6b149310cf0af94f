"""What every source and query model shares."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Annotated, Any, Callable, Mapping, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DURATION_DAYS = 3650  # ten years: far beyond any OKR period, and far inside what timedelta can hold


def parse_duration(value: Union[int, float, str]) -> timedelta:
    """A duration from the config: a number of seconds, or a number with a unit s/m/h/d/w ("36h", "2d").

    At most MAX_DURATION_DAYS: a longer one (99999999999999d, a 30-digit number) is refused with a
    ValueError here rather than overflowing timedelta later.
    """
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 36h or 2d")
    try:
        if isinstance(value, (int, float)):
            seconds = float(value)
        else:
            match = _DURATION.match(value)
            if not match:
                raise ValueError(f"{value!r} is not a duration; write e.g. 36h, 2d, 90m, 1w or a number of seconds")
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    except OverflowError:
        seconds = float("inf")
    if seconds <= 0:
        raise ValueError("a duration must be longer than zero")
    if not seconds <= MAX_DURATION_DAYS * 86400:  # also inf and nan
        shown = str(value) if len(str(value)) <= 20 else str(value)[:17] + "..."
        raise ValueError(f"{shown} is too long; at most {MAX_DURATION_DAYS}d (ten years)")
    return timedelta(seconds=seconds)


Duration = Optional[Union[int, float, str]]
MAX_AGE_HELP = "alert when a KR has had no fresh value for longer than this: 36h, 2d, 90m, 1w or seconds (see Alerts)"


def check_duration(value: Duration) -> Duration:
    """Validator body: the value parses as a duration (it is kept as written; parse_duration reads it)."""
    if value is not None:
        parse_duration(value)
    return value


class StrictModel(BaseModel):
    """A config block that rejects unknown keys (typos must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf/.nan/"inf" are refused by pydantic itself


class SourceBase(StrictModel):
    """Settings shared by all sources.

    Secrets are never in the file: each credential key comes as a pair, `<key>_env` (the name of an
    environment variable) or `<key>_secret` (the name of a Prefect Secret block, read by the worker at
    run time, so nothing secret sits in job variables or parameters).
    """

    max_age: Duration = Field(None, description=MAX_AGE_HELP + "; the default of every KR reading this source")

    @field_validator("max_age")
    @classmethod
    def _max_age(cls, value: Duration) -> Duration:
        return check_duration(value)

    def has_credential(self, key: str) -> bool:
        """Whether `<key>_env` or `<key>_secret` is set."""
        return bool(getattr(self, f"{key}_env", None) or getattr(self, f"{key}_secret", None))

    def credential_name(self, key: str) -> str:
        """Where a credential comes from, for messages: "env var X" or "Prefect Secret block 'y'" (never the value)."""
        block = getattr(self, f"{key}_secret", None)
        return f"Prefect Secret block {block!r}" if block else f"env var {getattr(self, f'{key}_env', None)}"


def one_of_pair(model: BaseModel, key: str) -> None:
    """Refuse both `<key>_env` and `<key>_secret` at once (which would win is not obvious)."""
    if getattr(model, f"{key}_env", None) and getattr(model, f"{key}_secret", None):
        raise ValueError(f"set only one of {key}_env (an environment variable) or {key}_secret (a Prefect Secret block)")


def secret_field(what: str) -> Any:
    """The `<key>_secret` sibling of a `<key>_env` field."""
    return Field(None, description=f"instead of the env var: name of a Prefect Secret block holding {what}")


# (raw query fields, raw source block, environment) -> [(key, message, hint)]: checks that need the source.
QueryCheck = Callable[[Mapping[str, Any], Mapping[str, Any], Mapping[str, str]], list[tuple[str, str, str]]]


@dataclass(frozen=True)
class Kind:
    """A source kind: how its connection is configured and what one of its queries looks like."""

    name: str
    source_model: type[BaseModel]
    query_model: type[BaseModel]
    check_query: Optional[QueryCheck] = None

    @cached_property
    def source_adapter(self) -> TypeAdapter:
        """Validates a source block of this kind, with errors located under the kind's tag as a union of
        all kinds would place them (sources.<name>.<kind>.<key>), so messages and line numbers do not
        depend on how many kinds are loaded."""
        return TypeAdapter(Annotated[Union[self.source_model], Field(discriminator="kind")])  # type: ignore[arg-type]
