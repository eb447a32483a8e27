"""The engine: run the steps in-process, in order, recording what ran in ``pipeline_info/``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..log import get_logger
from ..manifest import clean_stale_staging, exclusive_run, finish_run, start_run
from ._context import RunContext, available_cpus
from ._params import load_params
from ._provenance import ENGINE, manifest_info, record_run_inputs, software_versions, write_provenance
from ._validate import check_inputs
from .steps import STEPS

__all__ = ["run_pipeline", "run_params_file", "run_demo", "software_versions"]

log = get_logger("run")


def run_pipeline(params: dict[str, Any], *, only: list[str] | None = None, cpus: int = 1) -> dict[str, str]:
    """Run every available step; return ``{step: "done" | "skipped: reason"}``.

    ``cpus``: worker processes for the per-specimen tasks (the outputs do not depend on it).
    The output folder is created only once the inputs are checked (bad input writes
    nothing); staging a killed run left is removed; ``pipeline_info/run.json`` says
    ``running`` until the complete manifest is written, last.
    """
    outdir = Path(params["outdir"])
    if only is not None:
        unknown = sorted(set(only) - {s.name for s in STEPS})
        if unknown:
            raise InputError(f"no such step (steps: {', '.join(s.name for s in STEPS)})", field="--only", value=unknown[0])
    checked = check_inputs(params)  # the checks `biomarkers validate` runs for Nextflow
    outdir.mkdir(parents=True, exist_ok=True)
    with exclusive_run(outdir):  # a second run into this folder is refused, not interleaved
        return _run_steps(params, outdir, checked, only=only, cpus=cpus)


def _run_steps(params: dict[str, Any], outdir: Path, checked, *, only: list[str] | None, cpus: int) -> dict[str, str]:
    """The steps of `run_pipeline` on checked inputs, in a folder this process alone writes."""
    for stale in clean_stale_staging(outdir):
        log.info("removed %s, left by a run that did not finish", stale)
    start_run(outdir, ENGINE)
    ctx = RunContext(params=params, outdir=outdir, protocol=checked.protocol, samplesheet=checked.samplesheet,
                     cpus=max(1, cpus))
    record_run_inputs(ctx)
    hashes: dict[str, tuple[int, str]] = {}
    write_provenance(ctx, hashes)  # before the steps: the report shows it
    status: dict[str, str] = {}
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
        status[step.name] = "done"
        # Timings go to the log, not to pipeline_info: outputs are identical for identical inputs.
        log.info("[%d/%d] %s: done in %.1fs", i, len(steps), step.name, time.monotonic() - start)
    write_provenance(ctx, hashes)  # with the inputs the steps recorded
    finish_run(outdir, manifest_info(status), inputs=[path for _, path in ctx.inputs])
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
    trial = simulate_trial(outdir / "simulated_trial", n_subjects=n_subjects, seed=seed, cpus=cpus)
    return run_params_file(trial.outdir / "params.yaml", {"outdir": str(outdir), "seed": seed}, cpus=cpus)
