"""`okr-sync validate --connect`: open every source once, answer its queries, and say what its credentials may do.

Useful on its own before a first sync (driver installed, host reachable, credentials right, file
present), and the place where a SQL source's database role is reported: a role that could write or
touch server files is named with its powers, and a sync would refuse it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping, Optional

from connectors.base import SourceError
from connectors.redaction import scrub
from connectors.registry import open_connector
from flows.pipeline import context_of, load_register, make_plan, now_in, settle
from mapping.config import Config
from mapping.errors import OkrSyncError


@dataclass
class SourceCheck:
    """What opening one source showed: `ok` false when its queries failed or its role is refused."""

    name: str
    kind: str
    ok: bool
    summary: str

    def __str__(self) -> str:
        return f"source {self.name!r} ({self.kind}): {'OK' if self.ok else 'FAILED'} - {self.summary}"


def check_sources(config: Config, now: Optional[datetime] = None, env: Mapping[str, str] | None = None) -> list[SourceCheck]:
    """Open each source once and run its KRs' queries (nothing is recorded or written)."""
    now = now or now_in(config)
    context = context_of(config, env)
    if config.okrs is not None:
        config, _ = load_register(config, context)
    plan = make_plan(config)
    period = config.period_obj()
    checks = []
    for name, settings in config.sources.items():
        queries = plan.by_source.get(name, [])
        connector = open_connector(name, settings, context)
        notes: list[str] = []
        ok = True
        try:
            access = getattr(connector, "access_report", None)
            if access is not None:
                report = access()
                notes.append(report.describe())
                if report.powers and not getattr(settings, "allow_write_privileges", False):
                    ok = False
                    notes.append("a sync refuses this source: connect as a role that can only SELECT "
                                 "(README: read-only database role), or set allow_write_privileges: true (not recommended)")
                elif report.powers:
                    notes.append("allowed by allow_write_privileges: true (not recommended)")
            if ok and queries:
                answers = settle(name, queries, lambda: connector.fetch(queries, period, now))
                errors = sorted({str(a) for a in answers.values() if isinstance(a, SourceError)})
                notes.insert(0, f"{len(queries) - sum(isinstance(a, SourceError) for a in answers.values())} of {len(queries)} queries answered")
                notes.extend(errors)
                ok = not errors
            elif ok:
                notes.insert(0, "used by no KR" + (", connected" if access is not None else " (not opened)"))
        except Exception as exc:  # noqa: BLE001 - one line per source, whatever went wrong
            ok = False
            notes.append(str(exc) if isinstance(exc, OkrSyncError) else f"{type(exc).__name__}: {exc}")
        finally:
            connector.close()
        checks.append(SourceCheck(name, settings.kind, ok, scrub("; ".join(notes))))  # type: ignore[attr-defined]
    return checks
