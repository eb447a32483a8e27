"""Clinical outcomes from ADaM, biomarker tables joined to them, exploratory associations.

Public API (plain functions over pandas objects; I/O at the edges):

- :func:`read_adam` reads ADSL/ADTTE/ADRS from SAS transport (v5, v8), sas7bdat, CSV or Parquet;
- :func:`derive_subjects` gives one row per subject: arm, stratum, PFS, OS, BOR, ORR, DCR;
- :func:`derive_bor` applies RECIST 1.1 best-overall-response rules to per-visit responses;
- :func:`biomarkers_long` and :func:`analysis_wide` build the biomarker tables from every
  registered table that declares biomarkers (``schemas.Biomarker``);
- :func:`associations` computes the exploratory statistics;
- :func:`run_analysis` does all of it and writes ``<results>/analysis/``.
"""

from ._adam import load_outcomes_config, read_adam
from ._associations import associations
from ._derive import derive_subjects
from ._recist import derive_bor
from ._step import run_analysis
from ._tables import analysis_wide, biomarkers_long

__all__ = ["read_adam", "load_outcomes_config", "derive_subjects", "derive_bor", "biomarkers_long",
           "analysis_wide", "associations", "run_analysis"]
