"""Decide whether a SQL text from a config is one read-only query, parsed with the rules of its own database.

The SQL in `okrs.yaml` comes from a merge request, so it is untrusted. A generic tokenizer is not
enough: comment and string rules differ per database (PostgreSQL treats `#` as an operator and `\\`
as a plain character in '...'; MySQL/MariaDB *execute* `/*! ... */` and treat `--x` as code). So
the text is tokenised and parsed by sqlglot in the source's own dialect and refused unless it is
exactly one SELECT / WITH ... SELECT / UNION of those, with no data-changing, locking, transaction or
session statement anywhere in its tree and no call of a server function that touches files, runs
programs, opens connections or changes settings.

What is sent to the server is rebuilt from the very tokens that were checked, with every comment
removed: whatever the server's comment rules, it never runs text the check took for a comment.
This is the first of three layers; the connector adds the server's own refusals (one statement per
call, read-only transactions) and a check of the role's privileges.
"""
from __future__ import annotations

import logging
import re
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, Iterable

# The `dialect:` values a sql source accepts (SQLAlchemy backend names) -> sqlglot dialect.
DIALECTS: dict[str, str] = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite", "mssql": "tsql"}
LABELS: dict[str, str] = {"postgres": "PostgreSQL", "mysql": "MySQL/MariaDB", "sqlite": "SQLite", "tsql": "SQL Server"}
ALL_DIALECTS: tuple[str, ...] = ("postgres", "mysql", "sqlite", "tsql")


class ReadOnlyViolation(ValueError):
    """A SQL text that is not exactly one read-only query; the message names the construct (one line)."""


# Statement and clause nodes that never belong in a read-only query, wherever they sit in the tree.
_FORBIDDEN_NODES: dict[str, str] = {
    "DML": "a data-changing statement", "DDL": "a schema-changing statement",
    "Insert": "INSERT", "Update": "UPDATE", "Delete": "DELETE", "Merge": "MERGE", "Create": "CREATE", "Drop": "DROP",
    "Alter": "ALTER", "TruncateTable": "TRUNCATE", "Command": "a statement okr-sync does not run", "Transaction": "BEGIN/START TRANSACTION",
    "Commit": "COMMIT", "Rollback": "ROLLBACK", "Set": "SET", "SetItem": "SET", "Use": "USE", "Pragma": "PRAGMA", "Copy": "COPY",
    "LoadData": "LOAD DATA", "Into": "INTO", "Lock": "a locking clause (FOR UPDATE/SHARE, LOCK IN SHARE MODE)",
    "Attach": "ATTACH", "Detach": "DETACH", "Grant": "GRANT", "Revoke": "REVOKE", "Analyze": "ANALYZE", "Kill": "KILL",
    "Execute": "EXECUTE", "Describe": "DESCRIBE", "Show": "SHOW", "Cache": "CACHE", "Uncache": "UNCACHE", "Refresh": "REFRESH",
    "Declare": "DECLARE",
}

# Unquoted words that only appear in statements that write, lock, leave the transaction or change the
# session. A column named like one of them must be quoted (double quotes; backticks on MySQL/MariaDB).
FORBIDDEN_WORDS = frozenset({
    "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "INTO", "OUTFILE", "DUMPFILE", "COPY", "GRANT", "REVOKE", "CREATE",
    "DROP", "ALTER", "TRUNCATE", "RENAME", "COMMIT", "ROLLBACK", "SAVEPOINT", "BEGIN", "LOCK", "UNLOCK", "CALL", "EXEC",
    "EXECUTE", "ATTACH", "DETACH", "PRAGMA", "VACUUM", "REINDEX", "CLUSTER", "HANDLER", "SET", "RESET", "DISCARD",
    "LISTEN", "NOTIFY", "UNLISTEN", "PREPARE", "DEALLOCATE", "KILL", "SHUTDOWN", "DECLARE", "IMPORT", "INSTALL",
    "UNINSTALL", "FLUSH", "PURGE", "OPTIMIZE", "REPAIR",
})

# Server functions that read or write files, run programs, open connections, take locks, send
# signals or change settings, per dialect: exact names and name prefixes (lower case).
DENIED_FUNCTIONS: dict[str, frozenset[str]] = {
    "postgres": frozenset({
        "pg_read_file", "pg_read_binary_file", "pg_stat_file", "pg_file_write", "pg_file_rename", "pg_file_unlink",
        "pg_file_sync", "pg_logdir_ls", "pg_reload_conf", "pg_rotate_logfile", "pg_terminate_backend", "pg_cancel_backend",
        "pg_promote", "pg_switch_wal", "pg_switch_xlog", "pg_create_restore_point", "pg_backup_start", "pg_backup_stop",
        "pg_start_backup", "pg_stop_backup", "pg_notify", "pg_import_system_collations", "pg_log_backend_memory_contexts",
        "set_config", "nextval", "setval", "query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema",
        "cursor_to_xml", "cursor_to_xmlschema", "table_to_xml", "table_to_xmlschema", "table_to_xml_and_xmlschema",
        "schema_to_xml", "schema_to_xmlschema", "schema_to_xml_and_xmlschema", "database_to_xml", "database_to_xmlschema",
        "database_to_xml_and_xmlschema", "brin_summarize_new_values", "brin_summarize_range", "brin_desummarize_range",
        "gin_clean_pending_list", "pg_prewarm", "txid_current", "pg_current_xact_id",
    }),
    "mysql": frozenset({
        "load_file", "sys_exec", "sys_eval", "sys_get", "sys_set", "get_lock", "release_lock", "release_all_locks",
        "is_free_lock", "is_used_lock", "master_pos_wait", "source_pos_wait", "master_gtid_wait", "nextval", "setval",
        "lastval", "benchmark",
    }),
    "sqlite": frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "fsdir", "zipfile", "sqlite_dbpage"}),
    "tsql": frozenset({"openrowset", "opendatasource", "openquery", "fn_xe_file_target_read_file", "fn_get_audit_file",
                       "fn_trace_gettable", "fn_dblog", "fn_dump_dblog"}),
}
DENIED_PREFIXES: dict[str, tuple[str, ...]] = {
    "postgres": ("lo_", "dblink", "pg_ls_", "pg_read_", "pg_file_", "pg_advisory", "pg_try_advisory", "pg_logical_",
                 "pg_replication_", "pg_create_", "pg_drop_", "pg_copy_", "pg_stat_reset", "pg_wal_replay_", "binary_upgrade_"),
    "mysql": ("sys_", "lib_mysqludf"),
    "sqlite": (),
    "tsql": ("xp_", "sp_"),
}

_QUOTED_TOKENS = ("STRING", "IDENTIFIER", "HEREDOC_STRING", "BYTE_STRING", "NATIONAL_STRING", "RAW_STRING", "BIT_STRING",
                  "HEX_STRING", "UNICODE_STRING")


@lru_cache(maxsize=1)
def sqlglot() -> SimpleNamespace:
    """sqlglot, imported on first use (loading a config without SQL, or `--help`, does not pay for it)."""
    from sqlglot import exp
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import ParseError, TokenError
    from sqlglot.tokens import TokenType

    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its "falling back to Command" warnings are refusals here
    quoted = frozenset(getattr(TokenType, name) for name in _QUOTED_TOKENS)
    return SimpleNamespace(exp=exp, Dialect=Dialect, ParseError=ParseError, TokenError=TokenError, T=TokenType, quoted=quoted,
                           literals=quoted - {TokenType.IDENTIFIER},
                           forbidden=tuple((getattr(exp, name), what) for name, what in _FORBIDDEN_NODES.items()))
_EXECUTABLE_COMMENT = re.compile(r"/\*\s*(M?!|\+)")


def sqlglot_dialect(name: str) -> str:
    """The sqlglot dialect of a `dialect:` value or SQLAlchemy backend name; ReadOnlyViolation if okr-sync has no parser for it."""
    if name in DIALECTS:
        return DIALECTS[name]
    if name in ALL_DIALECTS:
        return name
    raise ReadOnlyViolation(f"cannot be checked: okr-sync reads only {', '.join(sorted(DIALECTS))} databases ({name!r} is not one)")


def guard_sql_any(sql: str, dialects: Iterable[str] = ALL_DIALECTS) -> None:
    """Check `sql` for every dialect (when the source's database is not known yet): it must pass each."""
    for dialect in dialects:
        try:
            guard_sql(sql, dialect)
        except ReadOnlyViolation as exc:
            raise ReadOnlyViolation(f"{exc} (checked as {LABELS[dialect]} because the source's database is unknown here: "
                                    "set dialect: on the source, or the env var holding its URL)") from None


@lru_cache(maxsize=8192)
def guard_sql(sql: str, dialect: str) -> str:
    """Raise ReadOnlyViolation unless `sql` is one read-only query in `dialect`; return the text to send.

    The returned text is the checked tokens exactly as written, with comments removed and a trailing
    `;` dropped. Cached per (text, dialect): many KRs share a query and parsing is the slow part of
    loading a large config.
    """
    dialect = sqlglot_dialect(dialect)
    label = LABELS[dialect]
    if "\x00" in sql:
        raise ReadOnlyViolation("contains a NUL character; remove it")
    g = sqlglot()
    engine = g.Dialect.get_or_raise(dialect)
    try:
        tokens = engine.tokenize(sql)
    except g.TokenError as exc:
        raise ReadOnlyViolation(f"cannot be read as {label} SQL ({_one_line(exc)}); check quotes and comments") from None
    if not tokens:
        raise ReadOnlyViolation("is empty; write one SELECT statement")
    text = _rebuild(sql, tokens)
    semicolons = [i for i, t in enumerate(tokens) if t.token_type == g.T.SEMICOLON]
    if semicolons and semicolons != [len(tokens) - 1]:
        raise ReadOnlyViolation(f"holds {len([i for i in semicolons if i < len(tokens) - 1]) + 1} statements; "
                                "write exactly one SELECT (no ';' between statements)")
    first = next((t for t in tokens if t.token_type != g.T.L_PAREN), tokens[0])
    if first.token_type not in (g.T.SELECT, g.T.WITH):
        raise ReadOnlyViolation(f"starts with {first.text!r}; only a read-only SELECT or WITH ... SELECT may run")
    _check_tokens(tokens, dialect)
    try:
        statements = [s for s in engine.parser().parse(tokens, sql) if s is not None]
        if len(statements) != 1:
            raise ReadOnlyViolation(f"holds {len(statements)} statements; write exactly one SELECT")
        _check_tree(statements[0])
    except ReadOnlyViolation:
        raise
    except g.ParseError as exc:
        raise ReadOnlyViolation(f"cannot be parsed as {label} SQL: {_one_line(exc)}") from None
    except RecursionError:  # sqlglot's parser recurses per parenthesis: ~50 nested levels exhaust Python's stack
        raise ReadOnlyViolation("is nested too deeply to check; simplify the query") from None
    except Exception as exc:  # fail closed: a query the parser chokes on is refused, never waved through
        raise ReadOnlyViolation(f"cannot be checked as {label} SQL ({type(exc).__name__}: {_one_line(exc)}); simplify the query") from None
    return text


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


def _rebuild(sql: str, tokens: list[Any]) -> str:
    """The tokens as written, joined by the whitespace between them; a gap holding a comment becomes one space."""
    parts: list[str] = []
    end = 0
    for token in tokens:
        gap = sql[end:token.start]
        _refuse_executable_comment(gap)
        parts.append(gap if not gap.strip() else " ")
        span = sql[token.start:token.end + 1]
        if token.token_type not in sqlglot().quoted and " ".join(span.split()).upper() != " ".join(token.text.split()).upper():
            raise ReadOnlyViolation(f"has text the parser cannot place around {token.text!r}; remove comments inside keywords")
        parts.append(span)
        end = token.end + 1
    _refuse_executable_comment(sql[end:])
    if tokens[-1].token_type == sqlglot().T.SEMICOLON:
        parts.pop()
    return "".join(parts).strip()


def _refuse_executable_comment(text: str) -> None:
    if _EXECUTABLE_COMMENT.search(text):
        raise ReadOnlyViolation("contains an executable or hint comment (/*! ... */, /*M! ... */, /*+ ... */): "
                                "MySQL/MariaDB would run its content; remove it")


def _check_tokens(tokens: list[Any], dialect: str) -> None:
    """Refuse unquoted write/session words and calls of denied server functions (quoted names included)."""
    names, prefixes = DENIED_FUNCTIONS[dialect], DENIED_PREFIXES[dialect]
    g = sqlglot()
    for i, token in enumerate(tokens):
        if token.token_type in g.literals:
            continue
        word = token.text.upper()
        if token.token_type != g.T.IDENTIFIER and word in FORBIDDEN_WORDS:
            raise ReadOnlyViolation(f"contains {word} (the query must only read; quote a column of that name: "
                                    + ("`name` on MySQL/MariaDB)" if dialect == "mysql" else '"name")'))
        following = tokens[i + 1].token_type if i + 1 < len(tokens) else None
        if dialect == "postgres" and word == "U" and following == g.T.AMP and tokens[i + 1].start == token.end + 1:
            raise ReadOnlyViolation("uses a Unicode-escaped name or string (U&\"...\", U&'...'); write the characters themselves")
        lower = token.text.lower()
        if following == g.T.L_PAREN and (lower in names or lower.startswith(prefixes)):
            raise ReadOnlyViolation(f"calls {token.text}(), a server function that can touch files, programs, connections, "
                                    "locks or settings; compute the KR from table data")


def _check_tree(statement: Any) -> None:
    """One query at the root; no statement, INTO or locking node anywhere below it (CTEs and subqueries included)."""
    root = statement
    exp = sqlglot().exp
    while isinstance(root, (exp.Subquery, exp.Paren)):
        root = root.this
    if not isinstance(root, (exp.Select, exp.SetOperation)):
        raise ReadOnlyViolation(f"is a {type(root).__name__.upper()} statement; only a read-only SELECT or WITH ... SELECT may run")
    for node in statement.walk():
        for node_type, what in sqlglot().forbidden:
            if isinstance(node, node_type):
                raise ReadOnlyViolation(f"contains {what} (the query must only read)")
