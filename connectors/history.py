"""The history store: one good observation per KR per day, the current error of each stale KR, and the runs."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterable, Optional

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from connectors.base import Context
from connectors.sql import first_line, resolve_url
from mapping.errors import OkrSyncError
from mapping.results import KRResult

metadata = sa.MetaData()

observations = sa.Table(
    "okr_observations", metadata,
    sa.Column("kr_id", sa.String(200), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("progress", sa.Float),
    sa.Column("score", sa.Float),
    sa.Column("status", sa.String(20)),
    sa.Column("source", sa.String(200)),
    sa.Column("query", sa.Text),
    sa.Column("provenance", sa.String(20), nullable=False, default="auto"),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("observed_at", sa.DateTime, nullable=False),
)

kr_errors = sa.Table(
    "okr_errors", metadata,
    sa.Column("kr_id", sa.String(200), primary_key=True),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("first_failed_at", sa.DateTime, nullable=False),
    sa.Column("last_failed_at", sa.DateTime, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
)

runs = sa.Table(
    "okr_runs", metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("config", sa.Text),
    sa.Column("period", sa.String(64)),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("status", sa.String(20)),
    sa.Column("krs", sa.Integer),
    sa.Column("failed_sources", sa.Text),
)

_CHUNK = 500


class HistoryError(OkrSyncError):
    """The history store cannot be opened or written."""

    exit_code = 3


@dataclass(frozen=True)
class Recorded:
    """A KR's last good value as history holds it."""

    kr_id: str
    day: date
    value: float
    source: str
    query: str
    provenance: str
    observed_at: datetime


def _utc_naive(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


def _chunks(items: list, size: int = _CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class HistoryStore:
    """SQLAlchemy-backed history; a SQLite file by default, any SQLAlchemy URL otherwise."""

    def __init__(self, url: str, context: Context | None = None, create: bool = True):
        context = context or Context()
        try:
            self.url = resolve_url(url, context)
        except sa.exc.ArgumentError:
            raise HistoryError("history is not a SQLAlchemy URL; write e.g. sqlite:///.okr-sync/history.db") from None
        if create and self._is_file():
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = sa.create_engine(self.url)
            if create:
                metadata.create_all(self.engine)
        except (SQLAlchemyError, ImportError) as exc:
            raise HistoryError(f"history store {self.safe_url}: {first_line(exc)}; check the history URL") from None

    @property
    def safe_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def _is_file(self) -> bool:
        return self.url.get_backend_name() == "sqlite" and bool(self.url.database) and self.url.database != ":memory:"

    @classmethod
    def open(cls, url: str, context: Context | None = None, read_only: bool = False) -> Optional["HistoryStore"]:
        """The store at `url`; read-only opening creates nothing and gives None where no history exists yet."""
        if not read_only:
            return cls(url, context)
        store = cls(url, context, create=False)
        if store._is_file() and not Path(store.url.database).exists():
            store.close()
            return None
        try:
            present = sa.inspect(store.engine).has_table(observations.name)
        except SQLAlchemyError as exc:
            raise HistoryError(f"history store {store.safe_url}: {first_line(exc)}; check the history URL") from None
        if not present:
            store.close()
            return None
        return store

    def last_good(self, kr_ids: list[str]) -> dict[str, Recorded]:
        """The newest recorded observation of each KR."""
        out: dict[str, Recorded] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(kr_ids):
                newest = (sa.select(observations.c.kr_id, sa.func.max(observations.c.day).label("day"))
                          .where(observations.c.kr_id.in_(chunk)).group_by(observations.c.kr_id).subquery())
                rows = conn.execute(sa.select(observations).join(newest, sa.and_(
                    observations.c.kr_id == newest.c.kr_id, observations.c.day == newest.c.day)))
                for row in rows:
                    out[row.kr_id] = Recorded(row.kr_id, row.day, row.value, row.source or "", row.query or "",
                                              row.provenance, _aware(row.observed_at))
        return out

    def previous_values(self, kr_ids: list[str], before: date) -> dict[str, float]:
        """Each KR's value on its newest recorded day before `before` (for the change column)."""
        out: dict[str, float] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(kr_ids):
                newest = (sa.select(observations.c.kr_id, sa.func.max(observations.c.day).label("day"))
                          .where(observations.c.kr_id.in_(chunk), observations.c.day < before)
                          .group_by(observations.c.kr_id).subquery())
                rows = conn.execute(sa.select(observations.c.kr_id, observations.c.value).join(newest, sa.and_(
                    observations.c.kr_id == newest.c.kr_id, observations.c.day == newest.c.day)))
                out.update({row.kr_id: row.value for row in rows})
        return out

    def current_errors(self, kr_ids: list[str]) -> dict[str, tuple[str, datetime]]:
        """KR id -> (error, first failure) of the KRs whose last sync failed."""
        out: dict[str, tuple[str, datetime]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(kr_ids):
                rows = conn.execute(sa.select(kr_errors).where(kr_errors.c.kr_id.in_(chunk)))
                out.update({row.kr_id: (row.error, _aware(row.first_failed_at)) for row in rows})
        return out

    def series(self, kr_id: str, limit: int = 30) -> list[tuple[date, float]]:
        """The newest `limit` daily values of a KR, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(observations.c.day, observations.c.value)
                                .where(observations.c.kr_id == kr_id).order_by(observations.c.day.desc()).limit(limit))
            return sorted((row.day, row.value) for row in rows)

    def recent(self, kr_ids: list[str], days: int = 12) -> dict[str, list[tuple[date, float]]]:
        """Each KR's values on the last `days` recorded days (of any KR), oldest first: two queries for any number of KRs."""
        out: dict[str, list[tuple[date, float]]] = {kr_id: [] for kr_id in kr_ids}
        with self.engine.connect() as conn:
            newest = conn.execute(sa.select(observations.c.day).distinct().order_by(observations.c.day.desc()).limit(days)).scalars().all()
            if not newest:
                return out
            for chunk in _chunks(kr_ids):
                rows = conn.execute(sa.select(observations.c.kr_id, observations.c.day, observations.c.value)
                                    .where(observations.c.kr_id.in_(chunk), observations.c.day >= min(newest))
                                    .order_by(observations.c.day))
                for row in rows:
                    out[row.kr_id].append((row.day, row.value))
        return out

    def record(self, run_id: str, day: date, results: Iterable[KRResult], now: datetime,
               config: str = "", period: str = "", failed_sources: Iterable[str] = ()) -> None:
        """In one transaction: upsert today's good values, track errors of stale KRs, log the run."""
        results = list(results)
        fresh = [r for r in results if r.value is not None and not r.stale]
        stale = [r for r in results if r.stale]
        stamp = _utc_naive(now)
        failed = sorted(set(failed_sources))
        try:
            with self.engine.begin() as conn:
                for chunk in _chunks(fresh):
                    conn.execute(observations.delete().where(observations.c.day == day,
                                                             observations.c.kr_id.in_([r.kr_id for r in chunk])))
                    conn.execute(observations.insert(), [{
                        "kr_id": r.kr_id, "day": day, "value": r.value, "progress": r.progress, "score": r.score,
                        "status": r.status, "source": r.source, "query": r.query, "provenance": r.provenance or "auto",
                        "run_id": run_id, "observed_at": _utc_naive(r.as_of or now)} for r in chunk])
                self._record_series(conn, run_id, day, fresh, now)
                cleared = [r.kr_id for r in results if not r.stale]
                for chunk in _chunks(cleared):
                    conn.execute(kr_errors.delete().where(kr_errors.c.kr_id.in_(chunk)))
                existing = {}
                for chunk in _chunks([r.kr_id for r in stale]):
                    existing.update({row.kr_id: row.first_failed_at for row in conn.execute(
                        sa.select(kr_errors.c.kr_id, kr_errors.c.first_failed_at).where(kr_errors.c.kr_id.in_(chunk)))})
                    conn.execute(kr_errors.delete().where(kr_errors.c.kr_id.in_(chunk)))
                if stale:
                    conn.execute(kr_errors.insert(), [{
                        "kr_id": r.kr_id, "error": r.error, "first_failed_at": existing.get(r.kr_id, stamp),
                        "last_failed_at": stamp, "run_id": run_id} for r in stale])
                conn.execute(runs.insert(), [{
                    "run_id": run_id, "config": config, "period": period, "started_at": stamp, "finished_at": stamp,
                    "status": "failed" if failed else "completed", "krs": len(results), "failed_sources": ",".join(failed)}])
        except SQLAlchemyError as exc:
            raise HistoryError(f"history store {self.safe_url}: write failed, nothing recorded: {first_line(exc)}") from None

    @staticmethod
    def _record_series(conn: sa.Connection, run_id: str, day: date, fresh: list[KRResult], now: datetime) -> None:
        """Upsert the earlier days of the (date, value) series a source returned; today is the KR's own row, later days are ignored."""
        for r in fresh:
            points = [(d, v) for d, v in r.extra.get("series", ()) if d < day]
            for chunk in _chunks(points):
                conn.execute(observations.delete().where(observations.c.kr_id == r.kr_id,
                                                         observations.c.day.in_([d for d, _ in chunk])))
                conn.execute(observations.insert(), [{
                    "kr_id": r.kr_id, "day": d, "value": v, "source": r.source, "query": r.query,
                    "provenance": "auto", "run_id": run_id, "observed_at": _utc_naive(now)} for d, v in chunk])

    def close(self) -> None:
        self.engine.dispose()
