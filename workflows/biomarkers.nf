/*
 * The biomarkers pipeline: the same steps as `biomarkers run`, as processes that
 * each call one `biomarkers <command>`, publishing the same layout (conf/modules.config):
 * custody/, genomics/, immune/, tme/, pathology/, analysis/, report/, pipeline_info/.
 *
 * A step runs when its inputs are given, as in `biomarkers run`: custody with a
 * ledger or custody exports; TMB with somatic VCFs and the targets; MSI with tumour
 * BAMs and the reference FASTA; single-cell RNA with scrna_pbmc / scrna_tumor rows
 * (tables under immune/ and tme/); flow cytometry with flow_fcs rows (immune/); TME with rnaseq_tumor rows or a pathology table; analysis with ADSL,
 * ADTTE and ADRS; the report always.
 */

include { CUSTODY        } from '../modules/local/custody/main'
include { ANALYSIS       } from '../modules/local/analysis/main'
include { REPORT         } from '../modules/local/report/main'
include { TUMOUR_INPUTS  } from '../subworkflows/local/inputs/main'
include { GENOMICS_TMB   } from '../subworkflows/local/tmb/main'
include { GENOMICS_MSI   } from '../subworkflows/local/msi/main'
include { TME            } from '../subworkflows/local/tme/main'
include { SINGLECELL     } from '../modules/local/singlecell/main'
include { SINGLECELL_COLLECT_PBMC  } from '../modules/local/singlecell_collect_pbmc/main'
include { SINGLECELL_COLLECT_TUMOR } from '../modules/local/singlecell_collect_tumor/main'
include { FLOW           } from '../modules/local/flow/main'
include { FLOW_COLLECT   } from '../modules/local/flow_collect/main'
include { anchorLog; optionalFile; sortedFiles } from '../subworkflows/local/utils_biomarkers/main'

workflow BIOMARKERS {
    take:
    run_params   // value channel: Map of the run's parameters (paths as absolute strings)
    rows         // channel: [meta, file, index] per samplesheet row
    tumors_csv   // channel: validation/tumors.csv of VALIDATE (the tumour pairing)
    provenance   // channel: PROVENANCE's pipeline_info/ files (versions, params, input SHA-256)

    main:
    ch_versions = channel.empty()

    // Chain of custody
    ch_custody = run_params
        .filter { p -> p.ledger || p.custody_exports }
        .map { p ->
            if (!p.subjects || !p.milestones) {
                error("the custody step needs the randomization list and milestone dates (--subjects, --milestones)")
            }
            p
        }
    CUSTODY(
        ch_custody.map { p -> sortedFiles(p.custody_exports) },
        ch_custody.map { p -> p.ledger && file(p.ledger).exists() ? file(p.ledger) : [] },
        ch_custody.map { p -> file(p.subjects) },
        ch_custody.map { p -> file(p.milestones) },
        ch_custody.map { p -> optionalFile(p.input) },
        ch_custody.map { p -> p.data_cutoff ?: '' },
        ch_custody.map { p -> optionalFile(p.protocol) },
        ch_custody.map { p -> anchorLog(p) },
        ch_custody.map { p -> p.custody_key_env ?: '' },
    )
    ch_versions = ch_versions.mix(CUSTODY.out.versions)

    // Genomics: TMB (somatic VCFs and the targets) and MSI (tumour BAMs and the FASTA)
    TUMOUR_INPUTS(tumors_csv)
    GENOMICS_TMB(TUMOUR_INPUTS.out.tmb_tasks, run_params.filter { p -> p.targets }.first())
    GENOMICS_MSI(TUMOUR_INPUTS.out.tumours, run_params.filter { p -> p.fasta }.first())
    ch_versions = ch_versions.mix(GENOMICS_TMB.out.versions, GENOMICS_MSI.out.versions)

    // Single-cell RNA: one SINGLECELL task per scrna_pbmc / scrna_tumor row, one collect per
    // compartment (blood into immune/, tumour into tme/)
    ch_scrna = rows
        .filter { meta, _counts, _index -> meta.assay == 'scrna_pbmc' || meta.assay == 'scrna_tumor' }
        .map { meta, counts, _index -> [meta, counts] }
    SINGLECELL(
        ch_scrna,
        run_params.map { p -> optionalFile(p.singlecell_settings) }.first(),
        run_params.map { p -> optionalFile(p.singlecell_markers) }.first(),
        run_params.map { p -> optionalFile(p.protocol) }.first(),
        run_params.map { p -> optionalFile(p.singlecell_reference) }.first(),
    )
    ch_sc_parts = SINGLECELL.out.parts.branch { meta, _tables, _h5ad ->
        pbmc: meta.assay == 'scrna_pbmc'
        tumor: true
    }
    ch_subjects = run_params.map { p -> optionalFile(p.subjects) }.first()
    SINGLECELL_COLLECT_PBMC(
        ch_sc_parts.pbmc.flatMap { _meta, tables, h5ad -> tables + [h5ad] }.collect(sort: { a, b -> a.name <=> b.name }),
        ch_subjects,
    )
    SINGLECELL_COLLECT_TUMOR(
        ch_sc_parts.tumor.flatMap { _meta, tables, h5ad -> tables + [h5ad] }.collect(sort: { a, b -> a.name <=> b.name }),
        ch_subjects,
    )
    ch_versions = ch_versions.mix(SINGLECELL.out.versions.first(), SINGLECELL_COLLECT_PBMC.out.versions,
        SINGLECELL_COLLECT_TUMOR.out.versions)

    // Flow cytometry: one FLOW task per flow_fcs row (one FCS file of one specimen and panel),
    // then FLOW_COLLECT into immune/
    ch_fcs = rows
        .filter { meta, _fcs, _index -> meta.assay == 'flow_fcs' }
        .map { meta, fcs, _index -> [meta, fcs] }
    FLOW(
        ch_fcs,
        run_params.map { p -> optionalFile(p.flow_counts) }.first(),
        run_params.map { p -> optionalFile(p.flow_workspace) }.first(),
        run_params.map { p -> optionalFile(p.protocol) }.first(),
    )
    FLOW_COLLECT(FLOW.out.parts.flatMap { _meta, tables, h5ad -> tables + [h5ad] }.collect(sort: { a, b -> a.name <=> b.name }))
    ch_versions = ch_versions.mix(FLOW.out.versions.first(), FLOW_COLLECT.out.versions)

    // Circulating immune tables (flow and PBMC single-cell) for the analysis (Parquet) and
    // the report (Parquet and figures); the per-specimen .h5ad files are not staged.
    ch_immune_all = FLOW_COLLECT.out.tables.mix(SINGLECELL_COLLECT_PBMC.out.tables)
        .collect(sort: { a, b -> a.name <=> b.name }).ifEmpty([])
    ch_immune_tables = ch_immune_all.map { files -> files.findAll { f -> f.name.endsWith('.parquet') } }
    ch_immune_report = ch_immune_all.map { files -> files.findAll { f -> f.name.endsWith('.parquet') || f.name.endsWith('.png') } }

    ch_custody_tables = CUSTODY.out.tables.collect(sort: { a, b -> a.name <=> b.name }).ifEmpty([])
    // Sorted: the order two steps finish in must not change a task's inputs (-resume).
    ch_genomics_tables = GENOMICS_TMB.out.tables.mix(GENOMICS_MSI.out.tables).collect(sort: { a, b -> a.name <=> b.name }).ifEmpty([])

    // Tumour microenvironment: expression signatures, pathology results, eligibility checks
    TME(rows, run_params, ch_genomics_tables)
    ch_versions = ch_versions.mix(TME.out.versions)
    // with the tumour single-cell tables and figures (not the per-specimen .h5ad files)
    ch_sc_tumor = SINGLECELL_COLLECT_TUMOR.out.tables.flatten()
        .filter { f -> f.name.endsWith('.parquet') || f.name.endsWith('.png') }
    ch_tme_all = TME.out.tables.mix(ch_sc_tumor).collect(sort: { a, b -> a.name <=> b.name }).ifEmpty([])
    ch_tme_tables = ch_tme_all.map { files -> files.findAll { f -> f.name != 'results.parquet' } }
    ch_pathology_tables = ch_tme_all.map { files -> files.findAll { f -> f.name == 'results.parquet' } }

    // Outcomes: biomarker tables joined to the ADaM data sets
    ch_adam = run_params.filter { p -> p.adsl && p.adtte && p.adrs }
    ANALYSIS(
        ch_custody_tables,
        ch_genomics_tables,
        ch_tme_tables,
        ch_pathology_tables,
        ch_immune_tables,
        ch_adam.map { p -> file(p.adsl) },
        ch_adam.map { p -> file(p.adtte) },
        ch_adam.map { p -> file(p.adrs) },
        ch_adam.map { p -> optionalFile(p.outcomes_config) },
        ch_adam.map { p -> optionalFile(p.protocol) },
    )
    ch_versions = ch_versions.mix(ANALYSIS.out.versions)

    // The report, always last, of whatever tables exist
    REPORT(
        ch_custody_tables,
        ch_genomics_tables,
        ch_tme_tables,
        ch_pathology_tables,
        ch_immune_report,
        ANALYSIS.out.tables.collect(sort: { a, b -> a.name <=> b.name }).ifEmpty([]),
        provenance,
        run_params.map { p -> optionalFile(p.protocol) },
    )
    ch_versions = ch_versions.mix(REPORT.out.versions)

    emit:
    report = REPORT.out.html
    versions = ch_versions
}
