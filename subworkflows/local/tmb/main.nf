// Tumour mutational burden: one TMB task per somatic VCF, then one TMB_COLLECT into
// genomics/tmb.parquet, genomics/tmb_variants/ (one file per specimen) and the plot.

include { TMB         } from '../../../modules/local/tmb/main'
include { TMB_COLLECT } from '../../../modules/local/tmb_collect/main'
include { fastaWithIndex; optionalFile } from '../utils_biomarkers/main'

workflow GENOMICS_TMB {
    take:
    tmb_tasks    // channel: [meta, vcf, vcf index, tumour bam or [], index, normal bam or [], index]
    run_params   // value channel: Map of the run's parameters (targets given)

    main:
    // A VCF without its tumour BAM is counted over the targets, or the size given.
    ch_tasks = tmb_tasks
        .combine(run_params)
        .map { meta, vcf, vcf_index, bam, index, normal, normal_index, p ->
            [meta + [callable_mb: bam ? null : p.tmb_callable_mb], vcf, vcf_index, bam, index, normal, normal_index]
        }
    TMB(
        ch_tasks,
        run_params.map { p -> p.fasta ? fastaWithIndex(p.fasta) : [[], []] }.first(),
        run_params.map { p -> file(p.targets) }.first(),
        run_params.map { p -> optionalFile(p.coding_bed) }.first(),
        run_params.map { p -> optionalFile(p.tmb_config) }.first(),
        run_params.map { p -> optionalFile(p.tmb_hotspots) }.first(),
        run_params.map { p -> p.tmb_tumor_only ? 'yes' : '' }.first(),
        run_params.map { p -> optionalFile(p.protocol) }.first(),
    )
    ch_parts = TMB.out.parts
        .flatMap { _meta, tmb, variants -> [tmb, variants] }
        .collect(sort: { a, b -> a.name <=> b.name })
    TMB_COLLECT(ch_parts, run_params.map { p -> optionalFile(p.subjects) }.first())

    emit:
    tables = TMB_COLLECT.out.tables
    versions = TMB.out.versions.first().mix(TMB_COLLECT.out.versions)
}
