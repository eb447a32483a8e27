"""The one registry of output tables: columns, Arrow types, units, descriptions.

Every Parquet file the pipeline writes is declared here and written through
:func:`write_table`, which checks the data against the declaration, embeds the data
dictionary and the provenance in the file's metadata, and writes atomically. The
data dictionary in ``docs/data-dictionary.md`` is generated from this module
(``biomarkers schemas --markdown``), and a test keeps the two in step.

Input schemas (samplesheet, protocol, custody export) are JSON Schema files in
``assets/``, shared with Nextflow's nf-schema; see :mod:`biomarkers.assets`.

A table that carries biomarkers declares them (:class:`Biomarker`), so the
analysis step builds its long table from whatever modality tables exist without
knowing any modality by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import names as N
from .errors import BiomarkersError
from .io import atomic_path

__all__ = [
    "Column",
    "Biomarker",
    "Table",
    "TABLES",
    "table",
    "to_arrow",
    "write_table",
    "read_table",
    "concat_parts",
    "table_metadata",
    "data_dictionary",
    "data_dictionary_markdown",
]

METADATA_KEY = b"biomarkers"


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    description: str
    unit: str = ""
    source: str = ""
    nullable: bool = True


@dataclass(frozen=True)
class Biomarker:
    """A column of a table that is a biomarker value, for the long analysis table.

    ``cutoff`` defines the groups for exploratory association: a number (high when
    value >= cutoff), ``"median"`` (high when above the cohort median), or the name
    of a categorical column whose values are the groups.
    """

    column: str
    name: str
    modality: str
    unit: str = ""
    cutoff: float | str | None = None
    qc_column: str | None = None
    # Only rows whose qc_column equals one of these count as QC-passed.
    qc_pass: tuple[str, ...] = ("PASS",)


@dataclass(frozen=True)
class Table:
    name: str
    path: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    biomarkers: tuple[Biomarker, ...] = field(default=())

    def schema(self) -> pa.Schema:
        fields = []
        for col in self.columns:
            meta = {b"description": col.description.encode()}
            if col.unit:
                meta[b"unit"] = col.unit.encode()
            fields.append(pa.field(col.name, col.type, nullable=col.nullable, metadata=meta))
        return pa.schema(fields)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


TABLES: dict[str, Table] = {}


def _register(tbl: Table) -> Table:
    if tbl.name in TABLES:
        raise ValueError(f"table {tbl.name} declared twice")
    unknown = set(tbl.key) - set(tbl.column_names)
    if unknown:
        raise ValueError(f"table {tbl.name}: key columns {sorted(unknown)} not declared")
    TABLES[tbl.name] = tbl
    return tbl


def table(name: str) -> Table:
    return TABLES[name]


# --- shared column definitions ---------------------------------------------------

def _studyid() -> Column:
    return Column(N.STUDYID, pa.string(), "Study identifier", source="protocol", nullable=False)


def _usubjid(nullable: bool = False) -> Column:
    return Column(N.USUBJID, pa.string(), "Unique subject identifier (as in ADSL)", source="randomization list", nullable=nullable)


def _specimen(nullable: bool = False) -> Column:
    return Column(N.SPECIMEN_ID, pa.string(), "Specimen identifier (study specimen ID, never a patient identifier)", source="custody ledger", nullable=nullable)


def _timepoint(nullable: bool = True) -> Column:
    return Column(N.TIMEPOINT, pa.string(), "Protocol timepoint of collection (assets/protocol.yaml)", source="custody ledger", nullable=nullable)


UTC = pa.timestamp("us", tz="UTC")

# --- custody ---------------------------------------------------------------------

_register(Table(
    name="custody.specimens",
    path="custody/specimens.parquet",
    description="One row per specimen (primary and derived) with its current state.",
    key=(N.SPECIMEN_ID,),
    columns=(
        _studyid(), _usubjid(), _specimen(),
        Column(N.PARENT_SPECIMEN_ID, pa.string(), "Specimen this one was derived or aliquoted from; null for a primary collection"),
        Column("LEVEL", pa.int32(), "Derivation level: 0 primary collection, 1 first derivative, ...", nullable=False),
        Column(N.SPECIMEN_TYPE, pa.string(), "Specimen type (assets/protocol.yaml specimen_types)", nullable=False),
        Column("SPECIMEN_CATEGORY", pa.string(), "tissue, fluid, stool or derivative"),
        _timepoint(),
        Column(N.ARMCD, pa.string(), "Randomized arm code", source="randomization list"),
        Column("COLLECTED_AT", UTC, "Collection (or derivation) time, UTC"),
        Column("STATUS", pa.string(), "Current status: COLLECTED, IN_PROCESSING, STORED, IN_TRANSIT, CONSUMED, DISPOSED"),
        Column("SITE", pa.string(), "Site currently holding the specimen"),
        Column("LOCATION", pa.string(), "Current storage position unit/rack/box/row-column"),
        Column("VOLUME_ML", pa.float64(), "Initial volume", unit="mL"),
        Column("FREEZE_THAW_COUNT", pa.int32(), "Number of thaw events so far", nullable=False),
        Column("SPREC", pa.string(), "ISBER SPREC v3.0 code; X marks an element the events do not determine"),
        Column("CONSENT_STATUS", pa.string(), "CONSENTED or WITHDRAWN (subject level)", nullable=False),
        Column("N_EVENTS", pa.int32(), "Effective events (voided events excluded)", nullable=False),
        Column("N_ISSUES", pa.int32(), "Custody findings about this specimen", nullable=False),
    ),
))

_register(Table(
    name="custody.events",
    path="custody/events.parquet",
    description="Effective custody events in CDISC SDTM BE (Biospecimen Events) style, corrections applied, voids flagged.",
    key=("EVENT_ID",),
    columns=(
        _studyid(), _usubjid(),
        Column("BESEQ", pa.int64(), "Sequence number within the ledger", nullable=False),
        Column("BEREFID", pa.string(), "Specimen identifier (reference ID)"),
        Column("BETERM", pa.string(), "Reported event term as exported by the LIMS", nullable=False),
        Column("BEDECOD", pa.string(), "Standardized event: COLLECTED, RECEIVED, PROCESSED, DERIVED, STORED, MOVED, FROZEN, THAWED, SHIPPED, CONSUMED, DISPOSED, CONSENT_WITHDRAWN", nullable=False),
        Column("BECAT", pa.string(), "Event category: COLLECTION, PREPARATION, STORAGE, TRANSPORT, USE, DISPOSITION, CONSENT"),
        Column("BESTDTC", pa.string(), "Event date-time, ISO 8601 with offset, as it happened", nullable=False),
        Column("BEDTC", pa.string(), "Date-time the event was recorded, ISO 8601 with offset"),
        Column("BELOC", pa.string(), "Where: site and storage position"),
        Column("BEPARTY", pa.string(), "Accountable party (site)"),
        Column("BEPRTYID", pa.string(), "Actor identifier (staff ID, never a name)"),
        Column("EVENT_ID", pa.string(), "Event identifier from the LIMS export", nullable=False),
        Column("VOIDED", pa.bool_(), "True when a later VOIDED event cancels this one", nullable=False),
        Column("CORRECTED_BY", pa.string(), "EVENT_ID of the correction applied to this event, if any"),
        Column("DETAILS", pa.string(), "Remaining details (temperature, container, volume, reason...) as canonical JSON"),
        Column("HASH", pa.string(), "SHA-256 of this ledger row (hash chain)", nullable=False),
    ),
))

_register(Table(
    name="custody.lineage",
    path="custody/lineage.parquet",
    description="Specimen parent/child relationships in CDISC RELSPEC style.",
    key=("REFID",),
    columns=(
        _studyid(), _usubjid(),
        Column("REFID", pa.string(), "Specimen identifier", nullable=False),
        Column("SPEC", pa.string(), "Specimen type", nullable=False),
        Column("PARENT", pa.string(), "Parent specimen identifier; null for a primary collection"),
        Column("LEVEL", pa.int32(), "1 for a primary collection, parent's LEVEL + 1 for a derivative (RELSPEC convention)", nullable=False),
    ),
))

_register(Table(
    name="custody.issues",
    path="custody/issues.parquet",
    description="Custody findings: rule violations against the protocol and good practice.",
    key=("RULE", N.SPECIMEN_ID, "EVENT_ID"),
    columns=(
        Column("RULE", pa.string(), "Rule identifier (assets/custody_rules.yaml)", nullable=False),
        Column("SEVERITY", pa.string(), "ERROR, WARNING or INFO", nullable=False),
        _usubjid(nullable=True), _specimen(nullable=True), _timepoint(),
        Column("EVENT_ID", pa.string(), "Event the finding is about, if any"),
        Column("MESSAGE", pa.string(), "Plain-language explanation", nullable=False),
    ),
))

_register(Table(
    name="custody.completeness",
    path="custody/completeness.parquet",
    description="Expected versus collected specimens: one row per subject, due timepoint and specimen type (expected or collected).",
    key=(N.USUBJID, N.TIMEPOINT, N.SPECIMEN_TYPE),
    columns=(
        _studyid(), _usubjid(),
        Column(N.ARMCD, pa.string(), "Randomized arm code", source="randomization list"),
        _timepoint(nullable=False),
        Column(N.SPECIMEN_TYPE, pa.string(), "Specimen type", nullable=False),
        Column("EXPECTED", pa.bool_(), "The protocol expects this type at this due timepoint for the arm (required, not optional)", nullable=False),
        Column("COLLECTED", pa.bool_(), "At least one specimen of this type exists for the subject at this timepoint", nullable=False),
        Column("N_SPECIMENS", pa.int32(), "Specimens of this type at this timepoint (primary and derived)", nullable=False),
    ),
))

# --- genomics: TMB -----------------------------------------------------------------

_TMB_FILTER_DOC = {
    "FILTER": "FILTER not PASS", "DUPLICATE": "the same trimmed variant seen before", "DEPTH": "tumour depth below the minimum",
    "ALT_READS": "too few tumour reads support the ALT", "VAF": "tumour VAF below the minimum",
    "POPULATION": "population allele frequency above the maximum (tumour-only mode)",
    "HOTSPOT": "a known hotspot (tumour-only mode, with --hotspots)", "NOT_CODING": "not a coding consequence (or outside the coding BED)",
    "SYNONYMOUS": "synonymous (counted only when count_synonymous is true)", "NOT_CALLABLE": "outside the callable territory",
}

_register(Table(
    name="genomics.tmb",
    path="genomics/tmb.parquet",
    description="Tumour mutational burden: one row per tumour specimen, with the denominator, the variant funnel and the parameters used.",
    key=(N.SPECIMEN_ID,),
    columns=(
        _studyid(), _usubjid(), _specimen(), _timepoint(),
        Column("TUMOR_SAMPLE", pa.string(), "Tumour sample name in the VCF", nullable=False),
        Column("NORMAL_SAMPLE", pa.string(), "Matched normal: its VCF sample name, else its BAM file name; null in tumour-only mode"),
        Column("MODE", pa.string(), "paired (a matched normal was used) or tumour-only", nullable=False),
        Column("ANNOTATION", pa.string(), "Consequence source: VEP (CSQ), SNPEFF (ANN) or CODING_BED (unannotated VCF)", nullable=False),
        Column("DENOMINATOR_SOURCE", pa.string(), "BAM_DEPTH (callable bases measured from the BAM/CRAM), TARGET_BED (merged targets, no BAM) or USER_MB (--callable-mb)", nullable=False),
        Column("TARGET_BASES", pa.int64(), "Bases of the merged target BED (overlaps counted once)", unit="bases", nullable=False),
        Column("CALLABLE_BASES", pa.int64(), "Denominator: target bases with tumour (and normal) depth >= the threshold", unit="bases", nullable=False),
        Column("CALLABLE_MB", pa.float64(), "CALLABLE_BASES / 1e6", unit="Mb", nullable=False),
        Column("N_VARIANTS", pa.int64(), "Variants seen (multi-allelic records split)", nullable=False),
        *(Column(f"N_{name}", pa.int64(), f"Variants removed by the '{name.lower()}' filter: {doc}", nullable=False) for name, doc in _TMB_FILTER_DOC.items()),
        Column("N_COUNTED", pa.int64(), "Variants counted (numerator)", nullable=False),
        Column("TMB", pa.float64(), "Tumour mutational burden: N_COUNTED / CALLABLE_MB", unit="mut/Mb", nullable=False),
        Column("TMB_CI_LOWER", pa.float64(), "Lower bound of the exact (Garwood) Poisson confidence interval", unit="mut/Mb", nullable=False),
        Column("TMB_CI_UPPER", pa.float64(), "Upper bound of the exact (Garwood) Poisson confidence interval", unit="mut/Mb", nullable=False),
        Column("CI_LEVEL", pa.float64(), "Confidence level of the interval", nullable=False),
        Column("TMB_HIGH", pa.bool_(), "TMB >= TMB_HIGH_CUTOFF", nullable=False),
        Column("TMB_HIGH_CUTOFF", pa.float64(), "TMB-high threshold used", unit="mut/Mb", nullable=False),
        Column("PARAMETERS", pa.string(), "Every counting and denominator rule used, canonical JSON", nullable=False),
    ),
    biomarkers=(
        Biomarker(column="TMB", name="TMB", modality="genomics", unit="mut/Mb", cutoff=10.0),
        Biomarker(column="TMB_HIGH", name="TMB-high", modality="genomics", cutoff="TMB_HIGH"),
    ),
))

_register(Table(
    name="genomics.tmb_variants",
    path="genomics/tmb_variants.parquet",
    description="Every variant the TMB step saw (multi-allelic records split, alleles trimmed), whether it counted and, if not, the first filter that removed it.",
    key=(N.SPECIMEN_ID, "CHROM", "POS", "REF", "ALT"),
    columns=(
        _studyid(), _usubjid(), _specimen(), _timepoint(),
        Column("CHROM", pa.string(), "Contig", nullable=False),
        Column("POS", pa.int64(), "1-based position of the trimmed allele (anchor base of an indel)", nullable=False),
        Column("REF", pa.string(), "Reference allele (trimmed)", nullable=False),
        Column("ALT", pa.string(), "Alternate allele (trimmed)", nullable=False),
        Column("VARIANT_TYPE", pa.string(), "SNV, MNV, INS, DEL or COMPLEX", nullable=False),
        Column("FILTER", pa.string(), "FILTER column of the record", nullable=False),
        Column("DEPTH", pa.int64(), "Tumour depth (FORMAT DP, else sum of AD)", unit="reads"),
        Column("ALT_READS", pa.int64(), "Tumour reads supporting the ALT (FORMAT AD)", unit="reads"),
        Column("VAF", pa.float64(), "Tumour variant allele fraction (FORMAT AF, else from AD)"),
        Column("POPULATION_AF", pa.float64(), "Largest population allele frequency annotated (gnomAD, 1000 Genomes...)"),
        Column("CONSEQUENCE", pa.string(), "Most severe consequence of the allele across transcripts (null when unannotated)"),
        Column("COUNTED", pa.bool_(), "Counted in the TMB numerator", nullable=False),
        Column("FIRST_FAILED_FILTER", pa.string(), "First filter that removed the variant (filter, duplicate, depth, alt_reads, vaf, population, hotspot, not_coding, synonymous, not_callable); null when counted"),
    ),
))


# --- genomics: MSI -----------------------------------------------------------------

_MSI_MODE = Column("MODE", pa.string(), "paired (tumour vs its normal) or tumor_only (tumour vs the panel-of-normals baseline)", nullable=False)

_register(Table(
    name="genomics.msi",
    path="genomics/msi.parquet",
    description="Microsatellite instability per tumour specimen: sites evaluated and unstable, score, status and the protocol's MSI-H exclusion flag.",
    key=(N.SPECIMEN_ID,),
    columns=(
        _studyid(), _usubjid(), _specimen(), _timepoint(),
        Column("NORMAL_SPECIMEN_ID", pa.string(), "Matched normal specimen (paired mode); null in tumour-only mode", source="samplesheet"),
        _MSI_MODE,
        Column("SITES_SCANNED", pa.int64(), "Microsatellites in the site table (biomarkers msi scan)", nullable=False),
        Column("SITES_EVALUATED", pa.int64(), "Sites with enough spanning reads in the tumour and its reference (normal or baseline), not excluded", nullable=False),
        Column("SITES_UNSTABLE", pa.int64(), "Evaluated sites whose tumour length distribution differs from the reference (q < alpha)", nullable=False),
        Column("SITES_EXCLUDED", pa.int64(), "Sites the baseline excluded (unstable in normals or too few covered normals); 0 in paired mode", nullable=False),
        Column("MSI_SCORE", pa.float64(), "Unstable sites as a percentage of evaluated sites (MSIsensor's score); null when not evaluable", unit="%"),
        Column("THRESHOLD", pa.float64(), "Score at or above which the specimen is MSI-H (assets/msi.yaml, per mode)", unit="%", nullable=False),
        Column("MSI_STATUS", pa.string(), "MSI-H, MSS, or NOT_EVALUABLE when no site had enough coverage", nullable=False),
        Column("QC", pa.string(), "PASS, or NOT_EVALUABLE when no site could be evaluated", nullable=False),
        Column("MSI_H_EXCLUSION", pa.bool_(), "True when MSI-H: meets the protocol's exclusion criterion (MSI-H/dMMR); null when not evaluable"),
    ),
    biomarkers=(
        Biomarker(column="MSI_SCORE", name="MSI score", modality="genomics", unit="%", cutoff="MSI_STATUS", qc_column="QC"),
        Biomarker(column="MSI_STATUS", name="MSI status", modality="genomics", cutoff="MSI_STATUS", qc_column="QC"),
    ),
))

_register(Table(
    name="genomics.msi_sites",
    path="genomics/msi_sites.parquet",
    description="Microsatellite evidence per site and tumour specimen: repeat-length distributions, test, q-value and call (sites with at least one spanning read).",
    key=(N.SPECIMEN_ID, "SITE_ID"),
    columns=(
        _studyid(), _usubjid(), _specimen(), _timepoint(), _MSI_MODE,
        Column("SITE_ID", pa.string(), "CHROM:START:UNIT of the site in the site table", nullable=False),
        Column("CHROM", pa.string(), "Contig", nullable=False),
        Column("START", pa.int64(), "Repeat tract start, 0-based", nullable=False),
        Column("END", pa.int64(), "Repeat tract end, 0-based exclusive", nullable=False),
        Column("UNIT", pa.string(), "Repeat unit", nullable=False),
        Column("REF_REPEATS", pa.int64(), "Repeats of the unit in the reference", nullable=False),
        Column("TUMOR_DEPTH", pa.int64(), "Tumour fragments spanning the repeat with both flanks", nullable=False),
        Column("TUMOR_LENGTHS", pa.string(), "Tumour repeat-length distribution, 'length:fragments' pairs (length in bases)", nullable=False),
        Column("REFERENCE_DEPTH", pa.int64(), "Normal (paired) or pooled baseline (tumour-only) fragments spanning the repeat", nullable=False),
        Column("REFERENCE_LENGTHS", pa.string(), "Normal or baseline repeat-length distribution, 'length:fragments' pairs", nullable=False),
        Column("DISPERSION", pa.float64(), "Baseline dispersion the statistic was divided by (1 in paired mode)", nullable=False),
        Column("STATISTIC", pa.float64(), "Pearson chi-square of tumour vs reference lengths (divided by DISPERSION); null when not evaluated"),
        Column("DF", pa.int64(), "Degrees of freedom (distinct lengths - 1)", nullable=False),
        Column("P_VALUE", pa.float64(), "Chi-square p-value; null when not evaluated"),
        Column("Q_VALUE", pa.float64(), "Benjamini-Hochberg q-value over the specimen's evaluated sites"),
        Column("SHIFT", pa.float64(), "Fraction of tumour fragments off the reference distribution (total variation distance)"),
        Column("MEAN_LENGTH_DIFF", pa.float64(), "Mean repeat length, tumour minus reference", unit="bases"),
        Column("CALL", pa.string(), "UNSTABLE, STABLE, LOW_COVERAGE or EXCLUDED (by the baseline)", nullable=False),
    ),
))


# --- analysis: outcomes and biomarker tables; analysis.* stays last -----------------

_register(Table(
    name="analysis.subjects",
    path="analysis/subjects.parquet",
    description="One row per subject of ADSL with the outcomes derived from ADTTE and ADRS (assets/outcomes.yaml says how).",
    key=(N.USUBJID,),
    columns=(
        _studyid(), _usubjid(),
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

_register(Table(
    name="analysis.biomarkers_long",
    path="analysis/biomarkers_long.parquet",
    description="Every biomarker value of every modality table in the results, one row per subject, specimen, timepoint and biomarker (tables declare their biomarkers in schemas.py).",
    key=(N.USUBJID, N.SPECIMEN_ID, N.TIMEPOINT, "BIOMARKER"),
    columns=(
        _studyid(), _usubjid(), _specimen(nullable=True), _timepoint(),
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

_register(Table(
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


def _column_label(name: str) -> str:
    """A biomarker name as a column-name stem: upper case, letters, digits and _."""
    return "".join(ch if ch.isalnum() else "_" for ch in name.upper()).strip("_")


def _analysis_wide() -> Table:
    """``analysis.wide``: its columns follow every biomarker declared so far in the registry."""
    columns = [
        _studyid(), _usubjid(),
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
            stem = _column_label(marker.name)
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


_register(_analysis_wide())

# --- pipeline --------------------------------------------------------------------

_register(Table(
    name="pipeline.inputs",
    path="pipeline_info/inputs.parquet",
    description="Checksums of every input file a run read.",
    key=("PATH",),
    columns=(
        Column("ROLE", pa.string(), "What the file is to the run", nullable=False),
        Column("PATH", pa.string(), "Path as given", nullable=False),
        Column("BYTES", pa.int64(), "Size", unit="bytes", nullable=False),
        Column("SHA256", pa.string(), "SHA-256 of the file content", nullable=False),
    ),
))


# --- writing and reading ---------------------------------------------------------

def to_arrow(df: pd.DataFrame, name: str) -> pa.Table:
    """Check ``df`` against the declared table and convert it to Arrow.

    Columns are put in declared order; a missing or undeclared column, a null in a
    non-nullable column, or a value that does not convert is a programming error
    reported with the table and column name.
    """
    tbl = TABLES[name]
    declared = tbl.column_names
    missing = [c for c in declared if c not in df.columns]
    extra = [c for c in df.columns if c not in declared]
    if missing or extra:
        raise BiomarkersError(f"table {name}: missing columns {missing}, undeclared columns {extra}")
    schema = tbl.schema()
    arrays = []
    for col in tbl.columns:
        series = df[col.name]
        try:
            arr = pa.array(series, type=col.type, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise BiomarkersError(f"table {name}: column {col.name} does not convert to {col.type}: {exc}") from None
        if not col.nullable and arr.null_count:
            raise BiomarkersError(f"table {name}: column {col.name} has {arr.null_count} null values but is required")
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)


def _metadata(tbl: Table, provenance: dict | None) -> dict[bytes, bytes]:
    payload = {
        "table": tbl.name,
        "description": tbl.description,
        "key": list(tbl.key),
        "columns": [
            {"name": c.name, "type": str(c.type), "unit": c.unit, "description": c.description, "source": c.source}
            for c in tbl.columns
        ],
        "provenance": provenance or {},
    }
    return {METADATA_KEY: json.dumps(payload, sort_keys=True).encode()}


def write_table(df: pd.DataFrame, name: str, outdir: str | Path, *, provenance: dict | None = None) -> Path:
    """Write ``df`` as the declared table under ``outdir`` (atomically). Returns the path."""
    tbl = TABLES[name]
    arrow = to_arrow(df.reset_index(drop=True), name)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), **_metadata(tbl, provenance)})
    path = Path(outdir) / tbl.path
    with atomic_path(path) as tmp:
        pq.write_table(arrow, tmp, compression="zstd")
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def concat_parts(paths: list[str | Path], name: str) -> pd.DataFrame:
    """Concatenate per-task parts of one declared table (e.g. one TMB row per Nextflow task).

    Parts are sorted by the table's key so the result does not depend on the order
    tasks finished in.
    """
    tbl = TABLES[name]
    frames = []
    for path in paths:
        meta = table_metadata(path)
        if meta.get("table") != name:
            raise BiomarkersError(f"{path} holds table {meta.get('table')!r}, not {name!r}")
        frames.append(read_table(path))
    if not frames:
        return pd.DataFrame({c.name: pd.Series(dtype=c.type.to_pandas_dtype()) for c in tbl.columns})
    merged = pd.concat(frames, ignore_index=True)
    return merged.sort_values(list(tbl.key) or tbl.column_names[:1], kind="stable").reset_index(drop=True)


def table_metadata(path: str | Path) -> dict:
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(METADATA_KEY, b"{}"))


def data_dictionary() -> pd.DataFrame:
    rows = []
    for tbl in TABLES.values():
        for col in tbl.columns:
            rows.append({
                "table": tbl.path, "column": col.name, "type": str(col.type), "unit": col.unit,
                "required": not col.nullable, "description": col.description, "source": col.source,
            })
    return pd.DataFrame(rows)


def data_dictionary_markdown() -> str:
    lines = [
        "# Data dictionary",
        "",
        "Generated by `biomarkers schemas --markdown` from `src/biomarkers/schemas.py`; do not edit by hand.",
        "Each Parquet file also carries this dictionary in its metadata (key `biomarkers`).",
        "",
    ]
    for tbl in TABLES.values():
        lines += [f"## `{tbl.path}`", "", tbl.description, ""]
        if tbl.key:
            lines += [f"Key: {', '.join(f'`{k}`' for k in tbl.key)}", ""]
        lines += ["| column | type | unit | required | description | source |", "|---|---|---|---|---|---|"]
        for col in tbl.columns:
            desc = col.description.replace("|", "\\|")
            lines.append(f"| `{col.name}` | {col.type} | {col.unit} | {'yes' if not col.nullable else ''} | {desc} | {col.source} |")
        lines.append("")
    return "\n".join(lines)
