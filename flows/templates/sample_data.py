"""Sample data for the `okr-sync init` templates: local SQLite databases and CSV files standing in for the
real systems (Jira, a MES, a survey sheet and a helpdesk, a BI dataset, a billing system).

Every generator writes daily rows from the period's first day up to `until` (seeded, so the same day
gives the same files), trending from the KR baselines towards their targets so a first `okr-sync run`
shows a mix of statuses. Files are written to a temp name and returned; the caller moves them into place.
"""
from __future__ import annotations

import csv
import random
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Callable, Iterator

from mapping.period import Period


def _days(period: Period, until: date, lead_in: int = 0) -> Iterator[tuple[date, float]]:
    """Every day of the period up to `until` (and `lead_in` days before it), with how far into the period it lies (0..1)."""
    last = min(until, period.end)
    span = max(1, (period.end - period.start).days)
    day = period.start - timedelta(days=lead_in)
    while day <= last:
        yield day, max(0.0, (day - period.start).days / span)
        day += timedelta(days=1)


def _sqlite(path: Path, schema: str, rows: dict[str, list[tuple]]) -> Path:
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    try:
        db.executescript(schema)
        for table, values in rows.items():
            if values:
                db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(values[0]))})", values)
        db.commit()
    finally:
        db.close()
    return path


def _csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def software(folder: Path, period: Period, until: date) -> dict[str, Path]:
    """data/jira.db: issues (key, type, created, resolved, escaped, priority) and deployments (day, service, ok)."""
    rng = random.Random(11)
    issues, deployments, number = [], [], 1
    for day, share in _days(period, until, lead_in=28):  # issues resolved early in the period were created before it
        if day.weekday() >= 5:
            continue
        for _ in range(rng.randint(4, 7)):  # stories: lead time falls from ~9 to ~6 days
            lead = max(1, round(rng.gauss(9 - 4 * share, 2)))
            done = day + timedelta(days=lead)
            issues.append((f"PAY-{number}", "Story", day.isoformat(), done.isoformat() if done <= until else None, 0, "Medium"))
            number += 1
        if rng.random() < 2.2 - 1.4 * share:  # escaped bugs: ~11 a week falling to ~4
            for _ in range(rng.randint(1, 2)):
                critical = rng.random() < 0.3
                fixed = day + timedelta(days=rng.choice([0, 1, 1, 1, 2, 2, 3] if share > 0.3 else [1, 1, 2, 3, 3]))
                issues.append((f"PAY-{number}", "Bug", day.isoformat(), fixed.isoformat() if fixed <= until else None, 1,
                               "Critical" if critical else "Major"))
                number += 1
        for _ in range(rng.randint(2, 5)):
            deployments.append((day.isoformat(), rng.choice(["api", "web", "payments"]), int(rng.random() < 0.9 + 0.07 * share)))
    schema = """
        CREATE TABLE issues (key TEXT PRIMARY KEY, type TEXT NOT NULL, created TEXT NOT NULL, resolved TEXT,
                             escaped INTEGER NOT NULL, priority TEXT NOT NULL);
        CREATE TABLE deployments (day TEXT NOT NULL, service TEXT NOT NULL, ok INTEGER NOT NULL);"""
    return {"data/jira.db": _sqlite(folder / "jira.db.tmp", schema, {"issues": issues, "deployments": deployments})}


def manufacturing(folder: Path, period: Period, until: date) -> dict[str, Path]:
    """data/mes.db: production per day, line and shift, and deliveries (ordered, due, shipped)."""
    rng = random.Random(7)
    production, deliveries, order = [], [], 1
    for day, share in _days(period, until):
        weekend = day.weekday() >= 5
        for line, propensity in (("A", 1.0), ("B", 1.45), ("C", 0.8)):
            for shift in (1, 2) if weekend else (1, 2, 3):
                planned = 480
                downtime = round(max(0.0, rng.gauss(90 - 35 * share, 12)), 1)
                produced = round((planned - downtime) * 4.2 * (0.72 + 0.08 * share) * rng.uniform(0.97, 1.03))
                defects = round(produced * (1.25 - 0.7 * share) * propensity / 100 * rng.uniform(0.8, 1.2))
                energy = round(produced * (2.05 - 0.3 * share) * rng.uniform(0.96, 1.04), 1)
                production.append((day.isoformat(), line, shift, produced, defects, energy, planned, downtime, 4.2))
        if not weekend:
            for _ in range(rng.randint(6, 10)):
                ordered = day - timedelta(days=rng.randint(3, 9))
                lead = max(1, round(rng.gauss(6 - 1.5 * share, 1)))
                shipped = ordered + timedelta(days=lead)
                due = shipped + timedelta(days=0 if rng.random() < 0.88 + 0.06 * share else -rng.randint(1, 3))
                deliveries.append((f"SO-{order:05d}", ordered.isoformat(), due.isoformat(), shipped.isoformat() if shipped <= until else None))
                order += 1
    schema = """
        CREATE TABLE production (day TEXT NOT NULL, line TEXT NOT NULL, shift INTEGER NOT NULL, produced INTEGER NOT NULL,
                                 defects INTEGER NOT NULL, energy_kwh REAL NOT NULL, planned_min REAL NOT NULL,
                                 downtime_min REAL NOT NULL, ideal_per_min REAL NOT NULL, PRIMARY KEY (day, line, shift));
        CREATE TABLE deliveries (order_id TEXT PRIMARY KEY, ordered_day TEXT NOT NULL, due_day TEXT NOT NULL, shipped_day TEXT);"""
    return {"data/mes.db": _sqlite(folder / "mes.db.tmp", schema, {"production": production, "deliveries": deliveries})}


def services(folder: Path, period: Period, until: date) -> dict[str, Path]:
    """data/survey.csv (one row per week of NPS answers) and data/helpdesk.db (tickets)."""
    rng = random.Random(5)
    weeks, tickets, number = [], [], 1
    for day, share in _days(period, until):
        if day.weekday() == 0 or day == period.start:
            answers = round((78 + 45 * share) * rng.uniform(0.9, 1.1))
            promoters = round(answers * (0.42 + 0.12 * share + rng.uniform(-0.03, 0.03)))
            detractors = round(answers * (0.22 - 0.06 * share + rng.uniform(-0.02, 0.02)))
            weeks.append([day.isoformat(), answers, promoters, answers - promoters - detractors, detractors,
                          round(100 * (promoters - detractors) / answers, 1)])
        for _ in range(rng.randint(25, 40)):
            hours = max(0.5, rng.gauss(28 - 12 * share, 6))
            opened = f"{day.isoformat()} {rng.randint(8, 17):02d}:00"
            fast = int(rng.random() < 0.82 + 0.1 * share)
            repeat = int(rng.random() < 0.12 - 0.04 * share)
            tickets.append((number, day.isoformat(), opened, round(hours, 1), fast, repeat))
            number += 1
    survey = _csv(folder / "survey.csv.tmp", ["week", "answers", "promoters", "passives", "detractors", "nps"], weeks)
    schema = """CREATE TABLE tickets (id INTEGER PRIMARY KEY, day TEXT NOT NULL, opened TEXT NOT NULL, hours_to_resolve REAL NOT NULL,
                                      answered_within_30s INTEGER NOT NULL, repeat_contact INTEGER NOT NULL);"""
    return {"data/survey.csv": survey, "data/helpdesk.db": _sqlite(folder / "helpdesk.db.tmp", schema, {"tickets": tickets})}


def finance(folder: Path, period: Period, until: date) -> dict[str, Path]:
    """data/finance.db: daily ledger (income, cost), new accounts per channel and compliance findings."""
    rng = random.Random(3)
    ledger, accounts, findings, number = [], [], [], 1
    open_ids: list[int] = []
    for i in range(12):  # findings open when the period starts
        findings.append([number, (period.start - timedelta(days=rng.randint(10, 80))).isoformat(), None, rng.choice(["high", "medium", "low"]), 45])
        open_ids.append(number)
        number += 1
    for day, share in _days(period, until):
        income = rng.uniform(0.95, 1.05) * 1_000_000
        ledger.append((day.isoformat(), round(income, 2), round(income * (0.62 - 0.05 * share) * rng.uniform(0.97, 1.03), 2)))
        for channel, base in (("branch", 90), ("web", 25), ("app", 30)):
            growth = 1 + (0.8 * share if channel == "app" else 0.3 * share if channel == "web" else -0.2 * share)
            accounts.append((day.isoformat(), channel, max(0, round(base * growth * rng.uniform(0.8, 1.2)))))
        if rng.random() < 0.08:
            findings.append([number, day.isoformat(), None, rng.choice(["medium", "low"]), 30])
            open_ids.append(number)
            number += 1
        if open_ids and rng.random() < 0.15:
            closing = open_ids.pop(0)
            findings[closing - 1][2] = day.isoformat()
    schema = """
        CREATE TABLE ledger (day TEXT PRIMARY KEY, income REAL NOT NULL, cost REAL NOT NULL);
        CREATE TABLE accounts (day TEXT NOT NULL, channel TEXT NOT NULL, opened INTEGER NOT NULL);
        CREATE TABLE findings (id INTEGER PRIMARY KEY, raised TEXT NOT NULL, closed TEXT, severity TEXT NOT NULL, due_days INTEGER NOT NULL);"""
    rows = {"ledger": ledger, "accounts": accounts, "findings": [tuple(f) for f in findings]}
    return {"data/finance.db": _sqlite(folder / "finance.db.tmp", schema, rows)}


def startup(folder: Path, period: Period, until: date) -> dict[str, Path]:
    """data/metrics.csv: one row per day (MRR, sign-ups, activated sign-ups, cash, monthly burn)."""
    rng = random.Random(2)
    rows, mrr, cash = [], 42_000.0, 610_000.0
    for day, share in _days(period, until):
        mrr *= 1 + rng.uniform(0.0005, 0.004)
        signups = rng.randint(8, 20)
        activated = round(signups * (0.31 + 0.1 * share + rng.uniform(-0.05, 0.05)))
        burn = 52_000 + rng.uniform(-2_000, 2_000)
        cash -= burn / 30 - mrr / 30 * 0.6
        rows.append([day.isoformat(), round(mrr, 2), signups, activated, round(cash, 2), round(burn, 2)])
    return {"data/metrics.csv": _csv(folder / "metrics.csv.tmp", ["day", "mrr", "signups", "activated", "cash", "monthly_burn"], rows)}


GENERATORS: dict[str, Callable[[Path, Period, date], dict[str, Path]]] = {
    "software": software, "manufacturing": manufacturing, "services": services, "finance": finance, "startup": startup,
}
