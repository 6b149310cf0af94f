"""Real PostgreSQL and MariaDB databases for tests: a fresh database per use, an admin URL and a read-only role.

The read-only role is created exactly as the README tells users to (`CREATE ROLE ... LOGIN` +
`GRANT SELECT` on PostgreSQL, `CREATE USER` + `GRANT SELECT ON db.*` on MariaDB); on this machine
both servers trust connections from 127.0.0.1, so no password is needed.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Iterator

import sqlalchemy as sa

from conftest import require_server

ADMIN = {
    "postgresql": ("PostgreSQL", "postgresql+psycopg://postgres@127.0.0.1:5432/{db}", "postgres"),
    "mariadb": ("MariaDB", "mysql+pymysql://root@127.0.0.1:3306/{db}", ""),
}
READER = {
    "postgresql": "postgresql+psycopg://{role}@127.0.0.1:5432/{db}",
    "mariadb": "mysql+pymysql://{role}@127.0.0.1:3306/{db}",
}


@dataclass
class ServerDb:
    """One fresh database on one server: `admin` may do anything, `reader` can only SELECT."""

    server: str
    name: str
    admin: str
    reader: str
    role: str

    def grant_reader(self) -> None:
        """Give the reader SELECT on every table that exists now (call after creating tables)."""
        statements = {
            "postgresql": [f"GRANT USAGE ON SCHEMA public TO {self.role}", f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {self.role}"],
            "mariadb": [f"GRANT SELECT ON {self.name}.* TO '{self.role}'@'127.0.0.1'"],
        }[self.server]
        run(self.admin, statements)


def root_engine(server: str) -> sa.Engine:
    label, template, maintenance = ADMIN[server]
    return sa.create_engine(template.format(db=maintenance), isolation_level="AUTOCOMMIT")


def run(url: str, statements: list[str]) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                for statement in statements:
                    cursor.execute(statement)  # no parameters: '%' in a MySQL host name stays as it is
            finally:
                cursor.close()
    finally:
        engine.dispose()


def server_database(server: str, prefix: str = "okr_test") -> Iterator[ServerDb]:
    """Create a database and a reader role on `server` (skip or fail when unreachable); drop both afterwards."""
    label = ADMIN[server][0]
    root = root_engine(server)

    def probe() -> None:
        with root.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    require_server(label, probe)
    suffix = uuid.uuid4().hex[:10]
    name, role = f"{prefix}_{suffix}", f"okr_reader_{suffix}"
    with root.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
        if server == "postgresql":
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        else:
            conn.exec_driver_sql(f"CREATE USER '{role}'@'127.0.0.1'")
    db = ServerDb(server, name, ADMIN[server][1].format(db=name), READER[server].format(role=role, db=name), role)
    try:
        yield db
    finally:
        with root.connect() as conn:
            if server == "postgresql":
                conn.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
                conn.exec_driver_sql(f"DROP ROLE {role}")
            else:
                conn.exec_driver_sql(f"DROP DATABASE {name}")
                conn.exec_driver_sql(f"DROP USER '{role}'@'127.0.0.1'")
        root.dispose()


def scalar(url: str, sql: str) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(sql).scalar()
    finally:
        engine.dispose()


def checksum(url: str, tables: list[str], server: str) -> tuple:
    """A fingerprint of every row of `tables` (plus their count and the list of tables), taken as the admin."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if server == "postgresql":
                listed = conn.exec_driver_sql("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'").scalar()
                sums = [conn.exec_driver_sql(f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {t} AS t").one()
                        for t in tables]
            else:
                listed = conn.exec_driver_sql("SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.tables "
                                              "WHERE table_schema = DATABASE()").scalar()
                sums = [conn.exec_driver_sql(f"CHECKSUM TABLE {t} EXTENDED").one()[1:] + conn.exec_driver_sql(f"SELECT COUNT(*) FROM {t}").one()[:]
                        for t in tables]
            return (listed, tuple(tuple(s) for s in sums))
    finally:
        engine.dispose()


