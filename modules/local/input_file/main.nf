// One input of the run (a samplesheet row's file or index, a file parameter, a glob's
// match, the protocol), staged, as `biomarkers run` reads every input before its first step:
// 1. the checks of `biomarkers run` that read this file (VALIDATE cannot: it sees no data
//    file), with the same one-line messages: the sample names inside a BAM/CRAM (read groups'
//    SM) or VCF against its samplesheet row (a sample swap), the flow counts CSV, the FlowJo
//    workspace's samples; a file that is none of these passes;
// 2. one line PATH, BYTES, SHA-256 for pipeline_info/inputs.parquet (PROVENANCE).
// One task per file: they run in parallel, and -resume reuses a file's task while it is
// unchanged. `given` is the path as the run was given it (VALIDATE's validation/inputs.csv);
// the file is staged under input/ with its own name (messages name the file as given).
process INPUT_FILE {
    tag "${staged.name}"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    tuple val(given), path(staged, stageAs: 'input/*')
    path run_params, stageAs: 'run/params.json'
    path samplesheet, stageAs: 'run/samplesheet.csv'
    val input_name
    path protocol, stageAs: 'protocol/*'

    output:
    path "*.sha256.tsv", emit: hash
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${staged.name}"
    def input_opt = input_name ? "--input ${samplesheet}" : ''
    def name_opt = input_name ? "--input-name '${input_name}'" : ''
    def protocol_opt = protocol ? "--protocol ${protocol}" : ''
    """
    biomarkers validate --params-file ${run_params} ${input_opt} ${name_opt} ${protocol_opt} --staged '${given}' ${staged}
    biomarkers provenance hash ${args} --as '${given}' --out ${prefix}.sha256.tsv ${staged}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    def prefix = task.ext.prefix ?: "${staged.name}"
    """
    touch ${prefix}.sha256.tsv

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
