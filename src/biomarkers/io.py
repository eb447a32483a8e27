"""File I/O at the edges: atomic writes and staged output folders.

Nothing a step writes is visible under its final name until it is complete: files
are written under a temporary name in the same folder and renamed, and a step's
whole output folder is staged and moved into place only when every file is done.

Outputs are for the trial's team, not the machine's other users: files are made
0640 and the folders this module creates 0750, whatever the umask (issue 15).
Strings that a spreadsheet would run as a formula are escaped by :func:`spreadsheet_safe`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Hashable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from .errors import InputError

__all__ = ["FILE_MODE", "DIR_MODE", "atomic_path", "staged_dir", "sha256_file", "write_text_atomic", "read_csv_rows",
           "make_dirs", "spreadsheet_safe", "load_once"]

T = TypeVar("T")

FILE_MODE = 0o640
DIR_MODE = 0o750
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def spreadsheet_safe(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would take it for a formula (OWASP CSV injection).

    Cells starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return are
    escaped; plain numbers ("-80", "-3.5") are left as they are.
    """
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def make_dirs(path: str | Path) -> Path:
    """``mkdir -p`` whose new folders are 0750 whatever the umask (existing ones are left alone)."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    for folder in missing:
        with contextlib.suppress(OSError):  # another process may own it
            os.chmod(folder, DIR_MODE)
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; outputs are for the owner and the group (the trial team), whatever the umask.
        if tmp_path.exists():
            os.chmod(tmp_path, FILE_MODE)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextlib.contextmanager
def staged_dir(final_dir: str | Path, *, replace: Iterable[str] = ()) -> Iterator[Path]:
    """Yield an empty staging folder; on success move its files into ``final_dir``.

    Files already in ``final_dir`` that the step did not write are left alone, files
    it did write are replaced. The sub-folders named in ``replace`` (relative to
    ``final_dir``: a partitioned dataset) are replaced whole, so that no file of an
    earlier run stays among the new ones. On failure the staging folder is deleted and
    ``final_dir`` is exactly as it was: a failed step leaves no partial output.
    """
    final_dir = Path(final_dir)
    make_dirs(final_dir.parent)
    stage = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.staging.", dir=final_dir.parent))
    replaced = stage.with_name(stage.name.replace(".staging.", ".replaced."))
    try:
        yield stage
        make_dirs(final_dir)
        for i, rel in enumerate(replace):
            old = final_dir / rel
            if old.is_dir() and (stage / rel).is_dir():
                replaced.mkdir(exist_ok=True)
                os.replace(old, replaced / str(i))  # deleted below, with the stage
        for src in sorted(stage.rglob("*")):
            if src.is_dir():
                continue
            dest = final_dir / src.relative_to(stage)
            make_dirs(dest.parent)
            if not src.is_symlink():
                os.chmod(src, FILE_MODE)
            os.replace(src, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        shutil.rmtree(replaced, ignore_errors=True)


# (loader, file, modification time, size, tag) -> what the loader made of the file.
_LOADED: dict[tuple, Any] = {}


def load_once(path: str | Path, load: Callable[..., T], *tag: Hashable) -> T:
    """``load(path, *tag)``, kept for this process while the file is unchanged (same modification
    time and size): a worker runs many per-specimen tasks that read the same protocol, settings
    and counts files. A file that cannot be stat'ed is not kept (``load`` names the problem). The
    same object comes back each time: a caller whose result may be changed returns a copy."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return load(path, *tag)
    key = (load, str(path.resolve()), stat.st_mtime_ns, stat.st_size, *tag)
    if key not in _LOADED:
        _LOADED[key] = load(path, *tag)
    return _LOADED[key]


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_csv_rows(path: str | Path, *, what: str, required: Iterable[str], known: Iterable[str],
                  known_from: str) -> list[dict[str, str]]:
    """Rows of a CSV whose header is checked against a schema's columns; one-line errors.

    ``what`` names the file in messages ("samplesheet"), ``known_from`` where the
    allowed columns are declared. A byte-order mark (Excel's CSV) is accepted.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            rows = list(reader)
    except FileNotFoundError:
        raise InputError(f"{what} not found", file=path) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"not a readable CSV file: {exc}", file=path) from None
    if not header:
        raise InputError(f"empty {what} (no header line)", file=path)
    for col in required:
        if col not in header:
            raise InputError("required column is missing from the header", file=path, row="line 1", field=col)
    known = list(known)
    unknown = [c for c in header if c not in known]
    if unknown:
        raise InputError(f"unknown column (not in {known_from})", file=path, row="line 1", field=unknown[0])
    return rows

