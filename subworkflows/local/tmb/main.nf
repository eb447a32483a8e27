// Tumour mutational burden: one TMB task per tumour specimen with a somatic VCF,
// then one TMB_COLLECT into genomics/tmb.parquet and genomics/tmb_variants.parquet.

include { TMB         } from '../../../modules/local/tmb/main'
include { TMB_COLLECT } from '../../../modules/local/tmb_collect/main'

workflow GENOMICS_TMB {
    take:
    tumours_with_vcf   // channel: [meta, vcf, vcf index, tumour bam, index, normal bam or [], index or []]
    fasta              // value channel: [fasta, [indices]]
    targets            // value channel: target BED
    coding_bed         // value channel: coding BED or []
    subjects           // value channel: randomization list CSV or [] (TMB by arm in the plot)

    main:
    TMB(tumours_with_vcf, fasta, targets, coding_bed)
    ch_parts = TMB.out.parts
        .flatMap { _meta, tmb, variants -> [tmb, variants] }
        .collect(sort: { a, b -> a.name <=> b.name })
    TMB_COLLECT(ch_parts, subjects)

    emit:
    tables = TMB_COLLECT.out.tables
    versions = TMB.out.versions.first().mix(TMB_COLLECT.out.versions)
}
