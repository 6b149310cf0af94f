"""Sample data for the examples: a factory's MES database (SQLite) and its survey/quality workbook."""
from __future__ import annotations

import os
import random
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

from openpyxl import Workbook

from connectors.redaction import safe_url
from mapping.errors import OkrSyncError

Q4_START, Q4_END = date(2026, 10, 1), date(2026, 12, 31)
LINES = {"A": 1.00, "B": 1.45, "C": 0.80}  # relative defect propensity per line
SHIFTS = (1, 2, 3)


class ExampleDataExists(OkrSyncError):
    """Sample data would overwrite files or tables that are already there (pass force=True, i.e. --force)."""


def _refuse_existing(paths: Iterable[Path], force: bool) -> None:
    """Raise ExampleDataExists naming the sample files that exist already, unless force."""
    existing = [str(p) for p in paths if p.exists() or p.is_symlink()]
    if existing and not force:
        what = ", ".join(existing)
        raise ExampleDataExists(f"{what} already exist{'s' if len(existing) == 1 else ''}; "
                                "pass --force to overwrite (or --dir to create the sample data elsewhere)")


def _publish(temp: Path, path: Path, force: bool) -> None:
    """Move the finished temp file into place: replace with force, else only if `path` still does not exist.
    Whatever happens, no temp file is left behind."""
    try:
        _move(temp, path, force)
    finally:
        temp.unlink(missing_ok=True)


def _move(temp: Path, path: Path, force: bool) -> None:
    if force:
        temp.replace(path)
        return
    try:
        os.link(temp, path)  # atomic and never overwrites: a file created meanwhile is kept
    except FileExistsError:
        temp.unlink(missing_ok=True)
        _refuse_existing([path], force=False)
    except OSError:  # no hard links here (some network or FAT file systems)
        _refuse_existing([path], force=False)
        temp.replace(path)
    else:
        temp.unlink()


def _share(day: date) -> float:
    """How far into Q4 a day lies, 0..1 (drives the improvement trends)."""
    return (day - Q4_START).days / (Q4_END - Q4_START).days


def make_mes_db(path: Path, until: date, seed: int = 7, force: bool = False) -> Path:
    """production (day, line, shift, produced, defects, energy_kwh, downtime_min) and deliveries, Q4 2026 up to `until`.

    An existing file is kept (ExampleDataExists) unless `force`."""
    _refuse_existing([path], force)
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    temp.unlink(missing_ok=True)
    db = sqlite3.connect(temp)
    db.executescript("""
        CREATE TABLE lines (line TEXT PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE production (
            day TEXT NOT NULL, line TEXT NOT NULL REFERENCES lines(line), shift INTEGER NOT NULL,
            produced INTEGER NOT NULL, defects INTEGER NOT NULL, energy_kwh REAL NOT NULL, downtime_min REAL NOT NULL,
            PRIMARY KEY (day, line, shift));
        CREATE TABLE deliveries (
            order_id TEXT PRIMARY KEY, customer TEXT NOT NULL, due_day TEXT NOT NULL, shipped_day TEXT);
    """)
    db.executemany("INSERT INTO lines VALUES (?, ?)", [("A", "Stamping"), ("B", "Welding"), ("C", "Assembly")])
    production, deliveries = [], []
    day, order = Q4_START, 1
    last = min(until, Q4_END)
    while day <= last:
        share = _share(day)
        weekend = day.weekday() >= 5
        for line, propensity in LINES.items():
            for shift in SHIFTS:
                if weekend and shift == 3:
                    continue
                produced = rng.randint(1800, 2200) if not weekend else rng.randint(900, 1100)
                rate = (1.25 - 0.75 * share) * propensity / 100 * rng.uniform(0.8, 1.2)
                defects = round(produced * rate)
                kwh_per_unit = (2.05 - 0.35 * share) * rng.uniform(0.95, 1.05)
                downtime = max(0.0, rng.gauss(17 - 10 * share, 5))
                production.append((day.isoformat(), line, shift, produced, defects, round(produced * kwh_per_unit, 1), round(downtime, 1)))
        if not weekend:
            for _ in range(rng.randint(6, 10)):
                on_time = rng.random() < 0.89 + 0.07 * share
                late = 0 if on_time else rng.randint(1, 5)
                shipped = day + timedelta(days=late - rng.randint(0, 2) * on_time)
                deliveries.append((f"SO-{order:05d}", rng.choice(["Nordwerk", "Helios", "Brenner", "Alto"]), day.isoformat(),
                                   shipped.isoformat() if shipped <= last else None))
                order += 1
        day += timedelta(days=1)
    db.executemany("INSERT INTO production VALUES (?, ?, ?, ?, ?, ?, ?)", production)
    db.executemany("INSERT INTO deliveries VALUES (?, ?, ?, ?)", deliveries)
    db.commit()
    db.close()
    _publish(temp, path, force)
    return path


def make_survey_xlsx(path: Path, until: date, force: bool = False) -> Path:
    """Monthly NPS survey results, complaint closure (as typed text like '74%') and a milestone checklist.

    An existing file is kept (ExampleDataExists) unless `force`."""
    _refuse_existing([path], force)
    book = Workbook()
    survey = book.active
    survey.title = "Survey"
    survey.append(["month", "responses", "promoters", "passives", "detractors", "nps"])
    months = [(date(2026, 7, 1), 118, 42, 51, 25), (date(2026, 8, 1), 124, 45, 52, 27), (date(2026, 9, 1), 131, 47, 58, 26),
              (date(2026, 10, 1), 140, 55, 58, 27), (date(2026, 11, 1), 152, 66, 62, 24), (date(2026, 12, 1), 149, 70, 58, 21)]
    for month, responses, promoters, passives, detractors in months:
        if month > until:
            break
        nps = round(100 * (promoters - detractors) / responses)
        survey.append([month, responses, promoters, passives, detractors, nps])
    complaints = book.create_sheet("Complaints")
    complaints.append(["month", "complaints", "closed within 10 days"])
    for month, count, closed in [(date(2026, 10, 1), 38, "61%"), (date(2026, 11, 1), 31, "74%"), (date(2026, 12, 1), 27, "83%")]:
        if month > until:
            break
        complaints.append([month, count, closed])
    milestones = book.create_sheet("Milestones")
    milestones.append(["milestone", "done"])
    milestones.append(["8D problem solving rolled out on all lines", 1 if until >= date(2026, 11, 20) else 0])
    milestones.append(["Supplier quality audit completed", 0])
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.stem + ".tmp.xlsx")
    book.save(temp)
    _publish(temp, path, force)
    return path


def make_factory(directory: Path, until: date, force: bool = False) -> list[Path]:
    """Everything examples/factory/okrs.yaml reads. Refuses (ExampleDataExists, nothing written) when one of
    the files exists already, unless `force`."""
    mes, survey = directory / "mes.db", directory / "quality.xlsx"
    folders = [str(p) for p in (mes, survey) if p.is_dir()]
    if folders:  # not even --force replaces a folder: nothing is written
        raise ExampleDataExists(f"{', '.join(folders)} {'is a folder' if len(folders) == 1 else 'are folders'} where the sample "
                                "data goes; move it aside or choose another --dir")
    _refuse_existing([mes, survey], force)  # both checked before either is written
    return [make_mes_db(mes, until, force=force), make_survey_xlsx(survey, until, force=force)]


MES_TABLES = ("lines", "production", "deliveries")


def load_mes_into_database(sqlite_path: Path, url: str, chunk: int = 5000, force: bool = False) -> str:
    """Copy the sample MES tables from the SQLite file into a server database (PostgreSQL, MySQL/MariaDB).

    The tables are created with proper DATE and DOUBLE columns in one transaction, so the examples'
    SQL (e.g. examples/factory/okrs.postgres.yaml) runs against typed data. When any of the tables
    exists already, nothing is changed (ExampleDataExists) unless `force`: then they are dropped and
    recreated. Returns the URL with its password hidden, for printing.
    """
    import sqlalchemy as sa

    metadata = sa.MetaData()
    lines = sa.Table("lines", metadata, sa.Column("line", sa.String(5), primary_key=True), sa.Column("name", sa.String(50), nullable=False))
    production = sa.Table(
        "production", metadata,
        sa.Column("day", sa.Date, primary_key=True), sa.Column("line", sa.String(5), primary_key=True),
        sa.Column("shift", sa.Integer, primary_key=True), sa.Column("produced", sa.Integer, nullable=False),
        sa.Column("defects", sa.Integer, nullable=False), sa.Column("energy_kwh", sa.Double, nullable=False),
        sa.Column("downtime_min", sa.Double, nullable=False))  # DOUBLE: MySQL/MariaDB's FLOAT is single precision
    deliveries = sa.Table(
        "deliveries", metadata, sa.Column("order_id", sa.String(20), primary_key=True),
        sa.Column("customer", sa.String(50), nullable=False), sa.Column("due_day", sa.Date, nullable=False),
        sa.Column("shipped_day", sa.Date))
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise ExampleDatabaseUrlError(f"--postgres {url.split('://')[0]!r}: not a database okr-sync can load the example into "
                                   f"({type(exc).__name__}); use postgresql+psycopg://user@host/db or mysql+pymysql://user@host/db") from None
    source = sqlite3.connect(sqlite_path)
    try:
        with _reachable(engine) as conn:
            existing = [name for name in MES_TABLES if sa.inspect(conn).has_table(name)]
            if existing and not force:
                shown = safe_url(engine.url)
                raise ExampleDataExists(f"table{'s' if len(existing) > 1 else ''} {', '.join(existing)} already exist{'' if len(existing) > 1 else 's'} "
                                        f"in {shown}; pass --force to drop and recreate {'them' if len(existing) > 1 else 'it'} with the sample data")
            metadata.drop_all(conn, checkfirst=True)
            metadata.create_all(conn)
            for table, query, dates in (
                (lines, "SELECT line, name FROM lines", ()),
                (production, "SELECT day, line, shift, produced, defects, energy_kwh, downtime_min FROM production", ("day",)),
                (deliveries, "SELECT order_id, customer, due_day, shipped_day FROM deliveries", ("due_day", "shipped_day")),
            ):
                cursor = source.execute(query)
                names = [c[0] for c in cursor.description]
                while batch := cursor.fetchmany(chunk):
                    rows = [dict(zip(names, row)) for row in batch]
                    for row in rows:
                        for key in dates:
                            row[key] = date.fromisoformat(row[key]) if row[key] else None
                    conn.execute(table.insert(), rows)
        return safe_url(engine.url)
    finally:
        source.close()
        engine.dispose()


class ExampleDatabaseError(OkrSyncError):
    """The database given with --postgres cannot be used (unknown kind, no driver, unreachable, refused)."""

    exit_code = 3


class ExampleDatabaseUrlError(ExampleDatabaseError):
    """--postgres names no database kind okr-sync can load the example into."""

    exit_code = 2


@contextmanager
def _reachable(engine: Any) -> Iterator[Any]:
    """engine.begin(), with a database error as one line naming the database (password hidden) and what to check."""
    import sqlalchemy as sa

    try:
        with engine.begin() as conn:
            yield conn
    except sa.exc.DBAPIError as exc:
        reason = " ".join(str(exc.orig or exc).split())[:300]
        raise ExampleDatabaseError(f"cannot load the example into {safe_url(engine.url)}: {reason}; check that the server runs "
                                   "and the user may create tables there") from None


EXAMPLES: dict[str, Callable[..., list[Path]]] = {"factory": make_factory}  # (directory, until, force=False) -> files created
