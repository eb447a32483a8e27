// Sequencing inputs, paired by `biomarkers validate` (VALIDATE), the same code that
// pairs them in `biomarkers run` (samplesheet.tumor_inputs): its validation/tumors.csv
// has one row per tumour specimen, with its mode (paired when its normal's BAM is in
// the samplesheet, else tumor_only) and its files. No pairing is done here.
//
// MSI: one task per tumour with a BAM (wes_tumor, else panel_tumor).
// TMB: one task per tumour with a somatic VCF, with its BAM when there is one (else the
// denominator is the targets or a given size) and its normal's BAM.

include { msiTask; tmbTask } from '../utils_biomarkers/main'

workflow TUMOUR_INPUTS {
    take:
    tumors_csv   // channel: validation/tumors.csv of VALIDATE

    main:
    ch_tumors = tumors_csv
        .splitCsv(header: true)
        .map { row -> row as Map }

    // [meta (with mode), tumour bam, index or [], normal bam or [], normal index or []]
    ch_msi = ch_tumors
        .filter { row -> row.tumor_bam }
        .map { row -> msiTask(row) }

    // [meta, vcf, vcf index, tumour bam or [], index or [], normal bam or [], index or []]
    ch_tmb = ch_tumors
        .filter { row -> row.vcf }
        .map { row -> tmbTask(row) }

    emit:
    tumours = ch_msi
    tmb_tasks = ch_tmb
}
