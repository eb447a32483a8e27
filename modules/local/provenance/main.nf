// pipeline_info/ as `biomarkers run` writes it before its first step, by the same Python
// functions: software_versions.yml (biomarkers, Python, every installed library of the
// image), params.json (the run's parameters, paths as given) and inputs.parquet (role,
// path, bytes and SHA-256 of every input: the lines of the INPUT_FILE tasks, sorted).
// The parameters and the samplesheet rows are VALIDATE's (the samplesheet rewritten with
// absolute paths); REPORT stages the result as pipeline_info/ for its Provenance section.
process PROVENANCE {
    tag "pipeline_info"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    path run_params, stageAs: 'run/params.json'
    path samplesheet, stageAs: 'run/samplesheet.csv'
    path hashes, stageAs: 'hashes/input_hashes.tsv'

    output:
    path "pipeline_info/*", emit: files
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def input_opt = samplesheet ? "--input ${samplesheet}" : ''
    """
    biomarkers provenance write ${args} --params-file ${run_params} ${input_opt} --hashes ${hashes} --outdir .

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p pipeline_info
    touch pipeline_info/software_versions.yml pipeline_info/params.json pipeline_info/inputs.parquet

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
