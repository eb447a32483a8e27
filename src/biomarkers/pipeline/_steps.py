"""The steps of the pipeline, in the order they run.

Each step is a function of a :class:`RunContext` that calls one capability's
public API and writes that capability's outputs; Nextflow runs the same work as
processes calling ``biomarkers <command>``. A step that has nothing to work on
(no assay files of its kind) reports why and is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

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


def _custody_skip(ctx: "RunContext") -> str | None:
    if not (ctx.params.get("ledger") or ctx.params.get("custody_exports")):
        return "no custody ledger or export given (--ledger, --custody_exports)"
    return None


def _custody_run(ctx: "RunContext") -> None:
    from ..custody import run_custody_step

    run_custody_step(ctx)


STEPS: list[Step] = [
    Step("custody", "chain of custody: import, verify, check against the protocol", _custody_skip, _custody_run),

    # tmb (issue #3); imported when the step runs (numba, pysam), written inline to stay in this hunk
    Step("tmb", "tumour mutational burden of every tumour specimen (count, callable territory, collect)",
         lambda ctx: __import__("biomarkers.genomics.tmb._step", fromlist=["_"]).tmb_skip_reason(ctx),
         lambda ctx: __import__("biomarkers.genomics.tmb._step", fromlist=["_"]).run_tmb_step(ctx)),

    # msi (issue #4)

    # analysis, then report, always last (issue #5)
]
