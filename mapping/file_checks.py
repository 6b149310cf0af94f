"""Config checks that look at URLs and files: the history URL's shape, and that no output overwrites a file okr-sync
reads or keeps (the config, the history database, a source's data). The only I/O is resolving and stat-ing paths."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import unquote

from mapping.config import Config


def as_dict(value: Any) -> dict:
    """`value` when it is a mapping, else {} (a config being validated may hold anything anywhere)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    """`value` when it is a list, else []."""
    return value if isinstance(value, list) else []


# dialect[+driver]://...: the shape of a SQLAlchemy URL, checked without importing SQLAlchemy (a third of a second at start-up)
_SQLALCHEMY_URL = re.compile(r"^[A-Za-z]\w*(?:\+\w+)?://", re.S)
_SQLITE_URL = re.compile(r"^sqlite(?:\+\w+)?://(?P<rest>[^?]*)", re.S | re.I)
URL_HINT = "write e.g. sqlite:///.okr-sync/history.db (a file next to the config) or postgresql+psycopg://user@host/db"


def sqlite_file(url: str) -> str | None:
    """The database file a sqlite URL names, as written ("sqlite:///data/mes.db" -> "data/mes.db");
    "" for an in-memory database (sqlite://, sqlite:///:memory:); None for any other URL or a file: URI."""
    match = _SQLITE_URL.match(url.strip())
    if match is None:
        return None
    rest = match["rest"]
    database = unquote(rest.split("/", 1)[1]) if "/" in rest else ""  # after the (ignored) host, as SQLAlchemy reads it
    if database.startswith("file:"):
        return None
    return "" if database in ("", ":memory:") else database


def check_history(data: dict, out: Any, env: Mapping[str, str]) -> None:
    """`history` (and the URL in `history_env`, when set) is a SQLAlchemy URL of a database that keeps what is recorded."""
    var = data.get("history_env")
    candidates = [(("history",), data.get("history"), f"history {data.get('history')!r}")]
    if isinstance(var, str) and env.get(var):
        candidates.append((("history_env",), env[var], f"the URL in {var}"))  # never shown: it may hold a password
    for path, url, what in candidates:
        if not isinstance(url, str):
            continue
        if not _SQLALCHEMY_URL.match(url.strip()):
            out.add(path, f"{what} is not a SQLAlchemy URL (dialect[+driver]://...)", URL_HINT)
        elif sqlite_file(url) == "":
            out.add(path, f"{what} is an in-memory SQLite database: the history would be discarded at the end of every run",
                    "use a file, e.g. sqlite:///.okr-sync/history.db")


def check_output_paths(data: dict, file: Path, out: Any, env: Mapping[str, str]) -> None:
    """No output file may be a file okr-sync reads or keeps: the config itself, the history database, a file
    source's data, a SQLite source's database, or another output's file (a sync would overwrite it).

    Paths are resolved like the connectors resolve them, relative to the config's folder (symlinks and hard
    links followed); a URL held in an env var is checked when the variable is set, a Prefect Secret never.
    """
    def place(value: str) -> Path:
        path = Path(value).expanduser()
        return (path if path.is_absolute() else file.parent / path).resolve()

    def identity(path: Path) -> tuple:
        try:
            stat = path.stat()
        except OSError:
            return ("path", str(path))
        return ("file", stat.st_dev, stat.st_ino)

    taken: dict[tuple, str] = {identity(file.resolve()): "the config file itself"}
    history = None if data.get("history_secret") else data.get("history", Config.model_fields["history"].default)
    if isinstance(data.get("history_env"), str):
        history = env.get(data["history_env"])
    database = sqlite_file(history) if isinstance(history, str) else None
    if database:
        taken[identity(place(database))] = "the history database"
    for name, raw in as_dict(data.get("sources")).items():
        raw = as_dict(raw)
        if raw.get("kind") == "file" and isinstance(raw.get("path"), str):
            taken.setdefault(identity(place(raw["path"])), f"the data file of source {name!r}")
        elif raw.get("kind") == "sql":
            url = raw.get("url") or (env.get(raw["url_env"]) if isinstance(raw.get("url_env"), str) else None)
            database = sqlite_file(url) if isinstance(url, str) else None
            if database:
                taken.setdefault(identity(place(database)), f"the database of source {name!r}")
    files: list[tuple[Path, tuple, str]] = []  # every output file: where, its key path, what it is
    for index, output in enumerate(as_list(data.get("outputs"))):
        output = as_dict(output)
        if output.get("kind") not in ("xlsx", "html") or not isinstance(output.get("path"), str):
            continue
        folder = _not_a_file(output["path"], place(output["path"]) if output["path"].strip() else file.parent)
        if folder:
            out.add(("outputs", index, "path"), f"output path {output['path']!r} {folder}",
                    f"name the file to write, e.g. out/okr-summary.{output['kind']}")
            continue
        written = [("path", output["path"], f"output path {output['path']}", f"also the path of outputs[{index}]")]
        if output["kind"] == "xlsx":  # its check-in and review workbook (flows.checkin)
            if isinstance(output.get("checkin_path"), str):
                written.append(("checkin_path", output["checkin_path"], f"check-in workbook {output['checkin_path']}",
                                f"also the check-in workbook of outputs[{index}]"))
            else:
                default = Path(output["path"]).with_name(f"{Path(output['path']).stem}-checkins.xlsx")
                written.append(("path", str(default), f"the check-in workbook of output path {output['path']} ({default})",
                                f"also the check-in workbook of outputs[{index}]"))
        for key, value, what, label in written:
            found = identity(place(value))
            if found in taken:
                out.add(("outputs", index, key), f"{what} is {taken[found]}", "write the output elsewhere")
            else:
                taken[found] = label
                files.append((place(value), ("outputs", index, key), what))
    for where, path, what in files:  # out/report.html as a file and out/report.html/x.xlsx cannot both be written
        inside = next((other_what for other, _, other_what in files if other != where and other.is_relative_to(where)), None)
        if inside:
            out.add(path, f"{what} is the folder of {inside}", "write the outputs to separate files")


def _not_a_file(value: str, where: Path) -> str:
    """Why an output path cannot be a file to write ("" when it can): it names a folder, or one is there."""
    if not value.strip() or value.rstrip().endswith(("/", "\\")) or Path(value).name in ("", ".", ".."):
        return "names a folder, not a file"
    if where.is_dir():
        return "is an existing folder"
    blocking = next((parent for parent in where.parents if parent.exists()), None)
    if blocking is not None and not blocking.is_dir():
        return f"is inside {blocking}, which is a file"
    return ""
