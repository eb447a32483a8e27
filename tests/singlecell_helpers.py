"""A small simulated single-cell trial (trial, custody and single-cell stages), shared by the tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from biomarkers.protocol import load_protocol
from biomarkers.simulate import simulate_trial, stage_rng
from biomarkers.simulate._singlecell import load_singlecell_model, simulate_singlecell


def simulate_sc_trial(outdir: Path, *, n_subjects: int = 2, cells: tuple[int, int] = (500, 800), seed: int = 5):
    """Trial + custody for 6 subjects, then single-cell matrices for ``n_subjects`` of them."""
    trial = simulate_trial(outdir, n_subjects=6, seed=seed, stages=("trial", "custody"))
    model = {**load_singlecell_model(), "cells": list(cells)}
    scrna = trial.assay_plan[trial.assay_plan["ASSAY"].str.startswith("scrna_")]
    keep = sorted(set(scrna["USUBJID"]))[:n_subjects]  # fewer subjects than the bundled plan: faster tests
    trial.assay_plan = trial.assay_plan[~trial.assay_plan.index.isin(scrna.index) | trial.assay_plan["USUBJID"].isin(keep)]
    simulate_singlecell(trial, load_protocol(), stage_rng(seed, "singlecell"), model=model)
    return trial


def cell_truth(trial, specimen: str) -> pd.DataFrame:
    return pd.read_csv(trial.outdir / "truth" / "singlecell" / "cells" / f"{specimen}.csv.gz").set_index("barcode")
