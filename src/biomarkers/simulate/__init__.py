"""A complete synthetic trial with known truth, for the demo, the tests and Nextflow's test profile.

``simulate_trial`` builds the trial in stages; each stage is a module here that
adds its files and its truth to a shared :class:`SimulatedTrial`. Each stage draws
from its own random stream, derived from the seed and the stage's name, so adding
a stage never changes what the others produce.

Layout written under ``outdir``::

    subjects.csv            randomization list (USUBJID, SITEID, ARMCD, STRATUM, RANDDT)
    milestones.csv          milestone dates (USUBJID, MILESTONE, DATE)
    custody/export_*.csv    LIMS custody exports (assets/custody_export.schema.json)
    samplesheet.csv         assay files (assets/schema_input.json)
    params.yaml             parameters to run the pipeline on this trial
    truth/                  what the pipeline should find
"""

from __future__ import annotations

# The container first: stage modules import it from this package.
from ._container import SimulatedTrial, stage_rng
from ._run import STAGES, simulate_trial

__all__ = ["SimulatedTrial", "simulate_trial", "stage_rng", "STAGES"]
