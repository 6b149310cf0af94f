"""`okr-sync validate --connect` on real PostgreSQL and MariaDB: each source opened once, each role's powers reported.

Also runs the README's read-only role setup (the ```sql blocks) on both servers and checks that
the role it creates is reported as able only to read.
"""
from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from connectors.base import Context
from connectors.sql import SqlConnector
from flows.cli import app
from mapping.sources.sql import SqlSource
from servers import ServerDb, run, server_database

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
CONFIG = """
period: 2026-Q4
sources:
  mes: {{kind: sql, url_env: MES_URL{extra}}}
objectives:
  - id: quality
    title: Quality
    key_results:
      - id: produced
        title: Units produced
        baseline: 0
        target: 5000
        metric: {{source: mes, sql: "SELECT SUM(produced) FROM production"}}
"""


@pytest.fixture(scope="module", params=["postgresql", "mariadb"])
def db(request):
    for database in server_database(request.param, "okr_connect"):
        run(database.admin, ["CREATE TABLE production (day DATE, produced INTEGER)",
                             "INSERT INTO production VALUES ('2026-10-01', 1000), ('2026-10-02', 1200)"])
        database.grant_reader()
        yield database


def validate(write_config, url: str, extra: str = "") -> tuple[int, str]:
    path = write_config(CONFIG.format(extra=extra))
    result = CliRunner().invoke(app, ["validate", "--connect", str(path)], env={"MES_URL": url})
    return result.exit_code, result.output


def test_reader_role_connects_answers_and_can_only_read(db: ServerDb, write_config):
    code, output = validate(write_config, db.reader)
    assert code == 0, output
    assert f"source 'mes' (sql): OK - 1 of 1 queries answered; role '{db.role}" in output
    assert "can only read" in output


def test_admin_role_is_reported_with_its_powers_and_fails_the_check(db: ServerDb, write_config):
    code, output = validate(write_config, db.admin)
    assert code == 1, output
    assert "source 'mes' (sql): FAILED" in output
    assert ("is a superuser" in output) if db.server == "postgresql" else ("has ALL PRIVILEGES, GRANT OPTION on *.*" in output)
    assert "a sync refuses this source" in output and "1 of 1 sources failed the connection check: mes" in output


def test_allow_write_privileges_lets_the_admin_through_with_a_warning(db: ServerDb, write_config):
    code, output = validate(write_config, db.admin, ", allow_write_privileges: true")
    assert code == 0, output
    assert "allowed by allow_write_privileges: true (not recommended)" in output


def test_file_privileged_roles_are_reported(db: ServerDb, tmp_path):
    """A role with nothing but SELECT and the power to write server files is still refused."""
    name = f"okr_filer_{uuid.uuid4().hex[:8]}"
    if db.server == "postgresql":
        setup = [f"CREATE ROLE {name} LOGIN", f"GRANT pg_write_server_files TO {name}", f"GRANT pg_read_server_files TO {name}",
                 f"GRANT USAGE ON SCHEMA public TO {name}", f"GRANT SELECT ON production TO {name}"]
        teardown = [f"REVOKE ALL ON production FROM {name}", f"REVOKE USAGE ON SCHEMA public FROM {name}", f"DROP ROLE {name}"]
        url = db.reader.replace(db.role, name)
        expected = ["can write files on the database host (pg_write_server_files)", "can read files on the database host (pg_read_server_files)"]
    else:
        setup = [f"CREATE USER '{name}'@'127.0.0.1'", f"GRANT FILE ON *.* TO '{name}'@'127.0.0.1'",
                 f"GRANT SELECT ON {db.name}.* TO '{name}'@'127.0.0.1'"]
        teardown = [f"DROP USER '{name}'@'127.0.0.1'"]
        url = db.reader.replace(db.role, name)
        expected = ["has FILE on *.*"]
    run(db.admin, setup)
    try:
        connector = SqlConnector("mes", SqlSource(kind="sql", url_env="U"), Context(tmp_path, {"U": url}))
        report = connector.access_report()
        connector.close()
        assert report.user.startswith(name)
        assert all(power in report.powers for power in expected), report.powers
    finally:
        run(db.admin, teardown)


def _readme_sql(marker: str) -> list[str]:
    section = README[README.index("##### Read-only database role"):]
    blocks = re.findall(r"```sql\n(.*?)```", section, flags=re.S)
    block = next(b for b in blocks if marker in b)
    return [statement.strip() for statement in block.split(";") if statement.strip()]


def test_readme_read_only_role_setup_gives_a_role_that_can_only_read(db: ServerDb, tmp_path):
    role = f"okr_readme_{uuid.uuid4().hex[:8]}"
    marker = "CREATE ROLE" if db.server == "postgresql" else "CREATE USER"
    statements = [s.replace("okr_reader", role).replace(" mes", f" {db.name}").replace("mes.*", f"{db.name}.*")
                  for s in _readme_sql(marker)]
    run(db.admin, statements)
    url = sa.make_url(db.reader).set(username=role, password="change-me")
    try:
        connector = SqlConnector("mes", SqlSource(kind="sql", url_env="U"), Context(tmp_path, {"U": url.render_as_string(hide_password=False)}))
        report = connector.access_report()
        connector.close()
        assert report.powers == [], report.powers
    finally:
        if db.server == "postgresql":
            run(db.admin, [f"DROP OWNED BY {role}", f"DROP ROLE {role}"])
        else:
            run(db.admin, [f"DROP USER '{role}'@'%'"])
