// Where a run's parameters and samplesheet rows come from: the command line
// (validated by nf-schema) or, with --simulate, the simulated trial's params.yaml
// (the file `biomarkers run --params-file` reads), with the same rule for relative
// paths as biomarkers run: they resolve against the folder of the file naming them.
// Written for the language server's static type checker: Maps are typed where they
// are read, heterogeneous lists are tuples, and "no file" is an empty list.

include { validateParameters; paramsSummaryLog; samplesheetToList } from 'plugin/nf-schema'

// nf-schema checks the parameters against nextflow_schema.json (and prints --help);
// the summary shows what differs from the defaults. The plugin's functions are
// included here, in a script without local includes: the language server does not
// report a wrong plugin include in a script that also includes local files
// (.ci/nextflow_lint.py refuses one there).
workflow PIPELINE_INITIALISATION {
    main:
    validateParameters()
    log.info(paramsSummaryLog(workflow))
    checkGlobs(paramsMap(params))
}

// A glob parameter that matches no file stops the run at launch, with the line
// `biomarkers run` prints (pipeline.check_inputs; VALIDATE cannot see the files).
def checkGlobs(Map run_params) {
    ['custody_exports', 'pon'].each { name ->
        def pattern = run_params[name]
        if (pattern && files("${pattern}").isEmpty()) {
            error("field '${name}': no file matches (got '${pattern}')")
        }
    }
}

// The run's parameters as a plain Map (a copy: the pipeline never writes params).
def paramsMap(run_params) {
    return [:] + run_params
}

// nextflow_schema.json's parameter specs by name (the one list of parameters).
def schemaSpecs() {
    def schema = new groovy.json.JsonSlurper().parseText(file("${projectDir}/nextflow_schema.json").text) as Map
    def groups = (schema['$defs'] as Map).values()
    return groups.inject([:]) { specs, group -> specs + (((group as Map)['properties'] as Map)) }
}

// Parameters whose schema format is a path.
def pathParams() {
    def specs = schemaSpecs()
    return specs.keySet().collect { name -> name as String }.findAll { name ->
        ((specs[name] as Map)['format'] as String) in ['file-path', 'directory-path', 'path', 'file-path-pattern']
    }.toList()
}

// The command line's parameters for `biomarkers validate`: the schema's only (an
// institutional config may add others), path values absolute against the launch
// folder (as nf-schema resolves them), URLs and globs kept as globs.
def launchParams(run_params) {
    def specs = schemaSpecs()
    def paths = pathParams()
    return specs.keySet().collect { name -> name as String }.inject([:]) { kept, name ->
        def value = run_params[name]
        kept + [(name): (name in paths && value) ? launchPath("${value}") : value]
    }
}

def launchPath(String value) {
    if (value.contains('://') || value.startsWith('/')) {
        return value
    }
    return "${launchDir}/${value}"
}

// A Map as pretty JSON with sorted keys (params.json).
def jsonText(run_params) {
    def unsorted = run_params as Map
    def sorted = unsorted.keySet().collect { name -> name as String }.toSorted().inject([:]) { m, name -> m + [(name): unsorted[name]] }
    return groovy.json.JsonOutput.prettyPrint(groovy.json.JsonOutput.toJson(sorted)) + '\n'
}

// The samplesheet rows [meta, file, index] as a CSV with absolute paths (URLs for
// remote files), in their order: what VALIDATE reads.
def samplesheetText(rows) {
    def header = 'subject,specimen,timepoint,specimen_type,assay,file,index,normal_specimen,sample_name,panel,batch,control'
    def lines = rows.collect { row -> samplesheetLine(row as List) }
    return ([header] + lines).join('\n') + '\n'
}

def samplesheetLine(List row) {
    def meta = row[0] as Map
    def cells = [meta.subject ?: '', meta.id, meta.timepoint ?: '', meta.specimen_type, meta.assay,
                 pathString(row[1]), row[2] ? pathString(row[2]) : '', meta.normal_specimen ?: '', meta.sample_name ?: '',
                 meta.panel ?: '', meta.batch ?: '', flagText(meta.control)]
    return cells.collect { cell -> "${cell}" }.join(',')
}

// A boolean samplesheet cell: "true", or empty for false or absent.
def flagText(value) {
    return value ? 'true' : ''
}

def pathString(path) {
    def f = file("${path}")
    if (f.scheme == 'file') {
        return "${f}"
    }
    return f.toUriString()
}

// A row of VALIDATE's validation/tumors.csv as the MSI task's input:
// [meta, tumour bam, index or [], normal bam or [], normal index or []].
def msiTask(Map row) {
    return tuple(tumorMeta(row), file(row.tumor_bam), optionalFile(row.tumor_index), optionalFile(row.normal_bam), optionalFile(row.normal_index))
}

// ... and as the TMB task's: [meta, vcf, vcf index, tumour bam, index, normal bam, index] ([] where absent).
def tmbTask(Map row) {
    return tuple(tumorMeta(row), file(row.vcf), optionalFile(row.vcf_index), optionalFile(row.tumor_bam), optionalFile(row.tumor_index),
                 optionalFile(row.normal_bam), optionalFile(row.normal_index))
}

def tumorMeta(Map row) {
    return [id: row.specimen, subject: row.subject, timepoint: row.timepoint, mode: row.mode,
            normal_specimen: row.normal_specimen ?: null, sample_name: row.tumor_sample ?: null]
}

// The command line's parameters over the simulated trial's params.yaml, its
// relative paths resolved against the trial folder.
def simulatedParams(trial, defaults) {
    def loaded = (new org.yaml.snakeyaml.Yaml().load(trial.resolve('params.yaml').text) ?: [:]) as Map
    def paths = pathParams()
    return loaded.keySet().collect { name -> name as String }.inject(paramsMap(defaults)) { merged, name ->
        merged + [(name): resolvedValue(loaded[name], name in paths, trial)]
    }
}

// A params file's value: a relative path resolved against the file's folder.
def resolvedValue(value, is_path, folder) {
    if (is_path && value) {
        return "${folder.resolve("${value}")}"
    }
    return value
}

// Samplesheet rows as [meta, file, index], meta keyed as nf-schema keys them
// (assets/schema_input.json "meta"). A validated user samplesheet goes through
// nf-schema; the simulated one was validated against the same schema when written.
def samplesheetRows(samplesheet) {
    return samplesheetToList(samplesheet, "${projectDir}/assets/schema_input.json")
}

def simulatedSamplesheetRows(samplesheet) {
    def sheet = file(samplesheet)
    if (!sheet.exists()) {
        return []
    }
    return sheet.splitCsv(header: true).collect { row -> simulatedRow(row as Map, sheet.parent) }
}

def simulatedRow(Map row, folder) {
    def meta = [
        subject: row.subject ?: null, id: row.specimen, timepoint: row.timepoint ?: null,
        specimen_type: row.specimen_type, assay: row.assay,
        normal_specimen: row.normal_specimen ?: null, sample_name: row.sample_name ?: null,
        panel: row.panel ?: null, batch: row.batch ?: null, control: row.control == 'true',
    ]
    return tuple(meta, folder.resolve(row.file), row.index ? folder.resolve(row.index) : noFile())
}

// nf-core's "no file" value for an optional path input.
def noFile() {
    return []
}

// FASTA with whichever of its indices exist (.fai; .gzi when bgzipped).
def fastaWithIndex(fasta) {
    def indices = ["${fasta}.fai", "${fasta}.gzi"].collect { name -> file(name) }.findAll { f -> f.exists() }
    return tuple(file(fasta), indices)
}

// Files matching a glob, each with its index (.bai/.crai beside it), in name
// order: tuple([files], [indices]), or two empty lists when no glob is given.
def indexedFiles(pattern) {
    if (!pattern) {
        return tuple(noFile(), noFile())
    }
    def found = files(pattern).toSorted { f -> "${f.name}/${f}" }
    def indices = found.collect { f -> indexOf(f) }
    return tuple(found, indices)
}

def indexOf(bam) {
    def suffix = bam.name.endsWith('.cram') ? '.crai' : '.bai'
    def beside = file("${bam}${suffix}")
    if (beside.exists()) {
        return beside
    }
    return file("${bam}".replaceAll(/\.(bam|cram)$/, suffix))
}

// Files matching a glob, in path order (a task's inputs must not depend on the
// order a file system lists them, or -resume would miss its cache), or "no file".
def sortedFiles(pattern) {
    if (!pattern) {
        return noFile()
    }
    return files(pattern).toSorted { f -> "${f}" }
}

// The custody ledger's anchor log, as `biomarkers run` finds it: --custody_anchor_log, else
// <ledger>.anchors.jsonl beside the given ledger when there is one, else "no file".
def anchorLog(p) {
    if (p.custody_anchor_log) {
        return file(p.custody_anchor_log)
    }
    if (p.ledger && file("${p.ledger}.anchors.jsonl").exists()) {
        return file("${p.ledger}.anchors.jsonl")
    }
    return noFile()
}

// Optional single file: the file, or nf-core's "no file" value.
def optionalFile(name) {
    if (name) {
        return file(name)
    }
    return noFile()
}
