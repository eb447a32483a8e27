// Where a run's parameters and samplesheet rows come from: the command line
// (validated by nf-schema) or, with --simulate, the simulated trial's params.yaml
// (the file `biomarkers run --params-file` reads), with the same rule for relative
// paths as biomarkers run: they resolve against the folder of the file naming them.

include { samplesheetToList } from 'plugin/nf-schema'

// Parameters whose schema format is a path (nextflow_schema.json is the one list).
def pathParams() {
    def schema = new groovy.json.JsonSlurper().parseText(file("${projectDir}/nextflow_schema.json").text) as Map
    def names = []
    schema['$defs'].each { _group, spec ->
        spec.properties.each { name, prop ->
            if (prop.format in ['file-path', 'directory-path', 'path', 'file-path-pattern']) {
                names << name
            }
        }
    }
    return names
}

// The command line's parameters over the simulated trial's params.yaml, its
// relative paths resolved against the trial folder.
def simulatedParams(trial, defaults) {
    def loaded = (new org.yaml.snakeyaml.Yaml().load(trial.resolve('params.yaml').text) ?: [:]) as Map
    def paths = pathParams()
    def merged = defaults + [:]
    loaded.each { name, value ->
        merged[name] = (name in paths && value) ? trial.resolve(value.toString()).toString() : value
    }
    return merged
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
    def folder = sheet.parent
    return sheet.splitCsv(header: true).collect { row ->
        def meta = [
            subject: row.subject, id: row.specimen, timepoint: row.timepoint,
            specimen_type: row.specimen_type, assay: row.assay,
            normal_specimen: row.normal_specimen ?: null, sample_name: row.sample_name ?: null,
        ]
        [meta, folder.resolve(row.file), row.index ? folder.resolve(row.index) : []]
    }
}

// FASTA with whichever of its indices exist (.fai; .gzi when bgzipped).
def fastaWithIndex(fasta) {
    def path = file(fasta)
    def indices = ["${fasta}.fai", "${fasta}.gzi"].collect { name -> file(name) }.findAll { f -> f.exists() }
    return [path, indices]
}

// Files matching a glob, each with its index (.bai/.crai beside it):
// [[files], [indices]], or [[], []] when no glob is given.
def indexedFiles(pattern) {
    if (!pattern) {
        return [[], []]
    }
    def found = files(pattern).sort { f -> f.name }
    def indices = found.collect { f ->
        def suffix = f.name.endsWith('.cram') ? '.crai' : '.bai'
        def beside = file("${f}${suffix}")
        beside.exists() ? beside : file(f.toString().replaceAll(/\.(bam|cram)$/, suffix))
    }
    return [found, indices]
}

// Optional single file: the file, or [] (nf-core's "no file" input).
def optionalFile(name) {
    return name ? file(name) : []
}
