"""The run manifest, ``pipeline_info/run.json``: is a results folder complete?

A run writes ``{"status": "running"}`` before its first step and, last of all, the
complete manifest: ``status: complete``, the steps, and the SHA-256 of every file the
folder holds (files inside partitioned datasets included). A run that was killed leaves
``running`` (or, from before manifests, nothing), so ``analysis`` and ``report`` can
refuse a folder whose tables may be half of a run, unless told otherwise.

Staging left by a killed run (hidden ``.<name>.staging.*`` and ``.<step>-parts.*``
folders, ``.<name>.*.tmp`` files) is removed when the next run starts in the folder.
One run at a time writes a folder: a run holds an exclusive ``flock`` on it, and a
second run into the same folder is refused before it touches anything: it would
otherwise take the first one's staging for a killed run's and remove it, and
interleave their tables.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import InputError
from .io import sha256_file, write_text_atomic

__all__ = ["MANIFEST", "exclusive_run", "start_run", "finish_run", "output_hashes", "clean_stale_staging", "check_complete",
           "read_manifest", "run_outputs"]

MANIFEST = "pipeline_info/run.json"
# What io.staged_dir, io.atomic_path and the steps' part folders leave when killed.
_STAGING_DIR = re.compile(r"^\..+\.staging\..+$|^\.[a-z]+-parts\..+$")
_TEMP_FILE = re.compile(r"^\..+\.tmp$")


@contextmanager
def exclusive_run(outdir: str | Path) -> Iterator[None]:
    """Hold ``outdir``'s run lock while the block runs; refuse (InputError) if another process holds it.

    The lock is an exclusive ``flock`` on the folder itself: no file is added to the outputs, and the
    system releases it when the process ends, however it ends.
    """
    fd = os.open(outdir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError("another biomarkers run is writing to this folder; wait for it to finish or choose "
                             "another --outdir", file=outdir) from None
        yield
    finally:
        os.close(fd)


def clean_stale_staging(outdir: str | Path) -> list[Path]:
    """Remove staging folders and temporary files a killed run left under ``outdir``; return them."""
    outdir = Path(outdir)
    removed: list[Path] = []
    if not outdir.is_dir():
        return removed
    stack = [outdir]
    while stack:
        folder = stack.pop()
        for entry in sorted(folder.iterdir()):
            if entry.is_symlink():
                continue
            if entry.is_dir() and _STAGING_DIR.match(entry.name):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
            elif entry.is_dir():
                stack.append(entry)
            elif _TEMP_FILE.match(entry.name):
                entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


def start_run(outdir: str | Path, engine: str) -> Path:
    """Mark ``outdir`` as being written: a complete manifest from an earlier run no longer holds."""
    return write_text_atomic(Path(outdir) / MANIFEST, _dumps({"status": "running", "engine": engine}))


def output_hashes(outdir: str | Path, *, inputs: Iterable[str | Path] = ()) -> dict[str, str]:
    """SHA-256 of every file under ``outdir`` (relative POSIX path -> hex); links are followed (Nextflow
    publishes links with some modes). Not outputs, so not listed: the manifest itself, hidden entries,
    the run's ``inputs`` (a ledger the run appends to; hashed in ``inputs.parquet``), and a top-level
    folder that holds inputs and is not one the steps write (a demo's ``simulated_trial/``)."""
    from .schemas import TABLES

    outdir = Path(outdir).resolve()
    skipped = {Path(p).resolve() for p in inputs}
    written = {Path(t.path).parts[0] for t in TABLES.values()} | {"report"}
    input_folders = {p.relative_to(outdir).parts[0] for p in skipped if p.is_relative_to(outdir) and
                     len(p.relative_to(outdir).parts) > 1} - written
    hashes: dict[str, str] = {}
    for path in sorted(outdir.rglob("*")):
        rel = path.relative_to(outdir)
        if rel.as_posix() == MANIFEST or any(part.startswith(".") for part in rel.parts) or not path.is_file() \
                or rel.parts[0] in input_folders or path.resolve() in skipped:
            continue
        hashes[rel.as_posix()] = sha256_file(path)
    return hashes


def finish_run(outdir: str | Path, info: dict[str, Any], *, inputs: Iterable[str | Path] = ()) -> Path:
    """Write the complete manifest, last: ``info`` plus the hash of every output (``inputs`` excluded)."""
    outdir = Path(outdir)
    manifest = {**info, "status": "complete", "outputs": output_hashes(outdir, inputs=inputs)}
    return write_text_atomic(outdir / MANIFEST, _dumps(manifest))


def read_manifest(results: str | Path) -> dict[str, Any] | None:
    path = Path(results) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError("not a JSON run manifest (damaged?)", file=path) from None
    if not isinstance(data, dict):
        raise InputError("not a JSON run manifest (damaged?)", file=path)
    return data


def run_outputs(results: str | Path) -> list[Path]:
    """Declared tables of the steps before analysis (files, or partitioned datasets) present under ``results``."""
    from .schemas import TABLES

    found = []
    for tbl in TABLES.values():
        if tbl.name.startswith(("analysis.", "pipeline.")):
            continue
        path = Path(results) / tbl.path
        if path.exists():
            found.append(path)
    return found


def check_complete(results: str | Path, *, allow_incomplete: bool = False) -> None:
    """Refuse a results folder whose run did not finish.

    A manifest whose status is not ``complete`` is refused. Without a manifest, a folder
    holding a declared table of the steps before analysis (custody, genomics, ...) is
    refused: a killed run leaves complete-looking tables and no other mark. A folder
    with none (absent, or only ``analysis/``, ``report/``, other files) passes: there is
    nothing half-written to read. ``allow_incomplete`` skips the check (a user who knows;
    Nextflow's staged task outputs, which are complete by construction).
    """
    results = Path(results)
    if allow_incomplete or not results.is_dir():
        return
    hint = "rerun the pipeline into it, or pass --allow-incomplete to read it anyway"
    manifest = read_manifest(results)
    if manifest is None:
        if run_outputs(results):
            raise InputError(f"results folder has no run manifest ({MANIFEST}): the run that wrote it did not finish; "
                             f"{hint}", file=results)
        return
    if manifest.get("status") != "complete":
        raise InputError(f"the run that wrote this results folder did not finish ({MANIFEST} status "
                         f"{manifest.get('status')!r}); {hint}", file=results)


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
