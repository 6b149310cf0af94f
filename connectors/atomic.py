"""Local output files written atomically, with the permissions any new file of the user gets.

A file is written under a temporary name next to its destination and renamed into place, so a reader
(or a crash) never sees half a file. The temporary file is created with the process umask applied
(like `open(path, "w")`), not `mkstemp`'s 0600, so a workbook people share stays readable by them.
Temporary files of ours that a crash left behind (older than `STALE_AFTER_SECONDS`) are removed by the
next write to the same folder.
"""
from __future__ import annotations

import os
import secrets
import time
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from mapping.errors import OkrSyncError

TEMP_MARK = ".okr-sync-tmp-"  # every temporary output file's name starts with "." + stem + this mark
STALE_AFTER_SECONDS = 3600


class OutputError(OkrSyncError):
    """An output could not be written; the previous version was left in place."""

    exit_code = 3


def temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}{TEMP_MARK}{secrets.token_hex(4)}")


def remove_stale_temps(folder: Path, now: float | None = None) -> list[Path]:
    """Delete our temporary files in `folder` older than STALE_AFTER_SECONDS (a crashed writer's leftovers)."""
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(".") and TEMP_MARK in entry.name and entry.is_file(follow_symlinks=False):
            try:
                if now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_SECONDS:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
            except OSError:
                continue
    return removed


@contextmanager
def atomic_output(path: Path | str, what: str = "output") -> Iterator[BinaryIO]:
    """Yield a binary file to write; on success it replaces `path` (mode 0666 minus the umask), else nothing changes.

    Errors become OutputError naming the file and what to do; the temporary file never stays behind.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path.parent)
        temp = temp_name(path)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for any new file
    except OSError as exc:
        raise OutputError(f"cannot write {what} {path}: {exc.strerror}; check the output path and permissions") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        if path.exists() and not path.is_symlink():
            # keep the permissions someone gave the existing file (a chmod 0644 / 0640 stays)
            os.chmod(temp, path.stat().st_mode & 0o7777)
        os.replace(temp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {what} {path}: {exc.strerror}; the previous file was left unchanged") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
