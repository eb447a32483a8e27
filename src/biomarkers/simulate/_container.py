"""The shared container every simulation stage reads and extends."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["SimulatedTrial", "stage_rng"]


def stage_rng(seed: int, stage: str) -> np.random.Generator:
    """Random generator of one stage: independent of every other stage's draws."""
    digest = int.from_bytes(hashlib.sha256(stage.encode()).digest()[:8], "little")
    return np.random.default_rng([seed, digest])


@dataclass
class SimulatedTrial:
    outdir: Path
    seed: int
    n_subjects: int
    data_cutoff: str = ""
    subjects: pd.DataFrame = field(default_factory=pd.DataFrame)
    milestones: pd.DataFrame = field(default_factory=pd.DataFrame)
    # Specimens that assays consumed, one row per (specimen, assay): USUBJID, SPECIMEN_ID,
    # TIMEPOINT, SPECIMEN_TYPE, ASSAY (samplesheet assay), NORMAL_SPECIMEN_ID. Stages that
    # write assay files read this and add samplesheet rows.
    assay_plan: pd.DataFrame = field(default_factory=pd.DataFrame)
    samplesheet_rows: list[dict] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    truth: dict = field(default_factory=dict)
    # Worker processes for a stage's per-subject and per-specimen writers. Not a parameter
    # of the trial: every file is the same for any number (each item draws from its own stream).
    cpus: int = 1

    @property
    def truth_dir(self) -> Path:
        return self.outdir / "truth"
