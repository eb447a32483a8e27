"""The steps of the pipeline, in the order they run.

Each step is a function of a :class:`RunContext` that calls one capability's
public API and writes that capability's outputs; Nextflow runs the same work as
processes calling ``biomarkers <command>``. A step that has nothing to work on
(no assay files of its kind) reports why and is skipped.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._run import RunContext

__all__ = ["Step", "STEPS"]


@dataclass(frozen=True)
class Step:
    name: str
    description: str
    # Returns None when the step can run, else the reason it is skipped.
    skip_reason: Callable[["RunContext"], str | None]
    run: Callable[["RunContext"], None]


def _later(module: str, function: str) -> Callable[["RunContext"], Any]:
    """``module.function``, imported when the step runs: pysam, numba and lifelines are slow
    to import, and ``biomarkers --help`` should not pay for them."""
    def call(ctx: "RunContext"):
        return getattr(importlib.import_module(module, __package__), function)(ctx)
    return call


def _custody_skip(ctx: "RunContext") -> str | None:
    if not (ctx.params.get("ledger") or ctx.params.get("custody_exports")):
        return "no custody ledger or export given (--ledger, --custody_exports)"
    return None


def _msi_skip(ctx: "RunContext") -> str | None:
    if ctx.samplesheet_rows("wes_tumor", "panel_tumor").empty:
        return "no tumour BAM/CRAM in the samplesheet (assay wes_tumor or panel_tumor)"
    if not ctx.params.get("fasta"):
        return "no reference FASTA (--fasta)"
    return None


def _analysis_skip(ctx: "RunContext") -> str | None:
    missing = [k for k in ("adsl", "adtte", "adrs") if not ctx.params.get(k)]
    if missing:
        return f"no clinical data sets given (--{', --'.join(missing)})"
    return None


def _analysis_run(ctx: "RunContext") -> None:
    from ..outcomes import run_analysis

    for key in ("adsl", "adtte", "adrs", "outcomes_config"):
        if ctx.params.get(key):
            ctx.record_input(key, ctx.params[key])
    run_analysis(ctx.outdir, adsl=ctx.params["adsl"], adtte=ctx.params["adtte"], adrs=ctx.params["adrs"],
                 config=ctx.params.get("outcomes_config"), protocol=ctx.protocol)


def _report_run(ctx: "RunContext") -> None:
    from ..report import build_report

    build_report(ctx.outdir, protocol=ctx.protocol)


# Analysis and report stay last: they read every table the earlier steps wrote.
STEPS: list[Step] = [
    Step("custody", "chain of custody: import, verify, check against the protocol",
         _custody_skip, _later("..custody", "run_custody_step")),
    Step("tmb", "tumour mutational burden of every tumour specimen (count, callable territory, collect)",
         _later("..genomics.tmb._step", "tmb_skip_reason"), _later("..genomics.tmb._step", "run_tmb_step")),
    Step("msi", "microsatellite instability: scan, baseline from the panel of normals, call each tumour, merge",
         _msi_skip, _later("..genomics.msi", "run_msi_step")),
    Step("analysis", "outcomes from ADaM joined to every biomarker table; exploratory associations", _analysis_skip, _analysis_run),
    Step("report", "one self-contained HTML report of the results", lambda ctx: None, _report_run),
]
