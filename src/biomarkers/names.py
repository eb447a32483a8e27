"""Column names and vocabularies spelled once.

Key columns follow CDISC where CDISC has a name (STUDYID, USUBJID, ARMCD), so a
statistician joins our tables to ADaM data sets without renaming anything.

Identifiers (column values, modes, options, file names) use American spelling:
``tumor``, ``tumor_only``, as the samplesheet's assays and the field's tools do.
Prose may say tumour.
"""

STUDYID = "STUDYID"
USUBJID = "USUBJID"
ARMCD = "ARMCD"
STRATUM = "STRATUM"
SPECIMEN_ID = "SPECIMEN_ID"
PARENT_SPECIMEN_ID = "PARENT_SPECIMEN_ID"
SPECIMEN_TYPE = "SPECIMEN_TYPE"
TIMEPOINT = "TIMEPOINT"
ASSAY = "ASSAY"

# Samplesheet columns (lower case, as nf-core samplesheets are).
SS_SUBJECT = "subject"
SS_SPECIMEN = "specimen"
SS_TIMEPOINT = "timepoint"
SS_SPECIMEN_TYPE = "specimen_type"
SS_ASSAY = "assay"
SS_FILE = "file"
SS_INDEX = "index"
SS_NORMAL = "normal_specimen"
SS_PANEL = "panel"        # flow_fcs: the flow panel (assets/flow/panels.yaml)
SS_BATCH = "batch"        # flow_fcs: acquisition batch
SS_CONTROL = "control"    # flow_fcs: true for a batch's reference control (no subject, no timepoint)

# Assays a samplesheet row may name (mirrored by the enum in assets/schema_input.json).
ASSAY_WES_TUMOR = "wes_tumor"
ASSAY_WES_NORMAL = "wes_normal"
ASSAY_PANEL_TUMOR = "panel_tumor"
ASSAY_VCF_SOMATIC = "vcf_somatic"
ASSAY_SCRNA_PBMC = "scrna_pbmc"      # single-cell RNA of PBMC (blood)
ASSAY_SCRNA_TUMOR = "scrna_tumor"    # single-cell RNA of dissociated tumour
SCRNA_ASSAYS = (ASSAY_SCRNA_PBMC, ASSAY_SCRNA_TUMOR)
TUMOR_BAM_ASSAYS = (ASSAY_WES_TUMOR, ASSAY_PANEL_TUMOR)
NORMAL_BAM_ASSAYS = (ASSAY_WES_NORMAL,)
ASSAY_FLOW_FCS = "flow_fcs"          # one FCS file of one blood specimen and flow panel
ASSAY_RNASEQ_TUMOR = "rnaseq_tumor"     # bulk RNA-seq of a tumour specimen: a matrix column (sample_name) or a quant.sf
ASSAYS = (ASSAY_WES_TUMOR, ASSAY_WES_NORMAL, ASSAY_PANEL_TUMOR, "rnaseq", "scrnaseq", ASSAY_FLOW_FCS, "microbiome", ASSAY_VCF_SOMATIC,
          ASSAY_SCRNA_PBMC, ASSAY_SCRNA_TUMOR, ASSAY_RNASEQ_TUMOR)

# Modes of a tumour analysis (the MODE column of genomics tables, log lines, Nextflow meta.mode).
PAIRED = "paired"
TUMOR_ONLY = "tumor_only"
MODES = (PAIRED, TUMOR_ONLY)

# Verbs of the per-specimen commands and of the cohort merge, the same for every modality:
# `biomarkers <modality> <verb>` writes one specimen's parts, `collect` merges the parts.
COLLECT = "collect"
