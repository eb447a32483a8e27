"""Column names and vocabularies spelled once.

Key columns follow CDISC where CDISC has a name (STUDYID, USUBJID, ARMCD), so a
statistician joins our tables to ADaM data sets without renaming anything.
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

# Assays a samplesheet row may name (mirrored by the enum in assets/schema_input.json).
ASSAYS = ("wes_tumor", "wes_normal", "panel_tumor", "rnaseq", "scrnaseq", "flow", "microbiome", "vcf_somatic")
