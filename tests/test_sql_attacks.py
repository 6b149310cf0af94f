"""Attacks on a sql source, tried for real on PostgreSQL and MariaDB: each is stopped by two independent layers.

Layers: (1) the per-dialect query check (mapping.sql_guard), (2) the server-enforced session
(one statement per call, read-only transaction rolled back: connectors.sql_session), (3) a role that
can only SELECT (connectors.sql_privileges refuses any other). Every test compares a checksum of the
tables and the contents of a folder the database servers may write to, before and after; control
tests show the same attacks *do* change data or write files when the layers are taken away, so the
checks can fail.
"""
from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.base import Context, SourceError
from connectors.sql import SqlConnector
from mapping.config import Query
from mapping.period import parse_period
from mapping.sources.sql import SqlQuery, SqlSource
from mapping.sql_guard import ReadOnlyViolation, guard_sql
from servers import ServerDb, checksum, run, scalar, server_database

import conftest

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
Q4 = parse_period("2026-Q4")
TABLES = ["production", "audit"]
DIALECT = {"postgresql": "postgres", "mariadb": "mysql"}


@dataclass
class Target:
    db: ServerDb
    files: Path  # a folder the database server's OS user can write to: any file appearing in it is a breach
    baseline: tuple

    def file(self) -> str:
        return str(self.files / f"out-{uuid.uuid4().hex[:8]}.txt")

    def state(self) -> tuple:
        return checksum(self.db.admin, TABLES, self.db.server), sorted(os.listdir(self.files))

    def assert_untouched(self) -> None:
        assert self.state() == (self.baseline, [])


@pytest.fixture(scope="module", params=["postgresql", "mariadb"])
def target(request):
    for db in server_database(request.param, "okr_attack"):
        run(db.admin, ["CREATE TABLE production (day DATE NOT NULL, line VARCHAR(5) NOT NULL, produced INTEGER NOT NULL, defects INTEGER NOT NULL)",
                       "CREATE TABLE audit (note VARCHAR(50))",
                       "INSERT INTO production VALUES ('2026-10-01', 'A', 1000, 7), ('2026-10-02', 'A', 1100, 3), ('2026-11-01', 'B', 900, 12)",
                       "INSERT INTO audit VALUES ('original')"])
        db.grant_reader()
        files = Path(f"/tmp/okr-attack-{uuid.uuid4().hex[:10]}")
        files.mkdir()
        files.chmod(0o777)
        try:
            yield Target(db, files, checksum(db.admin, TABLES, db.server))
        finally:
            shutil.rmtree(files, ignore_errors=True)


def connector(url: str, tmp_path: Path, allow_write: bool = False) -> SqlConnector:
    settings = SqlSource(kind="sql", url_env="U", timeout_seconds=10, allow_write_privileges=allow_write)
    return SqlConnector("mes", settings, Context(tmp_path, {"U": url}))


def unchecked(url: str, tmp_path: Path, text: str, allow_write: bool = False) -> None:
    """Run `text` through the server-enforced session (layer 2) with the query check (layer 1) bypassed."""
    conn = connector(url, tmp_path, allow_write)
    try:
        with conn.connect() as connection:
            conn._execute(connection, text, {}, 2)
    except Exception:  # noqa: BLE001 - a refusal is what we hope for; the state check decides
        pass
    finally:
        conn.close()


def unprotected(url: str, server: str, texts: list[str]) -> None:
    """Run texts on a plain connection without layer 2: autocommit, PostgreSQL's simple protocol, MariaDB multi-statements on."""
    connect_args = {"client_flag": 1 << 16} if server == "mariadb" else {}
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", connect_args=connect_args)
    try:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            for text in texts:
                cursor = raw.cursor()
                try:
                    cursor.execute(text)
                    if server == "mariadb":
                        while cursor.nextset():
                            pass
                except Exception:  # noqa: BLE001
                    pass
                finally:
                    cursor.close()
    finally:
        engine.dispose()


# (server, attack, what the one-line refusal names, kind): "write" attacks change data or the session,
# "file" attacks reach the database host's files.
ATTACKS = [
    ("postgresql", "SELECT 1; DELETE FROM production", "2 statements", "write"),
    ("postgresql", "SELECT 1; COMMIT; BEGIN READ WRITE; DELETE FROM production", "statements", "write"),
    ("postgresql", "COMMIT; BEGIN READ WRITE; DELETE FROM production", "statements", "write"),
    ("postgresql", "COMMIT", "starts with 'COMMIT'", "write"),
    ("postgresql", "BEGIN READ WRITE", "starts with 'BEGIN'", "write"),
    ("postgresql", "SELECT 1 # 1; DELETE FROM production", "2 statements", "write"),
    ("postgresql", "SELECT 'a\\' ; DELETE FROM production; --'", "2 statements", "write"),
    ("postgresql", "SELECT $q$x$q$; UPDATE production SET defects = 0", "2 statements", "write"),
    ("postgresql", "WITH gone AS (DELETE FROM production RETURNING *) SELECT COUNT(*) FROM gone", "DELETE", "write"),
    ("postgresql", "SELECT * INTO stolen FROM production", "INTO", "write"),
    ("postgresql", "SELECT * FROM production FOR UPDATE", "UPDATE", "write"),
    ("postgresql", "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "starts with 'SET'", "write"),
    ("postgresql", "SELECT set_config('default_transaction_read_only', 'off', false)", "set_config", "write"),
    ("postgresql", "TRUNCATE audit", "starts with 'TRUNCATE'", "write"),
    ("postgresql", "COPY (SELECT 1) TO '{file}'", "starts with 'COPY'", "file"),
    ("postgresql", "SELECT lo_export(lo_from_bytea(0, 'x'), '{file}')", "lo_export", "file"),
    ("postgresql", "SELECT length(pg_read_file('/etc/hostname'))", "pg_read_file", "file"),
    ("postgresql", "SELECT count(*) FROM pg_ls_dir('.')", "pg_ls_dir", "file"),
    ("postgresql", 'SELECT length(U&"pg\\005fread\\005ffile"(\'/etc/hostname\'))', "Unicode-escaped", "file"),
    ("mariadb", "SELECT 1; DELETE FROM production", "2 statements", "write"),
    ("mariadb", "SELECT 1 /*! ; DELETE FROM production */", "executable", "write"),
    ("mariadb", "SELECT 1 /*M!100000 ; DELETE FROM production */", "executable", "write"),
    ("mariadb", "COMMIT", "starts with 'COMMIT'", "write"),
    ("mariadb", "SET SESSION TRANSACTION READ WRITE", "starts with 'SET'", "write"),
    ("mariadb", "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'", "starts with 'SET'", "write"),
    ("mariadb", "DELETE FROM production", "starts with 'DELETE'", "write"),
    ("mariadb", "SELECT * FROM production FOR UPDATE", "UPDATE", "write"),
    ("mariadb", "SELECT 1 /*!50000 INTO OUTFILE '{file}' */", "executable", "file"),
    ("mariadb", "SELECT 1 --1 INTO OUTFILE '{file}'", "INTO", "file"),
    ("mariadb", "SELECT * FROM production INTO OUTFILE '{file}'", "INTO", "file"),
    ("mariadb", "SELECT 'x' INTO DUMPFILE '{file}'", "INTO", "file"),
    ("mariadb", "SELECT LENGTH(LOAD_FILE('/etc/hostname'))", "LOAD_FILE", "file"),
]


def _attacks_for(target: Target) -> list[tuple[str, str, str]]:
    return [(text, construct, kind) for server, text, construct, kind in ATTACKS if server == target.db.server]


def test_each_attack_is_refused_by_the_check_in_one_line_naming_it(target):
    for text, construct, _ in _attacks_for(target):
        with pytest.raises(ReadOnlyViolation) as refused:
            guard_sql(text.format(file=target.file()), target.db.server)
        assert construct.lower() in str(refused.value).lower(), text
        assert "\n" not in str(refused.value)
    target.assert_untouched()


def test_each_attack_run_past_the_check_as_the_reader_changes_nothing(target, tmp_path):
    """Layers 2 and 3 without layer 1."""
    for text, _, _ in _attacks_for(target):
        unchecked(target.db.reader, tmp_path, text.format(file=target.file()))
        target.assert_untouched()


def test_each_write_attack_run_past_the_check_as_the_admin_changes_nothing(target, tmp_path):
    """Layer 2 alone (the role may write): one statement per call, read-only transactions rolled back."""
    for text, _, kind in _attacks_for(target):
        if kind == "write":
            unchecked(target.db.admin, tmp_path, text, allow_write=True)
            target.assert_untouched()


def test_each_attack_as_the_reader_without_the_server_session_changes_nothing(target):
    """Layer 3 alone: the reader role on a plain connection (autocommit, several statements allowed)."""
    unprotected(target.db.reader, target.db.server, [text.format(file=target.file()) for text, _, _ in _attacks_for(target)])
    target.assert_untouched()


def test_controls_the_same_attacks_do_change_data_and_write_files_without_the_layers(target):
    """Without any layer, as the admin, the attacks work: so the checks above can fail."""
    server = target.db.server
    if server == "postgresql":
        attacks = ["SELECT 1; INSERT INTO audit VALUES ('control')", f"COPY (SELECT 1) TO '{target.file()}'"]
    else:
        attacks = ["SELECT 1; INSERT INTO audit VALUES ('control')", f"SELECT 1 --1 INTO OUTFILE '{target.file()}'"]
    try:
        unprotected(target.db.admin, server, attacks)
        tables, files = target.state()
        assert tables != target.baseline and len(files) == 1
    finally:
        run(target.db.admin, ["DELETE FROM audit WHERE note = 'control'"])
        for name in os.listdir(target.files):
            (target.files / name).unlink()
    target.assert_untouched()


def test_a_sync_refuses_a_source_whose_role_can_write(target, tmp_path):
    """Layer 3 at sync time: the admin role is refused unless the source says allow_write_privileges."""
    query = Query.of("mes", SqlQuery(source="mes", sql="SELECT SUM(produced) FROM production"))
    with pytest.raises(SourceError, match="refused to query: role .* (superuser|ALL PRIVILEGES).*allow_write_privileges: true"):
        connector(target.db.admin, tmp_path).fetch([query], Q4, NOW)
    allowed = connector(target.db.admin, tmp_path, allow_write=True)
    assert allowed.fetch([query], Q4, NOW)[query].value == 3000
    allowed.close()
    reader = connector(target.db.reader, tmp_path)
    assert reader.fetch([query], Q4, NOW)[query].value == 3000
    reader.close()


# ---- fuzz: generated combinations of comment styles, quotes, escapes, semicolons and keywords -----------------

HIDERS = [
    ("-- ", "\n"), ("--", "\n"), ("#", "\n"), ("/* ", " */"), ("/*!", "*/"), ("/*!50000 ", "*/"), ("/*M!", "*/"),
    ("/* /* ", " */ */"), ("'", "'"), ("'\\'", " --'"), ("'a'' ", " --'"), ('"', '"'), ('"\\"', ' --"'), ("`", "`"),
    ("$$", "$$"), ("$t$", "$t$"), ("$t$ $u$", "$t$"), ("a$t$", "$t$"), ("E'\\'", " --'"), ("", ""), ("\\", ""), ("(", ")"),
    ("U&'", "'"), ('U&"', '"'), ("`\\`", " --`"), ("N'\\'", " --'"), ("X'", "'"), ("[", "]"), ("-- \x0b", "\n"), ("--\r", ""),
]
SEPARATORS = [";", "; ", ";\n", " ", "\n"]
PAYLOADS = {
    "postgresql": ["DELETE FROM production", "UPDATE production SET defects = 0", "INSERT INTO audit VALUES ('fuzz')",
                   "DROP TABLE audit", "COMMIT; BEGIN READ WRITE; DELETE FROM production", "SET TRANSACTION READ WRITE",
                   "COPY (SELECT 1) TO '{file}'", "SELECT lo_export(lo_from_bytea(0, 'x'), '{file}')", "TRUNCATE audit",
                   "CREATE TABLE fuzz (a int)"],
    "mariadb": ["DELETE FROM production", "UPDATE production SET defects = 0", "INSERT INTO audit VALUES ('fuzz')",
                "DROP TABLE audit", "COMMIT; SET SESSION TRANSACTION READ WRITE; DELETE FROM production",
                "INTO OUTFILE '{file}'", "SELECT 1 INTO DUMPFILE '{file}'", "TRUNCATE audit", "CREATE TABLE fuzz (a int)",
                "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'"],
}


def fuzz_texts(server: str) -> list[str]:
    texts = []
    for opening, closing in HIDERS:
        for separator in SEPARATORS:
            for payload in PAYLOADS[server]:
                texts.append(f"SELECT COUNT(*) FROM production {opening}{separator}{payload}{closing}")
    return texts


def test_fuzz_no_generated_text_changes_data_or_writes_a_file_with_any_two_layers(target, tmp_path):
    server = target.db.server
    texts = [t.replace("{file}", target.file()) for t in fuzz_texts(server)]
    accepted: dict[str, str] = {}
    for text in texts:
        try:
            accepted[text] = guard_sql(text, server)
        except ReadOnlyViolation as exc:
            assert "\n" not in str(exc) and str(exc), text
    # layers 1 + 2, with a role that may write: what passes the check runs through the read-only session
    admin = connector(target.db.admin, tmp_path, allow_write=True)
    queries = [Query.of("mes", SqlQuery.model_construct(source="mes", sql=text, series=False)) for text in accepted]
    admin.fetch(queries, Q4, NOW)
    admin.close()
    target.assert_untouched()
    # layers 2 + 3, no check: every text, raw, as the reader through the read-only session
    reader = connector(target.db.reader, tmp_path)
    with reader.connect() as connection:
        for text in texts:
            try:
                reader._execute(connection, text, {}, 2)
            except Exception:  # noqa: BLE001
                pass
    reader.close()
    target.assert_untouched()
    # layers 1 + 3, no server session: what passes the check, as the reader on a plain connection
    unprotected(target.db.reader, server, list(accepted.values()))
    target.assert_untouched()
    version = str(scalar(target.db.admin, "SELECT VERSION()")).split(" on ")[0]
    conftest.FUZZ_REPORT.append(f"{server}: {len(texts)} generated texts ({len(texts) - len(accepted)} refused by the check, "
                                f"{len(accepted)} harmless ones run) against {version}: no row changed, no file written")
    assert len(texts) >= 500 and len(accepted) > 0
