// Tumour microenvironment, as biomarkers run does it: one TME_SCORE task per expression
// file of the samplesheet (assay rnaseq_tumor; a matrix holds many specimens, each named
// by its sample_name column, a quant.sf one) with its specimens as a sample table, then
// TME_COLLECT into tme/signatures.parquet; with --pathology, TME_PATHOLOGY into
// pathology/results.parquet and, with the randomization list (--subjects), TME_ELIGIBILITY
// into tme/eligibility.parquet (MSI from genomics/msi.parquet when the MSI step ran).

include { TME_SCORE       } from '../../../modules/local/tme_score/main'
include { TME_COLLECT     } from '../../../modules/local/tme_collect/main'
include { TME_PATHOLOGY   } from '../../../modules/local/tme_pathology/main'
include { TME_ELIGIBILITY } from '../../../modules/local/tme_eligibility/main'
include { optionalFile } from '../utils_biomarkers/main'

workflow TME {
    take:
    rows             // channel: [meta, file, index] per samplesheet row
    run_params       // value channel: Map of the run's parameters
    genomics_tables  // value channel: the genomics tables (a list; empty when no genomics step ran)

    main:
    ch_expression = rows.filter { meta, _file, _index -> meta.assay == 'rnaseq_tumor' }

    // One sample table per expression file (keyed by its name), its rows sorted.
    ch_samples = ch_expression
        .map { meta, expression, _index ->
            tuple("${expression.name}.samples.csv", "${meta.sample_name ?: meta.id},${meta.subject},${meta.id},${meta.timepoint}\n")
        }
        .collectFile(seed: "sample,subject,specimen,timepoint\n", sort: true)
        .map { table -> tuple(table.name.replace('.samples.csv', ''), table) }
    ch_files = ch_expression
        .map { _meta, expression, _index -> tuple(expression.name, expression) }
        .unique { key, _expression -> key }
    ch_tasks = ch_files
        .join(ch_samples)
        .combine(run_params)
        .map { key, expression, samples, p -> tuple([id: key, values: p.expression_values ?: 'counts'], expression, samples) }
    TME_SCORE(
        ch_tasks,
        run_params.map { p -> optionalFile(p.gene_lengths) }.first(),
        run_params.map { p -> optionalFile(p.gene_map) }.first(),
        run_params.map { p -> optionalFile(p.signatures) }.first(),
        run_params.map { p -> optionalFile(p.tx2gene) }.first(),
        run_params.map { p -> optionalFile(p.protocol) }.first(),
    )
    TME_COLLECT(TME_SCORE.out.parts.flatMap { _meta, parts -> parts }.collect(sort: { a, b -> a.name <=> b.name }))

    ch_pathology = run_params.filter { p -> p.pathology }
    TME_PATHOLOGY(
        ch_pathology.map { p -> file(p.pathology) },
        ch_pathology.map { p -> optionalFile(p.subjects) },
        ch_pathology.map { p -> optionalFile(p.protocol) },
    )
    ch_eligibility = ch_pathology.filter { p -> p.subjects }
    TME_ELIGIBILITY(
        TME_PATHOLOGY.out.results,
        ch_eligibility.map { p -> file(p.subjects) },
        genomics_tables.map { tables -> tables.findAll { table -> table.name == 'msi.parquet' } },
        ch_eligibility.map { p -> optionalFile(p.eligibility_rules) },
        ch_eligibility.map { p -> optionalFile(p.protocol) },
    )

    emit:
    tables = TME_COLLECT.out.tables.mix(TME_PATHOLOGY.out.results, TME_ELIGIBILITY.out.table, TME_ELIGIBILITY.out.plots)
    versions = TME_SCORE.out.versions.first().mix(TME_COLLECT.out.versions, TME_PATHOLOGY.out.versions, TME_ELIGIBILITY.out.versions)
}
