"""``pipeline_info/``: what a run ran with (issue 12's provenance) and the manifest of what it wrote.

- ``software_versions.yml``: biomarkers, Python, and every installed distribution;
- ``params.json``: the parameters after defaults, params file and command line;
- ``inputs.parquet`` (``pipeline.inputs``): SHA-256 of every input file: each file
  parameter, each file a glob parameter matches, each samplesheet file and index, and
  whatever a step recorded as read;
- ``run.json``: ``running`` while the steps run; written last with ``complete``, the
  steps' status and the SHA-256 of every output (:mod:`biomarkers.manifest`).

The first three are written before the first step, so the report (a step) shows them,
and rewritten at the end with any input a step recorded.

Under Nextflow the same three files come from the same functions: VALIDATE lists the inputs
(``validation/inputs.csv``, :func:`listed_inputs`), one INPUT_FILE task per listed file hashes
its staged copy (:func:`hash_staged_file`), and PROVENANCE writes ``pipeline_info/`` from the
sorted lines (:func:`write_staged_provenance`), which REPORT stages as ``pipeline_info/``.
"""

from __future__ import annotations

import glob
import json
import platform
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, distributions, version
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from .. import __version__
from .. import names as N
from ..errors import InputError
from ..io import sha256_file, write_text_atomic
from ..schemas import write_table
from ._context import RunContext
from ._params import load_params, param_specs

__all__ = ["software_versions", "listed_inputs", "expand_inputs", "record_run_inputs", "write_provenance",
           "file_hash", "write_provenance_files", "hash_staged_file", "read_hash_lines",
           "write_staged_provenance", "ENGINE"]

ENGINE = "biomarkers run (embedded, in-process)"
_FILE_FORMATS = {"file-path", "path"}
_GLOB_PARAMS = ("custody_exports", "pon")


def software_versions() -> dict[str, str]:
    """biomarkers, Python and every installed distribution (name -> version), as nf-core's versions.yml."""
    versions: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata.get("Name")
        if name:
            versions.setdefault(name, dist.version)
    try:
        versions["biomarkers"] = version("biomarkers")
    except PackageNotFoundError:
        pass
    versions["biomarkers"] = __version__
    versions["python"] = platform.python_version()
    return dict(sorted(versions.items(), key=lambda kv: kv[0].lower()))


def listed_inputs(params: dict[str, Any], protocol_path: str | Path,
                  samplesheet: pd.DataFrame | None) -> list[tuple[str, str, bool]]:
    """``(role, path, is_glob)`` of every input the parameters and the samplesheet name, before any
    step runs: the protocol, each file parameter (a glob parameter as its pattern), the samplesheet,
    each row's file and index. Both engines list them here: ``biomarkers run`` expands the globs itself,
    Nextflow with its own file system (VALIDATE writes the list, ``validation/inputs.csv``)."""
    listed = [("protocol", str(protocol_path), False)]
    for name, spec in param_specs().items():
        value = params.get(name)
        if not value or name == "outdir" or spec.get("format") not in _FILE_FORMATS or "://" in str(value):
            continue
        listed.append((name, str(value), name in _GLOB_PARAMS))
    if samplesheet is not None and params.get("input"):
        listed.append(("samplesheet", str(params["input"]), False))
        for _, row in samplesheet.iterrows():
            listed.append((f"{row[N.SS_ASSAY]}:{row[N.SS_SPECIMEN]}", str(row[N.SS_FILE]), False))
            index = row.get(N.SS_INDEX)
            if isinstance(index, str) and index:
                listed.append((f"{row[N.SS_ASSAY]}:{row[N.SS_SPECIMEN]}:index", index, False))
    return listed


def expand_inputs(listed: list[tuple[str, str, bool]], matches: Callable[[str], list[str]]) -> list[tuple[str, str]]:
    """``(role, path)`` of the listed inputs, each glob replaced by the files ``matches(pattern)`` finds."""
    return [(role, match) for role, path, is_glob in listed for match in (matches(path) if is_glob else [path])]


def record_run_inputs(ctx: RunContext) -> None:
    """Record every input file the parameters and the samplesheet name (before the steps record theirs)."""
    for role, path in expand_inputs(listed_inputs(ctx.params, ctx.protocol.path, ctx.samplesheet),
                                    lambda pattern: sorted(glob.glob(pattern))):
        ctx.record_input(role, path)


def write_provenance(ctx: RunContext, hashes: dict[str, tuple[int, str]]) -> None:
    """``software_versions.yml``, ``params.json`` and ``inputs.parquet``; ``hashes`` caches (bytes, SHA-256)
    by path so that a large input is read once per run. Roles: the last one recorded for a path (a step's
    name for a file, e.g. ``msi:pon``, over the parameter's)."""
    write_provenance_files(ctx.outdir, ctx.params, ctx.inputs, hashes)


def file_hash(path: str | Path) -> tuple[int, str]:
    """(bytes, SHA-256) of a file."""
    return Path(path).stat().st_size, sha256_file(path)


def write_provenance_files(outdir: Path, params: dict[str, Any], inputs: list[tuple[str, str]],
                           hashes: dict[str, tuple[int, str]]) -> None:
    """The three files of ``pipeline_info/``, written the same way by both engines: every installed
    library's version, the parameters, and one row per input file (role, path as given, bytes,
    SHA-256). ``hashes`` holds what is already hashed (a Nextflow task's staged copy, or this run's
    earlier call); an input not in it is hashed here when it is a file here, else left out (a URL
    the run did not read)."""
    for _, path in inputs:
        if path not in hashes and Path(path).is_file():
            hashes[path] = file_hash(path)
    info = outdir / "pipeline_info"
    versions = software_versions()
    write_text_atomic(info / "software_versions.yml", "".join(f"{k}: {v}\n" for k, v in versions.items()))
    write_text_atomic(info / "params.json", json.dumps(params, indent=2, sort_keys=True, default=str) + "\n")
    roles: dict[str, str] = {}
    for role, path in inputs:
        roles[path] = role
    rows = [{"ROLE": role, "PATH": path, "BYTES": hashes[path][0], "SHA256": hashes[path][1]}
            for path, role in roles.items() if path in hashes]
    frame = pd.DataFrame(rows, columns=["ROLE", "PATH", "BYTES", "SHA256"])
    write_table(frame.sort_values(["ROLE", "PATH"]), "pipeline.inputs", outdir)


def manifest_info(status: dict[str, str]) -> dict[str, Any]:
    return {"engine": ENGINE, "steps": status}


# --- Nextflow: the same files from tasks that see the inputs staged --------------------------------
# INPUT_FILE hashes one staged input (hash_staged_file); PROVENANCE writes pipeline_info/ from the
# collected lines (write_staged_provenance), listing the inputs with listed_inputs as biomarkers run does.

def hash_staged_file(staged: str | Path, path: str, out: str | Path) -> Path:
    """``biomarkers provenance hash``: one line ``PATH<TAB>BYTES<TAB>SHA-256`` of the staged copy of ``path``
    (Nextflow stages it under another folder; the line names the path the run was given)."""
    if not Path(staged).is_file():
        raise InputError("no such file to hash", file=staged)
    if "\t" in path or "\n" in path:
        raise InputError("a path with a tab or a line break cannot be recorded", field="--as", value=path)
    size, digest = file_hash(staged)
    return write_text_atomic(out, f"{path}\t{size}\t{digest}\n")


def read_hash_lines(path: str | Path) -> dict[str, tuple[int, str]]:
    """``{path: (bytes, SHA-256)}`` from the lines ``hash_staged_file`` wrote (concatenated)."""
    hashes: dict[str, tuple[int, str]] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        cells = line.split("\t")
        if not line:
            continue
        if len(cells) != 3 or not cells[1].isdigit() or len(cells[2]) != 64:
            raise InputError("not a PATH, BYTES, SHA-256 line", file=path, row=f"line {number}")
        hashes[cells[0]] = (int(cells[1]), cells[2])
    return hashes


def write_staged_provenance(params_file: str | Path, samplesheet: str | Path | None, hashes_file: str | Path,
                            outdir: str | Path) -> Path:
    """``biomarkers provenance write``: ``pipeline_info/`` as ``biomarkers run`` writes it before its first
    step, from the run's parameters (``params_file``, paths as given), the samplesheet's rows (a copy with
    the same rows: ``samplesheet``) and the hashes the INPUT_FILE tasks computed. A glob parameter's
    files are the hashed paths it matches (Nextflow expanded it); an input no task hashed (the bundled
    protocol, inside the image) is hashed here when it is a file here. Returns ``<outdir>/pipeline_info``."""
    from ..protocol import load_protocol
    from ..samplesheet import read_samplesheet

    params = load_params(params_file, {}, check_files=False)
    sheet = read_samplesheet(samplesheet, check_files=False) if samplesheet and params.get("input") else None
    protocol_path = params.get("protocol") or load_protocol(None).path
    hashes = read_hash_lines(hashes_file)
    inputs = expand_inputs(listed_inputs(params, protocol_path, sheet),
                           lambda pattern: sorted(p for p in hashes if PurePosixPath(p).match(pattern)))
    write_provenance_files(Path(outdir), params, inputs, hashes)
    return Path(outdir) / "pipeline_info"
