"""Genomics tables: TMB and MSI (``genomics/``)."""

from __future__ import annotations

import pyarrow as pa

from ... import names as N
from ...assets import load_config
from .._registry import Biomarker, Column, Table, register, specimen, studyid, timepoint, usubjid

# The TMB-high cut-off of the counting rules (assets/tmb.yaml), so the analysis groups by the same number.
_TMB_HIGH = float(load_config("tmb.yaml", "tmb.schema.json")["tmb_high"])

_TMB_FILTER_DOC = {
    "FILTER": "FILTER not PASS", "DUPLICATE": "the same trimmed variant seen before", "DEPTH": "tumour depth below the minimum",
    "ALT_READS": "too few tumour reads support the ALT", "VAF": "tumour VAF below the minimum",
    "POPULATION": "population allele frequency above the maximum (tumour-only mode)",
    "HOTSPOT": "a known hotspot (tumour-only mode, with --hotspots)", "NOT_CODING": "not a coding consequence (or outside the coding BED)",
    "SYNONYMOUS": "synonymous (counted only when count_synonymous is true)", "NOT_CALLABLE": "outside the callable territory",
}

register(Table(
    name="genomics.tmb",
    path="genomics/tmb.parquet",
    description="Tumour mutational burden: one row per tumour specimen, with the denominator, the variant funnel and the parameters used.",
    key=(N.SPECIMEN_ID,),
    columns=(
        studyid(), usubjid(), specimen(), timepoint(),
        Column("TUMOR_SAMPLE", pa.string(), "Tumour sample name in the VCF", nullable=False),
        Column("NORMAL_SAMPLE", pa.string(), "Matched normal: its VCF sample name, else its BAM file name; null in tumour-only mode"),
        Column("MODE", pa.string(), "paired (a matched normal was used) or tumor_only", nullable=False),
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
        Biomarker(column="TMB", name="TMB", modality="genomics", unit="mut/Mb", cutoff=_TMB_HIGH),
        Biomarker(column="TMB_HIGH", name="TMB-high", modality="genomics", cutoff="TMB_HIGH"),
    ),
))

register(Table(
    name="genomics.tmb_variants",
    path="genomics/tmb_variants",
    description="Every variant the TMB step saw (multi-allelic records split, alleles trimmed), whether it counted and, if not, the first filter that removed it. One file per tumour specimen.",
    key=(N.SPECIMEN_ID, "CHROM", "POS", "REF", "ALT"),
    partition=N.SPECIMEN_ID,
    columns=(
        studyid(), usubjid(), specimen(), timepoint(),
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


_MSI_MODE = Column("MODE", pa.string(), "paired (tumour vs its normal) or tumor_only (tumour vs the panel-of-normals baseline)", nullable=False)

register(Table(
    name="genomics.msi",
    path="genomics/msi.parquet",
    description="Microsatellite instability per tumour specimen: sites evaluated and unstable, score, status and the protocol's MSI-H exclusion flag.",
    key=(N.SPECIMEN_ID,),
    columns=(
        studyid(), usubjid(), specimen(), timepoint(),
        Column("NORMAL_SPECIMEN_ID", pa.string(), "Matched normal specimen (paired mode); null in tumour-only mode", source="samplesheet"),
        _MSI_MODE,
        Column("SITES_SCANNED", pa.int64(), "Microsatellites in the site table (biomarkers msi scan)", nullable=False),
        Column("SITES_EVALUATED", pa.int64(), "Sites (all repeat classes) with enough spanning reads in the tumour and its reference (normal or baseline), not excluded", nullable=False),
        Column("SITES_UNSTABLE", pa.int64(), "Evaluated sites (all classes) whose tumour length distribution differs from the reference (q < alpha, shift >= min_shift)", nullable=False),
        Column("SITES_EXCLUDED", pa.int64(), "Sites the baseline excluded (unstable in normals or too few covered normals); 0 in paired mode", nullable=False),
        Column("SITES_NO_CONTIG", pa.int64(), "Sites on contigs the tumour's (or, paired, the normal's) alignments lack: not evaluated; a paired call uses the contigs both samples have", nullable=False),
        Column("SCORE_SITES", pa.int64(), "Evaluated scored sites (long repeats: assets/msi.yaml score), the score's denominator", nullable=False),
        Column("SCORE_UNSTABLE", pa.int64(), "Unstable scored sites, the score's numerator", nullable=False),
        Column("MSI_SCORE", pa.float64(), "Unstable scored sites as a percentage of evaluated scored sites; null when not evaluable", unit="%"),
        Column("SCORE_ALL_SITES", pa.float64(), "Unstable sites as a percentage of all evaluated sites (MSIsensor's score on this site table, short repeats included)", unit="%"),
        Column("SCORE_BY_CLASS", pa.string(), "Unstable/evaluated sites per repeat class (unit length, long = scored or short), e.g. 'mono long 40/150, mono short 0/300'", nullable=False),
        Column("MSS_CUTOFF", pa.float64(), "Score at or above which the specimen is not MSS: more unstable scored sites than normals reach at RULE_FPR, and above every calibration normal; null when not evaluable", unit="%"),
        Column("THRESHOLD", pa.float64(), "Score at or above which the specimen is MSI-H (the rule's MSI-H score, or MSS_CUTOFF when higher); null when not evaluable", unit="%"),
        Column("MIN_UNSTABLE_SITES", pa.int64(), "Unstable scored sites MSI-H also needs", nullable=False),
        Column("NULL_SITE_RATE", pa.float64(), "Per-site false-positive rate of scored sites in normals behind MSS_CUTOFF (upper 95 % bound)", nullable=False),
        Column("RULE_FPR", pa.float64(), "Stated false-positive rate of the not-MSS cut-off on normals", nullable=False),
        Column("RULE_SOURCE", pa.string(), "Where the rule came from: the baseline that calibrated it (and on how many normals) or the assets/msi.yaml defaults, with any warning", nullable=False),
        Column("MSI_STATUS", pa.string(), "MSI-H, MSS, INDETERMINATE (MSI-L: between the two, MMR IHC decides) or NOT_EVALUABLE (no scored site had enough coverage)", nullable=False),
        Column("QC", pa.string(), "PASS, or NOT_EVALUABLE when no scored site could be evaluated", nullable=False),
        Column("MSI_H_EXCLUSION", pa.bool_(), "True when MSI-H: meets the protocol's exclusion criterion (MSI-H/dMMR); False when MSS; null when indeterminate or not evaluable"),
    ),
    biomarkers=(
        Biomarker(column="MSI_SCORE", name="MSI score", modality="genomics", unit="%", cutoff="MSI_STATUS", qc_column="QC"),
        Biomarker(column="MSI_STATUS", name="MSI status", modality="genomics", cutoff="MSI_STATUS", qc_column="QC"),
    ),
))

register(Table(
    name="genomics.msi_sites",
    path="genomics/msi_sites",
    description="Microsatellite evidence per site and tumour specimen: repeat-length distributions, test, q-value and call (sites with at least one spanning read). One file per tumour specimen.",
    key=(N.SPECIMEN_ID, "SITE_ID"),
    partition=N.SPECIMEN_ID,
    columns=(
        studyid(), usubjid(), specimen(), timepoint(), _MSI_MODE,
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
        Column("Q_VALUE", pa.float64(), "Benjamini-Hochberg q-value over the specimen's evaluated sites of the same family (scored or not)"),
        Column("SHIFT", pa.float64(), "Fraction of tumour fragments off the reference distribution (total variation distance)"),
        Column("MEAN_LENGTH_DIFF", pa.float64(), "Mean repeat length, tumour minus reference", unit="bases"),
        Column("CALL", pa.string(), "UNSTABLE, STABLE, LOW_COVERAGE or EXCLUDED (by the baseline)", nullable=False),
        Column("SCORED", pa.bool_(), "A scored site (long repeat), counted in MSI_SCORE; q-values are computed within scored and within other sites", nullable=False),
    ),
))
