"""The steps of ``biomarkers run``, in the order they run: one module per step.

Each module defines ``STEP``: a name, a one-line description, its skip rule (why
it has nothing to do, or None) and its work, a function of the
:class:`~biomarkers.pipeline.RunContext` that calls one capability's public API.
Nextflow runs the same work as processes calling ``biomarkers <command>``.
Steps import their capability inside ``run``: pysam, numba and lifelines are slow
to import, and ``biomarkers --help`` should not pay for them.
"""

from . import analysis, custody, flow, msi, report, singlecell, tme, tmb

__all__ = ["STEPS"]

# Analysis and report stay last: they read every table the earlier steps wrote.
STEPS = [
    custody.STEP,
    tmb.STEP,
    msi.STEP,
    tme.STEP,
    singlecell.STEP,
    flow.STEP,
    analysis.STEP,
    report.STEP,
]
