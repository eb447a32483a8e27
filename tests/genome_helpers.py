"""A small simulated trial with sequencing data, for the tests of the genome stage, TMB and MSI.

The genome stage reads ``trial.assay_plan`` from the custody stage; these tests give
it a small plan of known shape instead, so they control which tumours are paired.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection
from pathlib import Path

import pandas as pd

from biomarkers.protocol import load_protocol
from biomarkers.simulate import SimulatedTrial, stage_rng
from biomarkers.simulate._genome import simulate_genome
from biomarkers.simulate._trial import load_model, simulate_subjects


def make_assay_plan(subjects: pd.DataFrame, *, tumor_only: Collection[int] = ()) -> pd.DataFrame:
    """Germline DNA per subject (none for the indexes in ``tumor_only``), tumour DNA at
    BASELINE, and a second tumour at SURGERY for every third subject."""
    rows = []
    for i, subj in enumerate(subjects.itertuples(index=False)):
        normal = f"DNA{i:03d}-GL" if i not in tumor_only else None
        if normal:
            rows.append({"USUBJID": subj.USUBJID, "SPECIMEN_ID": normal, "TIMEPOINT": "BASELINE", "SPECIMEN_TYPE": "DNA",
                         "ASSAY": "wes_normal", "NORMAL_SPECIMEN_ID": None})
        rows.append({"USUBJID": subj.USUBJID, "SPECIMEN_ID": f"DNA{i:03d}-BX", "TIMEPOINT": "BASELINE",
                     "SPECIMEN_TYPE": "DNA", "ASSAY": "wes_tumor", "NORMAL_SPECIMEN_ID": normal})
        if i % 3 == 0:
            rows.append({"USUBJID": subj.USUBJID, "SPECIMEN_ID": f"DNA{i:03d}-SX", "TIMEPOINT": "SURGERY",
                         "SPECIMEN_TYPE": "DNA", "ASSAY": "wes_tumor", "NORMAL_SPECIMEN_ID": normal})
    return pd.DataFrame(rows)


def simulate_genome_trial(outdir: Path, *, n_subjects: int, seed: int = 3, n_pon: int = 2, tumor_only: Collection[int] = (),
                          plan_filter: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> SimulatedTrial:
    """The trial stage, then the genome stage on :func:`make_assay_plan`'s plan (with ``n_pon`` normals)."""
    protocol = load_protocol()
    trial = SimulatedTrial(outdir=outdir, seed=seed, n_subjects=n_subjects)
    simulate_subjects(trial, protocol, stage_rng(seed, "trial"))
    plan = make_assay_plan(trial.subjects, tumor_only=tumor_only)
    trial.assay_plan = plan_filter(plan) if plan_filter else plan
    model = copy.deepcopy(load_model()["genome"])
    model["panel_of_normals"] = n_pon
    simulate_genome(trial, protocol, stage_rng(seed, "genome"), model=model)
    return trial
