"""What the database role of a sql source could do besides reading: the third layer of read-only access.

The query check and the read-only session stop what they know about; a role that cannot write is
what stops everything else (a function that writes, a file function nobody listed, a server bug).
`role_powers` lists the powers a reading role should not have, per database; a sync refuses to run
a source whose role has any (unless the source says `allow_write_privileges: true`), and
`okr-sync validate --connect` reports them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa

# PostgreSQL predefined roles that reach outside the database or write everywhere.
_PG_POWER_ROLES = {
    "pg_write_server_files": "can write files on the database host (pg_write_server_files)",
    "pg_read_server_files": "can read files on the database host (pg_read_server_files)",
    "pg_execute_server_program": "can run programs on the database host (pg_execute_server_program)",
    "pg_write_all_data": "can write every table (pg_write_all_data)",
}
# MySQL/MariaDB privileges a reading role needs; any other privilege is a power.
_MYSQL_READ_PRIVILEGES = {"USAGE", "SELECT", "SHOW VIEW", "SHOW DATABASES"}
_GRANT_LINE = re.compile(r"^GRANT (?P<privs>.+?) ON (?P<scope>.+?) TO .+?(?P<option>WITH GRANT OPTION)?$", re.S | re.I)
_ROLE_LINE = re.compile(r"^GRANT (?P<roles>.+?) TO ", re.I)
_LISTED = 5


@dataclass
class RoleReport:
    """Who the source connects as and what it could do besides reading (empty `powers`: read-only)."""

    user: str
    powers: list[str] = field(default_factory=list)
    who: str = ""  # how to name the role in a sentence; "role '<user>'" by default

    def describe(self) -> str:
        who = self.who or f"role {self.user!r}"
        return f"{who} can only read" if not self.powers else f"{who} " + "; ".join(self.powers)


def role_powers(connection: sa.Connection) -> RoleReport:
    """The connected role's powers beyond reading, for the database behind `connection`."""
    name = connection.dialect.name
    if name == "postgresql":
        return _postgres(connection)
    if name in ("mysql", "mariadb"):
        return _mysql(connection)
    if name == "sqlite":
        return RoleReport("sqlite", who="the SQLite file is opened read-only and")
    if name == "mssql":
        return _mssql(connection)
    return RoleReport("unknown", [f"cannot be checked on {name}"])


def _postgres(connection: sa.Connection) -> RoleReport:
    row = connection.exec_driver_sql(
        "SELECT current_user::text, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls "
        "FROM pg_catalog.pg_roles WHERE rolname = current_user").one()
    user, powers = row[0], []
    for flag, what in zip(row[1:], ("is a superuser", "can create roles (CREATEROLE)", "can create databases (CREATEDB)",
                                    "can start replication (REPLICATION)", "bypasses row-level security (BYPASSRLS)")):
        if flag:
            powers.append(what)
    listed = ", ".join(f"'{name}'" for name in _PG_POWER_ROLES)  # our own constants, not config text
    held = connection.exec_driver_sql(
        f"SELECT rolname::text FROM pg_catalog.pg_roles WHERE rolname IN ({listed}) AND pg_catalog.pg_has_role(current_user, oid, 'USAGE')"
    ).scalars().all()
    if not row[1]:  # a superuser holds them all; saying so once is enough
        powers.extend(_PG_POWER_ROLES[r] for r in sorted(held))
    if connection.exec_driver_sql("SELECT pg_catalog.has_database_privilege(current_database(), 'CREATE')").scalar():
        powers.append("can create schemas in this database (CREATE)")
    schemas = connection.exec_driver_sql(
        "SELECT nspname::text FROM pg_catalog.pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND left(nspname, 3) <> 'pg_' AND pg_catalog.has_schema_privilege(oid, 'CREATE') ORDER BY 1").scalars().all()
    if schemas:
        powers.append(f"can create tables in schema {_names(schemas)}")
    tables = connection.exec_driver_sql(
        "SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND left(n.nspname, 3) <> 'pg_' AND (pg_catalog.has_table_privilege(c.oid, 'INSERT') "
        "OR pg_catalog.has_table_privilege(c.oid, 'UPDATE') OR pg_catalog.has_table_privilege(c.oid, 'DELETE') "
        "OR pg_catalog.has_table_privilege(c.oid, 'TRUNCATE')) ORDER BY 1").scalars().all()
    if tables and not row[1]:
        powers.append(f"can INSERT/UPDATE/DELETE/TRUNCATE {len(tables)} table(s): {_names(tables)}")
    return RoleReport(user, powers)


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def _split_privileges(text: str) -> list[str]:
    """'SELECT (a, b), INSERT' -> ['SELECT', 'INSERT'] (column lists dropped)."""
    text = re.sub(r"\([^)]*\)", "", text)
    return [p.strip().upper() for p in text.split(",") if p.strip()]


def _mysql(connection: sa.Connection) -> RoleReport:
    user = str(connection.exec_driver_sql("SELECT CURRENT_USER()").scalar())
    lines = [str(r[0]) for r in connection.exec_driver_sql("SHOW GRANTS").fetchall()]
    powers: list[str] = []
    for line in lines:
        grant = _GRANT_LINE.match(line)
        if grant:
            extra = [p for p in _split_privileges(grant["privs"]) if p not in _MYSQL_READ_PRIVILEGES]
            if grant["option"]:
                extra.append("GRANT OPTION")
            if extra:
                powers.append(f"has {', '.join(extra)} on {grant['scope'].strip()}")
        elif not line.upper().startswith("GRANT PROXY"):
            role = _ROLE_LINE.match(line)
            if role:
                powers.append(f"holds role(s) {role['roles'].strip()}: grant SELECT to the user directly instead")
        else:
            powers.append("has PROXY")
    return RoleReport(user, powers)


def _mssql(connection: sa.Connection) -> RoleReport:
    row = connection.exec_driver_sql(
        "SELECT SUSER_SNAME(), IS_SRVROLEMEMBER('sysadmin'), IS_ROLEMEMBER('db_owner'), IS_ROLEMEMBER('db_datawriter'), "
        "IS_ROLEMEMBER('db_ddladmin'), HAS_PERMS_BY_NAME(NULL, NULL, 'ADMINISTER BULK OPERATIONS'), "
        "HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'INSERT'), HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'UPDATE'), "
        "HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'DELETE'), HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'EXECUTE')").one()
    labels = ("is sysadmin", "is db_owner", "is db_datawriter", "is db_ddladmin", "can bulk-load files (ADMINISTER BULK OPERATIONS)",
              "can INSERT", "can UPDATE", "can DELETE", "can EXECUTE procedures")
    return RoleReport(str(row[0]), [what for flag, what in zip(row[1:], labels) if flag])
