"""Tumour-microenvironment tables: expression signatures, pathology results, eligibility checks.

The signatures table is long (one row per specimen and signature); each shipped
signature (``assets/signatures.yaml``) is a biomarker selected by its ``SIGNATURE``
rows, with the signature's own cut-off. The pathology table is long too (one row per
specimen and test); CPS, stromal TILs, the central lab's TMB and EBER are biomarkers.
The eligibility checks give every subject a flag per check in ``analysis.wide``.
"""

from __future__ import annotations

import pyarrow as pa

from ... import names as N
from ...assets import load_config
from .._registry import Biomarker, Column, SubjectFlags, Table, register, specimen, studyid, timepoint, usubjid

_SIGNATURES = load_config("signatures.yaml", "signatures.schema.json")["signatures"]
_ELIGIBILITY = load_config("eligibility.yaml", "eligibility.schema.json")
_TMB_HIGH = float(load_config("tmb.yaml", "tmb.schema.json")["tmb_high"])
# The central lab's TMB is the LAB result of this name (docs/pathology.md).
EXTERNAL_TMB_NAME = "TMB"

register(Table(
    name="tme.signatures",
    path="tme/signatures.parquet",
    description="Bulk-expression signature scores: one row per tumour specimen and signature (assets/signatures.yaml), "
                "with the genes used and missing and the normalization the score was computed on.",
    key=(N.SPECIMEN_ID, "SIGNATURE"),
    columns=(
        studyid(), usubjid(), specimen(), timepoint(),
        Column("SAMPLE", pa.string(), "Sample name in the expression file (samplesheet sample_name)", source="samplesheet", nullable=False),
        Column("SIGNATURE", pa.string(), "Signature identifier (assets/signatures.yaml id)", nullable=False),
        Column("SIGNATURE_NAME", pa.string(), "Signature name", nullable=False),
        Column("SCORE", pa.float64(), "Signature score (METHOD over TRANSFORM of the expression); null when not scored", unit="score"),
        Column("STATUS", pa.string(), "SCORED, or NOT_SCORED when more genes are missing than the signature tolerates", nullable=False),
        Column("METHOD", pa.string(), "mean, weighted_sum_housekeeping or geometric_mean", nullable=False),
        Column("TRANSFORM", pa.string(), "Transform of the linear expression, e.g. log2(x + 1)", nullable=False),
        Column("NORMALIZATION", pa.string(), "Linear scale the score was computed on: TPM as given, TPM from counts and gene lengths, Salmon TPM, or CPM", nullable=False),
        Column("N_GENES", pa.int32(), "Genes of the signature", nullable=False),
        Column("N_GENES_USED", pa.int32(), "Genes found in the matrix and used (0 when not scored)", nullable=False),
        Column("GENES_USED", pa.string(), "Genes used, comma-separated"),
        Column("GENES_MISSING", pa.string(), "Genes absent from the matrix, comma-separated"),
        Column("N_HOUSEKEEPING_USED", pa.int32(), "Housekeeping genes found (GEP)", nullable=False),
        Column("HOUSEKEEPING_MISSING", pa.string(), "Housekeeping genes absent from the matrix, comma-separated"),
        Column("NOTE", pa.string(), "Why a signature was not scored, or how many genes were left out"),
        Column("SOURCE_FILE", pa.string(), "Expression file the sample was read from (name only)", nullable=False),
    ),
    biomarkers=tuple(
        Biomarker(column="SCORE", name=s["id"], modality="tme", unit="score", cutoff=s["cutoff"], qc_column="STATUS",
                  qc_pass=("SCORED",), where=(("SIGNATURE", s["id"]),))
        for s in _SIGNATURES
    ),
))

register(Table(
    name="pathology.results",
    path="pathology/results.parquet",
    description="Pathology and central-lab results: one row per specimen and test (PD-L1 CPS, HER2 IHC/ISH, MMR IHC, "
                "EBER, stromal TILs, numeric lab results), units as reported (assets/pathology.schema.json).",
    key=(N.SPECIMEN_ID, "TEST", "RESULT_NAME"),
    columns=(
        studyid(), usubjid(), specimen(), timepoint(),
        Column("TEST", pa.string(), "CPS, HER2_IHC, HER2_ISH, HER2_ISH_RATIO, MMR_MLH1, MMR_PMS2, MMR_MSH2, MMR_MSH6, EBER, TILS_STROMAL or LAB", nullable=False),
        Column("RESULT_NAME", pa.string(), "The lab result's name for LAB (e.g. TMB), else the test", nullable=False),
        Column("VALUE", pa.float64(), "Numeric result (CPS, ISH ratio, TILs %, lab results); null for a category"),
        Column("VALUE_TEXT", pa.string(), "Categorical result (HER2 IHC score, ISH call, RETAINED/LOST, POSITIVE/NEGATIVE)"),
        Column("UNIT", pa.string(), "Unit as reported (CPS: score, ISH ratio: ratio, TILs: %)"),
        Column("METHOD", pa.string(), "Antibody clone of the PD-L1 assay (22C3, 28-8, SP263)"),
        Column("RESULT_DATE", pa.string(), "Result date, ISO 8601"),
        Column("LAB", pa.string(), "Laboratory that reported the result"),
        Column("SOURCE_LINE", pa.int64(), "Line (CSV) or row (Parquet) of the source table", nullable=False),
        Column("SOURCE_COLUMN", pa.string(), "Column of the source table the value was in", nullable=False),
    ),
    biomarkers=(
        Biomarker(column="VALUE", name="PD-L1 CPS", modality="pathology", unit="score", cutoff=float(_ELIGIBILITY["cps"]["cutoff"]),
                  where=(("TEST", "CPS"),)),
        Biomarker(column="VALUE", name="Stromal TILs", modality="pathology", unit="%", cutoff="median",
                  where=(("TEST", "TILS_STROMAL"),)),
        Biomarker(column="VALUE", name="Central lab TMB", modality="pathology", unit="mut/Mb", cutoff=_TMB_HIGH,
                  where=(("TEST", "LAB"), ("RESULT_NAME", EXTERNAL_TMB_NAME))),
        Biomarker(column="VALUE_TEXT", name="EBER", modality="pathology", cutoff="VALUE_TEXT", where=(("TEST", "EBER"),)),
    ),
))

register(Table(
    name="tme.eligibility",
    path="tme/eligibility.parquet",
    description="Eligibility and consistency checks: one row per randomized subject and check (assets/eligibility.yaml), "
                "with the evidence in words and the tables it came from.",
    key=(N.USUBJID, "CHECK"),
    columns=(
        studyid(), usubjid(),
        Column(N.ARMCD, pa.string(), "Randomized arm", source="randomization list or ADSL"),
        Column(N.STRATUM, pa.string(), "CPS stratum at randomization", source="randomization list or ADSL"),
        Column("CHECK", pa.string(), "HER2_POSITIVE, DMMR_OR_MSI_H, MMR_MSI_DISCORDANCE, CPS_STRATUM_MISMATCH or PD1_CPS_MISMATCH", nullable=False),
        Column("SEVERITY", pa.string(), "DEVIATION (protocol deviation) or REVIEW (to be reviewed)", nullable=False),
        Column("RESULT", pa.string(), "FLAGGED, PASSED or NOT_EVALUABLE", nullable=False),
        Column("FLAGGED", pa.bool_(), "True when flagged; null when not evaluable"),
        Column("EVIDENCE", pa.string(), "The values, specimens and dates the result rests on", nullable=False),
        Column("SOURCE", pa.string(), "Tables the evidence came from", nullable=False),
    ),
    subject_flags=SubjectFlags(key_column="CHECK", value_column="RESULT", names=tuple(_ELIGIBILITY["checks"]),
                               prefix="ELIGIBILITY_", description="Eligibility check result (FLAGGED, PASSED, NOT_EVALUABLE)"),
))
