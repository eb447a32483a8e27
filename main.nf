#!/usr/bin/env nextflow
/*
 * biomarkers: biospecimen custody and omics biomarkers of the NCT07007182 trial.
 *
 *   nextflow run . -profile test,docker --outdir results
 *   nextflow run . -profile slurm,singularity -params-file params.yaml --outdir results
 *
 * Parameters are declared once, in nextflow_schema.json (nf-schema validates them
 * here; `biomarkers run` reads the same file). Every process calls one
 * `biomarkers <command>`; `biomarkers run` runs the same steps in-process.
 */

include { SIMULATE                 } from './modules/local/simulate/main'
include { VALIDATE                 } from './modules/local/validate/main'
include { PIPELINE_INITIALISATION; paramsMap; launchParams; jsonText; samplesheetText; optionalFile; simulatedParams; simulatedSamplesheetRows; samplesheetRows } from './subworkflows/local/utils_biomarkers/main'
include { BIOMARKERS               } from './workflows/biomarkers'

workflow {
    PIPELINE_INITIALISATION()

    // The run's parameters, as a Map with paths as absolute strings, and the
    // samplesheet rows as [meta, file, index]: from the command line (validated by
    // nf-schema) or, with --simulate (the test profile, which needs no data), from
    // the simulated trial's params.yaml, as `biomarkers run --params-file` reads it.
    ch_versions = channel.empty()
    if (params.simulate) {
        SIMULATE(params.simulate_subjects, params.seed)
        ch_versions = ch_versions.mix(SIMULATE.out.versions)
        ch_params = SIMULATE.out.trial.map { trial -> simulatedParams(trial, params) }.first()
        ch_rows = ch_params.flatMap { p -> p.input ? simulatedSamplesheetRows(p.input) : [] }
    } else {
        ch_params = channel.value(paramsMap(params))
        ch_rows = params.input ? channel.fromList(samplesheetRows(params.input)) : channel.empty()
    }

    // VALIDATE: the checks of `biomarkers run`, on the parameters and the samplesheet
    // (rewritten with absolute paths, in its order), and the tumour pairing.
    ch_run_params = ch_params.collectFile(name: 'params.json') { p -> jsonText(launchParams(p)) }
    ch_samplesheet = ch_rows.toList().collectFile(name: 'samplesheet.csv') { rows -> samplesheetText(rows) }
    VALIDATE(ch_run_params, ch_samplesheet, ch_params.map { p -> optionalFile(p.protocol) }, ch_params.map { p -> p.input ? "${p.input}" : '' })
    ch_versions = ch_versions.mix(VALIDATE.out.versions)

    BIOMARKERS(ch_params, ch_rows, VALIDATE.out.tumors)

    // pipeline_info/: the parameters the steps ran with and every task's software versions
    // (Nextflow's own execution report, timeline and trace go there too, nextflow.config).
    ch_params
        .collectFile(name: 'params.json', storeDir: "${params.outdir}/pipeline_info") { p -> jsonText(p) }
    ch_versions
        .mix(BIOMARKERS.out.versions)
        .map { yml -> (yml as Path).text }
        .unique()
        .collectFile(name: 'software_versions.yml', storeDir: "${params.outdir}/pipeline_info", sort: true) { text -> text }
}
