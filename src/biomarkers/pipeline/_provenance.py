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
"""

from __future__ import annotations

import glob
import json
import platform
from importlib.metadata import PackageNotFoundError, distributions, version
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from .. import names as N
from ..io import sha256_file, write_text_atomic
from ..schemas import write_table
from ._context import RunContext
from ._params import param_specs

__all__ = ["software_versions", "record_run_inputs", "write_provenance", "ENGINE"]

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


def record_run_inputs(ctx: RunContext) -> None:
    """Record every input file the parameters and the samplesheet name (before the steps record theirs)."""
    params = ctx.params
    ctx.record_input("protocol", ctx.protocol.path)
    for name, spec in param_specs().items():
        value = params.get(name)
        if not value or name == "outdir" or spec.get("format") not in _FILE_FORMATS or "://" in str(value):
            continue
        matches = sorted(glob.glob(str(value))) if name in _GLOB_PARAMS else [str(value)]
        for match in matches:
            ctx.record_input(name, match)
    if ctx.samplesheet is not None and params.get("input"):
        ctx.record_input("samplesheet", params["input"])
        for _, row in ctx.samplesheet.iterrows():
            ctx.record_input(f"{row[N.SS_ASSAY]}:{row[N.SS_SPECIMEN]}", row[N.SS_FILE])
            index = row.get(N.SS_INDEX)
            if isinstance(index, str) and index:
                ctx.record_input(f"{row[N.SS_ASSAY]}:{row[N.SS_SPECIMEN]}:index", index)


def write_provenance(ctx: RunContext, hashes: dict[str, tuple[int, str]]) -> None:
    """``software_versions.yml``, ``params.json`` and ``inputs.parquet``; ``hashes`` caches (bytes, SHA-256)
    by path so that a large input is read once per run. Roles: the last one recorded for a path (a step's
    name for a file, e.g. ``msi:pon``, over the parameter's)."""
    info = ctx.outdir / "pipeline_info"
    versions = software_versions()
    write_text_atomic(info / "software_versions.yml", "".join(f"{k}: {v}\n" for k, v in versions.items()))
    write_text_atomic(info / "params.json", json.dumps(ctx.params, indent=2, sort_keys=True, default=str) + "\n")
    roles: dict[str, str] = {}
    for role, path in ctx.inputs:
        roles[path] = role
    rows = []
    for path, role in roles.items():
        p = Path(path)
        if not p.is_file():
            continue
        if path not in hashes:
            hashes[path] = (p.stat().st_size, sha256_file(p))
        size, digest = hashes[path]
        rows.append({"ROLE": role, "PATH": path, "BYTES": size, "SHA256": digest})
    frame = pd.DataFrame(rows, columns=["ROLE", "PATH", "BYTES", "SHA256"])
    write_table(frame.sort_values(["ROLE", "PATH"]), "pipeline.inputs", ctx.outdir)


def manifest_info(status: dict[str, str]) -> dict[str, Any]:
    return {"engine": ENGINE, "steps": status}
