"""The engine: run the steps in-process, in order, recording what ran in ``pipeline_info/``."""

from __future__ import annotations

import json
import platform
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..errors import InputError
from ..io import sha256_file, write_text_atomic
from ..log import get_logger
from ..schemas import write_table
from ._context import RunContext, available_cpus
from ._params import load_params
from ._validate import check_inputs
from .steps import STEPS

__all__ = ["run_pipeline", "run_params_file", "run_demo", "software_versions"]

log = get_logger("run")

# Libraries whose versions are recorded with every run (nf-core's versions.yml).
_TRACKED = ["pysam", "pandas", "pyarrow", "numpy", "scipy", "anndata", "scanpy", "lifelines", "pyreadstat", "jsonschema", "PyYAML", "matplotlib"]


def software_versions() -> dict[str, str]:
    versions = {"biomarkers": __version__, "python": platform.python_version()}
    for name in _TRACKED:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def run_pipeline(params: dict[str, Any], *, only: list[str] | None = None, cpus: int = 1) -> dict[str, str]:
    """Run every available step; return ``{step: "done" | "skipped: reason"}``.

    ``cpus``: worker processes for the per-specimen tasks (the outputs do not depend on it).
    """
    outdir = Path(params["outdir"])
    if only is not None:
        unknown = sorted(set(only) - {s.name for s in STEPS})
        if unknown:
            raise InputError(f"no such step (steps: {', '.join(s.name for s in STEPS)})", field="--only", value=unknown[0])
    checked = check_inputs(params)  # the checks `biomarkers validate` runs for Nextflow
    protocol, samplesheet = checked.protocol, checked.samplesheet
    outdir.mkdir(parents=True, exist_ok=True)  # only once the inputs are known good: bad input writes nothing
    ctx = RunContext(params=params, outdir=outdir, protocol=protocol, samplesheet=samplesheet, cpus=max(1, cpus))
    ctx.record_input("protocol", protocol.path)
    if params.get("input"):
        ctx.record_input("samplesheet", params["input"])
        for _, row in samplesheet.iterrows():
            ctx.record_input(f"{row['assay']}:{row['specimen']}", row["file"])
    status: dict[str, str] = {}
    timings: dict[str, float] = {}
    steps = [s for s in STEPS if only is None or s.name in only]
    for i, step in enumerate(steps, 1):
        reason = step.skip_reason(ctx)
        if reason:
            log.info("[%d/%d] %s: skipped, %s", i, len(steps), step.name, reason)
            status[step.name] = f"skipped: {reason}"
            continue
        log.info("[%d/%d] %s: %s", i, len(steps), step.name, step.description)
        start = time.monotonic()
        step.run(ctx)
        timings[step.name] = round(time.monotonic() - start, 3)
        status[step.name] = "done"
        log.info("[%d/%d] %s: done in %.1fs", i, len(steps), step.name, timings[step.name])
    write_pipeline_info(ctx, status)
    return status


def run_params_file(params_file: str | Path | None, overrides: dict[str, Any], *, only: list[str] | None = None,
                    cpus: int | None = None) -> dict[str, str]:
    """``biomarkers run``: parameters from a params file and the command line, then every available step,
    the per-specimen tasks on ``cpus`` worker processes (default: the cores this process may use)."""
    if cpus is not None and cpus < 1:
        raise InputError("must be at least 1", field="--cpus", value=cpus)
    return run_pipeline(load_params(params_file, overrides), only=only, cpus=cpus or available_cpus())


def run_demo(outdir: str | Path, *, n_subjects: int = 54, seed: int = 1, cpus: int | None = None) -> dict[str, str]:
    """``biomarkers demo``: simulate a trial into ``<outdir>/simulated_trial`` and run every step on it."""
    from ..simulate import simulate_trial

    outdir = Path(outdir)
    trial = simulate_trial(outdir / "simulated_trial", n_subjects=n_subjects, seed=seed)
    return run_params_file(trial.outdir / "params.yaml", {"outdir": str(outdir), "seed": seed}, cpus=cpus)


def write_pipeline_info(ctx: RunContext, status: dict[str, str]) -> None:
    info = ctx.outdir / "pipeline_info"
    versions = software_versions()
    write_text_atomic(info / "software_versions.yml", "".join(f"{k}: {v}\n" for k, v in sorted(versions.items())))
    write_text_atomic(info / "params.json", json.dumps(ctx.params, indent=2, sort_keys=True, default=str) + "\n")
    # Timings go to the log, not here: outputs are identical for identical inputs.
    write_text_atomic(info / "run.json", json.dumps({
        "engine": "biomarkers run (embedded, in-process)",
        "steps": status,
    }, indent=2, sort_keys=True) + "\n")
    seen: dict[str, tuple[str, str]] = {}
    for role, path in ctx.inputs:
        seen.setdefault(path, (role, path))
    rows = []
    for role, path in seen.values():
        p = Path(path)
        if p.is_file():
            rows.append({"ROLE": role, "PATH": path, "BYTES": p.stat().st_size, "SHA256": sha256_file(p)})
    frame = pd.DataFrame(rows, columns=["ROLE", "PATH", "BYTES", "SHA256"])
    write_table(frame.sort_values(["ROLE", "PATH"]), "pipeline.inputs", ctx.outdir)
