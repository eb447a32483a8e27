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
include { INPUT_FILE               } from './modules/local/input_file/main'
include { PROVENANCE               } from './modules/local/provenance/main'
include { PIPELINE_INITIALISATION; paramsMap; launchParams; launchPath; jsonText; samplesheetText; optionalFile; simulatedParams; simulatedSamplesheetRows; samplesheetRows; inputFiles } from './subworkflows/local/utils_biomarkers/main'
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
    // (rewritten with absolute paths, in its order), and the tumour pairing. Messages and
    // validation/inputs.csv name the samplesheet and the protocol as given (absolute).
    ch_run_params = ch_params.collectFile(name: 'params.json') { p -> jsonText(launchParams(p)) }.first()
    ch_samplesheet = ch_rows.toList().collectFile(name: 'samplesheet.csv') { rows -> samplesheetText(rows) }.first()
    ch_input_name = ch_params.map { p -> p.input ? launchPath("${p.input}") : '' }
    VALIDATE(
        ch_run_params,
        ch_samplesheet,
        ch_params.map { p -> optionalFile(p.protocol) },
        ch_input_name,
        ch_params.map { p -> p.protocol ? launchPath("${p.protocol}") : '' },
    )
    ch_versions = ch_versions.mix(VALIDATE.out.versions)

    // Every input VALIDATE lists (a glob as the files it matches) staged in an INPUT_FILE task
    // of its own, as `biomarkers run` reads them before its first step: the checks that read
    // the file (sample names inside BAM/VCF, flow counts and workspace; VALIDATE sees no data
    // file), then its SHA-256. The lines sorted (the order tasks finish in must not change
    // PROVENANCE's input: -resume; the empty line makes the file exist when nothing was
    // hashed), then PROVENANCE writes pipeline_info/ as biomarkers run does.
    INPUT_FILE(
        VALIDATE.out.inputs.splitCsv(header: true).flatMap { row -> inputFiles(row as Map) }.unique(),
        ch_run_params,
        ch_samplesheet,
        ch_input_name,
        ch_params.map { p -> optionalFile(p.protocol) },
    )
    ch_hashes = INPUT_FILE.out.hash
        .map { line -> (line as Path).text }
        .mix(channel.of(''))
        .collectFile(name: 'input_hashes.tsv', sort: true)
    PROVENANCE(ch_run_params, ch_samplesheet, ch_hashes)
    ch_versions = ch_versions.mix(INPUT_FILE.out.versions.first(), PROVENANCE.out.versions)

    // The steps start once every input file passed its checks (PROVENANCE ran after the last
    // INPUT_FILE task), as under biomarkers run: a sample swap stops the run before any step.
    ch_checked = PROVENANCE.out.versions
    BIOMARKERS(
        ch_params.combine(ch_checked).map { p, _checked -> p }.first(),
        ch_rows.combine(ch_checked).map { meta, reads, index, _checked -> tuple(meta, reads, index) },
        VALIDATE.out.tumors.combine(ch_checked).map { tumors, _checked -> tumors },
        PROVENANCE.out.files,
    )

    // pipeline_info/: PROVENANCE's files (published by conf/modules.config), the biomarkers
    // version every process ran (Nextflow's own execution report, timeline and trace go there
    // too, nextflow.config).
    ch_versions
        .mix(BIOMARKERS.out.versions)
        .map { yml -> (yml as Path).text }
        .unique()
        .collectFile(name: 'task_versions.yml', storeDir: "${params.outdir}/pipeline_info", sort: true) { text -> text }
}
