"""The history store: a time series of good observations per (workspace, period, KR, day), the current error
of each stale KR, and a ledger of runs with what each source and KR did.

Every read and write is scoped to one workspace (a config) and one period, so configs sharing a
database and a new quarter reusing last quarter's KR ids never see each other's rows. Writes are
upserts, so concurrent syncs (several workers on PostgreSQL) never lose an update. The schema is
migrated with Alembic (connectors/history_migrations) whenever a store is opened for writing; a
database written by okr-sync 0.1 is upgraded in place, keeping its rows.
"""
from __future__ import annotations

import json
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from connectors.base import Context
from connectors.redaction import safe_url, scrub
from connectors.sql import first_line, resolve_url
from mapping.alerts import Alert, AlertState
from mapping.errors import OkrSyncError
from mapping.results import KRResult

MIGRATIONS = Path(__file__).resolve().parent / "history_migrations"
HEAD = "0004"
STALE_RUN_HOURS = 6  # a run still "running" this long after it started, on another host, is taken as crashed

metadata = sa.MetaData()


def _key() -> list[sa.Column]:
    return [sa.Column("workspace", sa.String(100), primary_key=True), sa.Column("period", sa.String(64), primary_key=True)]


observations = sa.Table(
    "okr_observations", metadata, *_key(),
    sa.Column("kr_id", sa.String(200), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("progress", sa.Float),
    sa.Column("score", sa.Float),
    sa.Column("status", sa.String(20)),
    sa.Column("source", sa.String(200)),
    sa.Column("query", sa.Text),
    sa.Column("provenance", sa.String(20), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("observed_at", sa.DateTime, nullable=False),
)

kr_errors = sa.Table(
    "okr_errors", metadata, *_key(),
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
    sa.Column("workspace", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("as_of", sa.Date),
    sa.Column("host", sa.String(200)),
    sa.Column("pid", sa.Integer),
    sa.Column("error", sa.Text),
)

run_sources = sa.Table(
    "okr_run_sources", metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("queries", sa.Integer, nullable=False),
    sa.Column("failed", sa.Integer, nullable=False),
    sa.Column("seconds", sa.Float),
    sa.Column("error", sa.Text),
)

run_krs = sa.Table(
    "okr_run_krs", metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("kr_id", sa.String(200), primary_key=True),
    sa.Column("value", sa.Float),
    sa.Column("raw_value", sa.Float),
    sa.Column("source", sa.String(200)),
    sa.Column("query", sa.Text),
    sa.Column("params", sa.Text),
    sa.Column("gate", sa.Text),
    sa.Column("error", sa.Text),
)

alert_state = sa.Table(
    "okr_alert_state", metadata, *_key(),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("subject", sa.String(200), primary_key=True),
    sa.Column("state", sa.String(40), nullable=False),
    sa.Column("since", sa.DateTime, nullable=False),
    sa.Column("notified_at", sa.DateTime),
    sa.Column("run_id", sa.String(64), nullable=False),
)

_CHUNK = 500
_DAMAGED = ("file is not a database", "malformed", "disk image", "database corrupt", "not a database",
            "no such table", "no such column", "has no column named")  # SQLite: a table of the current schema is gone


class HistoryError(OkrSyncError):
    """The history store cannot be opened or written."""

    exit_code = 3


@dataclass(frozen=True)
class Scope:
    """Which series a store reads and writes: one config (workspace) in one period."""

    workspace: str
    period: str
    period_of: Callable[[date], str] = field(default=lambda day: "", compare=False, repr=False)  # for migrating old rows


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


@dataclass(frozen=True)
class SourceOutcome:
    """What one source batch did in a run (for the ledger)."""

    source: str
    queries: int
    failed: int
    seconds: float
    error: str = ""


def _utc_naive(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


def _chunks(items: list, size: int = _CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def upsert(conn: sa.Connection, table: sa.Table, rows: list[dict], keep: Iterable[str] = ()) -> None:
    """Insert rows, updating those whose primary key exists (except the `keep` columns): one statement per chunk,
    atomic on the server, so concurrent writers never lose an update."""
    if not rows:
        return
    key = [c.name for c in table.primary_key.columns]
    changing = [c for c in rows[0] if c not in key and c not in keep]
    dialect = conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        module = sa.dialects.postgresql if dialect == "postgresql" else sa.dialects.sqlite
        statement = module.insert(table)
        statement = statement.on_conflict_do_update(index_elements=key, set_={c: statement.excluded[c] for c in changing}) \
            if changing else statement.on_conflict_do_nothing(index_elements=key)
    elif dialect in ("mysql", "mariadb"):
        statement = sa.dialects.mysql.insert(table)
        statement = statement.on_duplicate_key_update({c: statement.inserted[c] for c in (changing or key[:1])})
    else:
        for row in rows:
            where = sa.and_(*[table.c[k] == row[k] for k in key])
            if conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar():
                conn.execute(table.update().where(where).values({c: row[c] for c in changing}))
            else:
                conn.execute(table.insert().values(row))
        return
    for chunk in _chunks(rows):
        conn.execute(statement, chunk)  # one compiled statement, executed for many rows


class HistoryStore:
    """SQLAlchemy-backed history of one scope; a SQLite file by default, any SQLAlchemy URL otherwise."""

    def __init__(self, url: str, context: Context | None = None, create: bool = True, scope: Scope | None = None):
        context = context or Context()
        self.scope = scope or Scope("default", "")
        try:
            self.url = resolve_url(url, context)
        except sa.exc.ArgumentError:
            raise HistoryError("history is not a SQLAlchemy URL; write e.g. sqlite:///.okr-sync/history.db") from None
        if create and self._is_file():
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = sa.create_engine(self.url)
            if create:
                self.migrate()
        except HistoryError:
            raise
        except SQLAlchemyError as exc:
            raise self._error(exc, "cannot open") from None
        except ImportError as exc:
            raise HistoryError(f"history store {self.safe_url}: {first_line(exc)}; install the database driver") from None

    @contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        """A connection for reads; a database error becomes one HistoryError line saying what to do."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self._error(exc, "cannot read") from None

    def _error(self, exc: BaseException, doing: str) -> HistoryError:
        """The error as a user should read it; a damaged file is said to be damaged, with what to do."""
        message = scrub(first_line(exc))
        if any(mark in message.lower() for mark in _DAMAGED):
            return HistoryError(f"history store {self.safe_url} is damaged ({message}); nothing was recorded or written: "
                                "restore it from a backup, or move it aside so the next run starts a new history")
        return HistoryError(f"history store {self.safe_url}: {doing}: {message}; check the history URL and that the database is reachable")

    @property
    def safe_url(self) -> str:
        return safe_url(self.url)

    def _is_file(self) -> bool:
        return self.url.get_backend_name() == "sqlite" and bool(self.url.database) and self.url.database != ":memory:"

    # ---- schema -------------------------------------------------------------------------------

    def revision(self, conn: sa.Connection) -> Optional[str]:
        """The schema's Alembic revision; "0001" for a 0.1 database (tables, no version table); None when empty.

        Read with plain SQL: Alembic itself (a quarter of a second to import) is loaded only to upgrade."""
        current = _version_table_revision(conn)
        if current is None and sa.inspect(conn).has_table(observations.name):
            return "0001"
        return current

    def _known(self, current: Optional[str]) -> None:
        """Refuse a schema revision this release does not know: a newer okr-sync wrote it, and reading or writing it
        as if it were older (or empty) would lose or corrupt its history."""
        if current is None or current == HEAD:
            return
        known = {path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py")}
        if current not in known:
            raise HistoryError(f"history store {self.safe_url} has schema revision {current!r}, which this okr-sync does not know "
                               f"(it knows up to {HEAD}): a newer okr-sync wrote it; upgrade okr-sync (pip install -U okr-sync), "
                               "nothing was read or written")

    def migrate(self) -> None:
        """Bring the schema to the newest revision (creating it, or upgrading an older one in place)."""
        with self.engine.connect() as conn:
            current = self.revision(conn)
        if current == HEAD:  # the everyday case: no lock, no Alembic import
            return
        self._known(current)
        from alembic import command
        from alembic.config import Config as AlembicConfig
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":  # several workers may open a new database at once
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7021160424)")
            current = self.revision(conn)
            if current == HEAD:
                return
            cfg = AlembicConfig()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes.update(connection=conn, workspace=self.scope.workspace, period=self.scope.period,
                                  period_of=self.scope.period_of)
            if current == "0001" and _version_table_revision(conn) is None:
                command.stamp(cfg, "0001")
            command.upgrade(cfg, "head")

    @classmethod
    def open(cls, url: str, context: Context | None = None, read_only: bool = False, scope: Scope | None = None) -> Optional["HistoryStore"]:
        """The store at `url`; read-only opening creates and migrates nothing, and gives None where no history exists
        yet (or where it has not been upgraded to this release's schema: the next run upgrades it)."""
        if not read_only:
            return cls(url, context, scope=scope)
        store = cls(url, context, create=False, scope=scope)
        if store._is_file() and not Path(store.url.database).exists():
            store.close()
            return None
        try:
            with store._reading() as conn:
                current = store.revision(conn)
        except HistoryError:
            store.close()
            raise
        try:
            store._known(current)
        except HistoryError:
            store.close()
            raise
        if current != HEAD:
            store.close()
            return None
        return store

    # ---- reads (all within the scope) ---------------------------------------------------------------

    def _in_scope(self, table: sa.Table) -> sa.ColumnElement[bool]:
        return sa.and_(table.c.workspace == self.scope.workspace, table.c.period == self.scope.period)

    def last_good(self, kr_ids: list[str], up_to: Optional[date] = None) -> dict[str, Recorded]:
        """The newest recorded observation of each KR (on or before `up_to`)."""
        out: dict[str, Recorded] = {}
        o = observations.c
        with self._reading() as conn:
            for chunk in _chunks(kr_ids):
                where = [self._in_scope(observations), o.kr_id.in_(chunk)] + ([o.day <= up_to] if up_to else [])
                newest = sa.select(o.kr_id, sa.func.max(o.day).label("day")).where(*where).group_by(o.kr_id).subquery()
                rows = conn.execute(sa.select(observations).where(self._in_scope(observations)).join(newest, sa.and_(
                    o.kr_id == newest.c.kr_id, o.day == newest.c.day)))
                for row in rows:
                    out[row.kr_id] = Recorded(row.kr_id, row.day, row.value, row.source or "", row.query or "",
                                              row.provenance, _aware(row.observed_at))
        return out

    def previous_values(self, kr_ids: list[str], before: date) -> dict[str, float]:
        """Each KR's value on its newest recorded day before `before` (for the change column and the quality gate)."""
        out: dict[str, float] = {}
        o = observations.c
        with self._reading() as conn:
            for chunk in _chunks(kr_ids):
                newest = (sa.select(o.kr_id, sa.func.max(o.day).label("day"))
                          .where(self._in_scope(observations), o.kr_id.in_(chunk), o.day < before).group_by(o.kr_id).subquery())
                rows = conn.execute(sa.select(o.kr_id, o.value).where(self._in_scope(observations)).join(newest, sa.and_(
                    o.kr_id == newest.c.kr_id, o.day == newest.c.day)))
                out.update({row.kr_id: row.value for row in rows})
        return out

    def current_errors(self, kr_ids: list[str]) -> dict[str, tuple[str, datetime]]:
        """KR id -> (error, first failure) of the KRs whose last sync failed."""
        out: dict[str, tuple[str, datetime]] = {}
        with self._reading() as conn:
            for chunk in _chunks(kr_ids):
                rows = conn.execute(sa.select(kr_errors).where(self._in_scope(kr_errors), kr_errors.c.kr_id.in_(chunk)))
                out.update({row.kr_id: (row.error, _aware(row.first_failed_at)) for row in rows})
        return out

    def series(self, kr_id: str, limit: int = 30) -> list[tuple[date, float]]:
        """The newest `limit` daily values of a KR, oldest first."""
        o = observations.c
        with self._reading() as conn:
            rows = conn.execute(sa.select(o.day, o.value).where(self._in_scope(observations), o.kr_id == kr_id)
                                .order_by(o.day.desc()).limit(limit))
            return sorted((row.day, row.value) for row in rows)

    def recent(self, kr_ids: list[str], days: int = 12, up_to: Optional[date] = None) -> dict[str, list[tuple[date, float]]]:
        """Each KR's values on the last `days` recorded days (of any KR, up to `up_to`), oldest first: two queries for any number of KRs."""
        out: dict[str, list[tuple[date, float]]] = {kr_id: [] for kr_id in kr_ids}
        o = observations.c
        bound = [o.day <= up_to] if up_to else []
        with self._reading() as conn:
            newest = conn.execute(sa.select(o.day).where(self._in_scope(observations), *bound).distinct()
                                  .order_by(o.day.desc()).limit(days)).scalars().all()
            if not newest:
                return out
            for chunk in _chunks(kr_ids):
                rows = conn.execute(sa.select(o.kr_id, o.day, o.value)
                                    .where(self._in_scope(observations), o.kr_id.in_(chunk), o.day >= min(newest), *bound)
                                    .order_by(o.day))
                for row in rows:
                    out[row.kr_id].append((row.day, row.value))
        return out

    def observed(self, kr_ids: Optional[list[str]] = None, period: Optional[str] = None) -> list[Any]:
        """Every recorded row of the scope's workspace in `period` (default: the scope's), oldest day first."""
        o = observations.c
        where = [o.workspace == self.scope.workspace, o.period == (period or self.scope.period)]
        if kr_ids:
            where.append(o.kr_id.in_(kr_ids))
        with self._reading() as conn:
            return list(conn.execute(sa.select(observations).where(*where).order_by(o.kr_id, o.day)))

    def days_recorded(self, kr_ids: list[str]) -> set[date]:
        """The days on which every one of `kr_ids` has a recorded value (what a resumed backfill skips)."""
        o = observations.c
        with self._reading() as conn:
            rows = conn.execute(sa.select(o.day, sa.func.count(sa.distinct(o.kr_id)))
                                .where(self._in_scope(observations), o.kr_id.in_(kr_ids)).group_by(o.day))
            return {row[0] for row in rows if row[1] >= len(set(kr_ids))}

    def runs(self, limit: int = 20) -> list[Any]:
        """The newest runs of the scope's workspace, newest first."""
        with self._reading() as conn:
            return list(conn.execute(sa.select(runs).where(runs.c.workspace == self.scope.workspace)
                                     .order_by(runs.c.started_at.desc()).limit(limit)))

    def last_run(self, kind: str, status: str = "completed") -> Optional[Any]:
        """The newest run of `kind` with `status` in the scope's workspace and period (e.g. the review already written)."""
        with self._reading() as conn:
            return conn.execute(sa.select(runs).where(runs.c.workspace == self.scope.workspace, runs.c.period == self.scope.period,
                                                      runs.c.kind == kind, runs.c.status == status)
                                .order_by(runs.c.started_at.desc()).limit(1)).first()

    def run_kr(self, kr_id: str) -> Optional[Any]:
        """The ledger row of the newest run that evaluated `kr_id` (value, raw value, query as sent, gate)."""
        with self._reading() as conn:
            return conn.execute(sa.select(run_krs, runs.c.started_at, runs.c.as_of).join(runs, runs.c.run_id == run_krs.c.run_id)
                                .where(runs.c.workspace == self.scope.workspace, runs.c.period == self.scope.period,
                                       run_krs.c.kr_id == kr_id).order_by(runs.c.started_at.desc()).limit(1)).first()

    # ---- writes ---------------------------------------------------------------------------------

    def begin_run(self, run_id: str, now: datetime, config: str = "", kind: str = "sync", as_of: Optional[date] = None) -> None:
        """Log a run as running; earlier runs of this workspace left running by a dead process are marked crashed."""
        stamp = _utc_naive(now)
        host, pid = socket.gethostname(), os.getpid()
        try:
            with self.engine.begin() as conn:
                leftovers = conn.execute(sa.select(runs.c.run_id, runs.c.host, runs.c.pid, runs.c.started_at).where(
                    runs.c.workspace == self.scope.workspace, runs.c.status == "running")).fetchall()
                crashed = [r.run_id for r in leftovers if _is_dead(r.host, r.pid, r.started_at, host, stamp)]
                if crashed:
                    conn.execute(runs.update().where(runs.c.run_id.in_(crashed)).values(
                        status="crashed", error="the process ended before the run finished (killed or crashed)"))
                conn.execute(runs.insert().values(
                    run_id=run_id, workspace=self.scope.workspace, period=self.scope.period, config=config, kind=kind,
                    as_of=as_of, started_at=stamp, status="running", host=host, pid=pid))
        except SQLAlchemyError as exc:
            raise self._error(exc, "cannot log the run") from None

    def record(self, run_id: str, day: date, results: Iterable[KRResult], now: datetime, *, track_errors: bool = True,
               params: Optional[dict[str, Any]] = None) -> None:
        """In one transaction: upsert the day's good values (and their series points), track errors of stale KRs
        (unless `track_errors` is off, as for a past day), and log what each KR did in this run."""
        results = list(results)
        fresh = [r for r in results if r.value is not None and not r.stale]
        stale = [r for r in results if r.stale]
        stamp = _utc_naive(now)
        scope = {"workspace": self.scope.workspace, "period": self.scope.period}
        try:
            with self.engine.begin() as conn:
                upsert(conn, observations, [{
                    **scope, "kr_id": r.kr_id, "day": day, "value": r.value, "progress": r.progress, "score": r.score,
                    "status": r.status, "source": r.source, "query": r.query, "provenance": r.provenance or "auto",
                    "run_id": run_id, "observed_at": _utc_naive(r.as_of or now)} for r in fresh])
                upsert(conn, observations, [{
                    **scope, "kr_id": r.kr_id, "day": d, "value": v, "progress": None, "score": None, "status": None,
                    "source": r.source, "query": r.query, "provenance": "auto", "run_id": run_id, "observed_at": stamp}
                    for r in fresh for d, v in r.extra.get("series", ()) if d < day])
                if track_errors:
                    cleared = [r.kr_id for r in results if not r.stale]
                    for chunk in _chunks(cleared):
                        conn.execute(kr_errors.delete().where(self._in_scope(kr_errors), kr_errors.c.kr_id.in_(chunk)))
                    upsert(conn, kr_errors, [{**scope, "kr_id": r.kr_id, "error": r.error, "first_failed_at": stamp,
                                              "last_failed_at": stamp, "run_id": run_id} for r in stale], keep=("first_failed_at",))
                text = json.dumps(params, default=str, sort_keys=True) if params else None
                upsert(conn, run_krs, [{
                    "run_id": run_id, "kr_id": r.kr_id, "value": r.value if not r.stale else None,
                    "raw_value": r.extra.get("raw_value", r.value if not r.stale else None), "source": r.source,
                    "query": r.query, "params": text, "gate": r.extra.get("gate"), "error": r.error or None} for r in results])
        except SQLAlchemyError as exc:
            raise self._error(exc, "write failed, nothing recorded") from None

    def finish_run(self, run_id: str, now: datetime, status: str, krs: int = 0, sources: Iterable[SourceOutcome] = (),
                   error: str = "") -> None:
        """Close the run's ledger entry: status (completed / failed), what each source did, the error if any."""
        sources = list(sources)
        failed = sorted(s.source for s in sources if s.failed)
        try:
            with self.engine.begin() as conn:
                conn.execute(runs.update().where(runs.c.run_id == run_id).values(
                    finished_at=_utc_naive(now), status=status, krs=krs, failed_sources=",".join(failed), error=error or None))
                upsert(conn, run_sources, [{"run_id": run_id, "source": s.source, "queries": s.queries, "failed": s.failed,
                                            "seconds": round(s.seconds, 3), "error": s.error or None} for s in sources])
        except SQLAlchemyError as exc:
            raise self._error(exc, "cannot close the run") from None

    def prune(self, retention_days: int, today: date) -> int:
        """Delete this workspace's observations and runs older than `retention_days`; the number of rows deleted."""
        cutoff = today - timedelta(days=retention_days)
        try:
            return self._prune(cutoff)
        except SQLAlchemyError as exc:
            raise self._error(exc, "cannot delete old history") from None

    def _prune(self, cutoff: date) -> int:
        with self.engine.begin() as conn:
            gone = conn.execute(observations.delete().where(observations.c.workspace == self.scope.workspace,
                                                            observations.c.day < cutoff)).rowcount
            old = sa.select(runs.c.run_id).where(runs.c.workspace == self.scope.workspace,
                                                 runs.c.started_at < datetime.combine(cutoff, datetime.min.time()))
            old_ids = conn.execute(old).scalars().all()
            for chunk in _chunks(old_ids):
                for table in (run_krs, run_sources, runs):
                    gone += conn.execute(table.delete().where(table.c.run_id.in_(chunk))).rowcount
        return gone

    # ---- alert state (mapping.alerts decides, connectors.notify sends) -----------------------------------

    def alert_states(self) -> dict[tuple[str, str], AlertState]:
        """(kind, subject) -> the remembered state of each watched KR and source of the scope."""
        with self._reading() as conn:
            rows = conn.execute(sa.select(alert_state).where(self._in_scope(alert_state)))
            return {(r.kind, r.subject): AlertState(r.kind, r.subject, r.state, _aware(r.since)) for r in rows}

    def remember_alerts(self, changes: Iterable[Alert], run_id: str, now: datetime, notified: bool = False) -> None:
        """Store the new state of each change (one transaction); `notified` stamps them as announced now."""
        stamp = _utc_naive(now)
        rows = [{"workspace": self.scope.workspace, "period": self.scope.period, "kind": c.kind, "subject": c.subject,
                 "state": c.new, "since": stamp, "notified_at": stamp if notified else None, "run_id": run_id} for c in changes]
        try:
            with self.engine.begin() as conn:
                upsert(conn, alert_state, rows)
        except SQLAlchemyError as exc:
            raise self._error(exc, "cannot record the alert state") from None

    def close(self) -> None:
        self.engine.dispose()


def _version_table_revision(conn: sa.Connection) -> Optional[str]:
    """The revision in alembic_version (None when the table is absent or empty)."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _is_dead(host: Optional[str], pid: Optional[int], started: datetime, here: str, now: datetime) -> bool:
    """A run left 'running' is dead when its process is gone from this host, or when it started long ago elsewhere."""
    if host == here and pid:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return pid == os.getpid()
    return started < now - timedelta(hours=STALE_RUN_HOURS)
