"""Analysis tables: outcomes, the long and wide biomarker tables, associations (``analysis/``).

Imported last: ``analysis.wide`` has columns for every biomarker declared before it."""

from __future__ import annotations

import pyarrow as pa

from ... import names as N
from .._registry import TABLES, Column, Table, column_label, register, specimen, studyid, timepoint, usubjid

register(Table(
    name="analysis.subjects",
    path="analysis/subjects.parquet",
    description="One row per subject of ADSL with the outcomes derived from ADTTE and ADRS (assets/outcomes.yaml says how).",
    key=(N.USUBJID,),
    columns=(
        studyid(), usubjid(),
        Column(N.ARMCD, pa.string(), "Randomized arm (ADSL variable named by outcomes.yaml adsl.arm_variable)", source="ADSL", nullable=False),
        Column(N.STRATUM, pa.string(), "CPS stratification stratum (ADSL variable outcomes.yaml adsl.stratum_variable, mapped by adsl.stratum_map)", source="ADSL"),
        Column("PFS_MONTHS", pa.float64(), "Progression-free survival time: ADTTE AVAL converted from AVALU", unit="months", source="ADTTE PARAMCD PFS"),
        Column("PFS_EVENT", pa.int32(), "1 = progression or death (CNSR 0), 0 = censored (CNSR 1)", source="ADTTE PARAMCD PFS"),
        Column("OS_MONTHS", pa.float64(), "Overall survival time: ADTTE AVAL converted from AVALU", unit="months", source="ADTTE PARAMCD OS"),
        Column("OS_EVENT", pa.int32(), "1 = death (CNSR 0), 0 = censored (CNSR 1)", source="ADTTE PARAMCD OS"),
        Column("BOR", pa.string(), "Best overall response, RECIST 1.1: CR, PR, SD, NON-CR/NON-PD, PD, NE; MISSING when no assessment", source="ADRS"),
        Column("BOR_SOURCE", pa.string(), "How BOR was obtained: the ADRS PARAMCD read, or DERIVED:<OVR PARAMCD> (confirmed or unconfirmed)", source="ADRS"),
        Column("RESPONDER", pa.bool_(), "Objective response: BOR is CR or PR (ORR numerator; subjects without assessment count as non-responders)", nullable=False),
        Column("DISEASE_CONTROL", pa.bool_(), "Disease control: BOR is CR, PR, SD or NON-CR/NON-PD (DCR numerator)", nullable=False),
    ),
))

register(Table(
    name="analysis.biomarkers_long",
    path="analysis/biomarkers_long.parquet",
    description="Every biomarker value of every modality table in the results, one row per subject, specimen, timepoint and biomarker (tables declare their biomarkers in schemas.py).",
    key=(N.USUBJID, N.SPECIMEN_ID, N.TIMEPOINT, "BIOMARKER"),
    columns=(
        studyid(), usubjid(), specimen(nullable=True), timepoint(),
        Column("BIOMARKER", pa.string(), "Biomarker name (schemas.Biomarker.name)", nullable=False),
        Column("MODALITY", pa.string(), "Modality the biomarker comes from (genomics, immune, tme, ...)", nullable=False),
        Column("VALUE", pa.float64(), "Numeric value; null for a categorical biomarker"),
        Column("VALUE_TEXT", pa.string(), "Categorical value (e.g. MSI status), or the group column's value when the cut-off names one"),
        Column("UNIT", pa.string(), "Unit of VALUE"),
        Column("QC_STATUS", pa.string(), "QC status from the source table's QC column, as written there; null when it has none"),
        Column("QC_PASS", pa.bool_(), "QC status is one of the declared passing values (true when the table has no QC column)", nullable=False),
        Column("SOURCE_TABLE", pa.string(), "Registered table the value was read from", nullable=False),
    ),
))

register(Table(
    name="analysis.associations",
    path="analysis/associations.parquet",
    description="EXPLORATORY biomarker-outcome associations: per group (median, rate) and per comparison (log-rank, Cox HR adjusted for arm, Fisher's exact), overall and within each arm. Not confirmatory; no multiplicity adjustment.",
    key=("BIOMARKER", "ENDPOINT", "POPULATION", "ROW_TYPE", "GROUP", "TEST"),
    columns=(
        Column("BIOMARKER", pa.string(), "Biomarker (or STRATUM) defining the groups", nullable=False),
        Column("CUTOFF", pa.string(), "How groups were formed: '>= 10', '> median (4.1)', or 'categories'", nullable=False),
        Column("ENDPOINT", pa.string(), "PFS, OS, ORR or DCR", nullable=False),
        Column("POPULATION", pa.string(), "ALL, or ARMCD=<arm> for a within-arm analysis", nullable=False),
        Column("ROW_TYPE", pa.string(), "GROUP (one group's summary) or COMPARISON (a test between groups)", nullable=False),
        Column("GROUP", pa.string(), "Group label; for a comparison '<group> vs <reference>' or 'all groups'", nullable=False),
        Column("TEST", pa.string(), "Kaplan-Meier, Binomial (group rows); log-rank, Cox, Fisher exact (comparisons)", nullable=False),
        Column("N", pa.int32(), "Subjects in the group or the comparison (every estimate and p-value has its n)", nullable=False),
        Column("N_EVENTS", pa.int32(), "Events (time-to-event) or responders (ORR, DCR)"),
        Column("ESTIMATE", pa.float64(), "Median time (months), rate (proportion), hazard ratio or odds ratio, as ESTIMATE_TYPE says"),
        Column("ESTIMATE_TYPE", pa.string(), "MEDIAN_MONTHS, RATE, HR or OR"),
        Column("CI_LOWER", pa.float64(), "Lower bound of the 95% confidence interval"),
        Column("CI_UPPER", pa.float64(), "Upper bound of the 95% confidence interval"),
        Column("P_VALUE", pa.float64(), "Two-sided p-value (comparisons only); unadjusted, exploratory"),
        Column("ADJUSTED_FOR", pa.string(), "Covariates of the Cox model (ARMCD overall, none within an arm)"),
        Column("NOTE", pa.string(), "Why a statistic is missing (too few subjects, no events) or a fitting warning"),
        Column("EXPLORATORY", pa.bool_(), "Always true: these analyses are exploratory", nullable=False),
    ),
))


def _analysis_wide() -> Table:
    """``analysis.wide``: its columns follow every biomarker declared so far in the registry."""
    columns = [
        studyid(), usubjid(),
        *(c for c in TABLES["analysis.subjects"].columns if c.name not in (N.STUDYID, N.USUBJID)),
        Column("CUSTODY_EXPECTED", pa.int32(), "Specimens the protocol expected by the data cut-off (type x timepoint)", source="custody/completeness.parquet"),
        Column("CUSTODY_COLLECTED", pa.int32(), "Of those, collected", source="custody/completeness.parquet"),
        Column("CUSTODY_COMPLETENESS", pa.float64(), "CUSTODY_COLLECTED / CUSTODY_EXPECTED", source="custody/completeness.parquet"),
    ]
    seen: set[str] = set()
    for tbl in TABLES.values():
        if tbl.name.startswith("analysis."):
            continue
        for marker in tbl.biomarkers:
            stem = column_label(marker.name)
            if stem in seen:
                continue
            seen.add(stem)
            source = f"{tbl.path} {marker.column}"
            columns += [
                Column(f"{stem}_BL", pa.float64(), f"{marker.name} at baseline (numeric)", unit=marker.unit, source=source),
                Column(f"{stem}_BL_TEXT", pa.string(), f"{marker.name} at baseline (categorical value or group column)", source=source),
                Column(f"{stem}_CHG", pa.float64(), f"{marker.name}: last on-treatment value minus baseline, where measured twice", unit=marker.unit, source=source),
                Column(f"{stem}_GROUP", pa.string(), f"{marker.name} group at its cut-off (assets/outcomes.yaml or the declaration)", source=source),
            ]
    return Table(
        name="analysis.wide",
        path="analysis/analysis_wide.parquet",
        description="One row per subject: outcomes, custody completeness, and each declared biomarker at baseline, its on-treatment change and its cut-off group. Join to ADSL on STUDYID, USUBJID.",
        key=(N.USUBJID,),
        columns=tuple(columns),
    )


def refresh_analysis_wide() -> Table:
    """Re-derive ``analysis.wide`` from the biomarkers declared now (e.g. after a test registers a table)."""
    TABLES["analysis.wide"] = _analysis_wide()
    return TABLES["analysis.wide"]


register(_analysis_wide())
