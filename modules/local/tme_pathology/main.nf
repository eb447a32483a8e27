// Read and check the pathology/central-lab table (long or wide; assets/pathology.schema.json)
// into pathology/results.parquet; every subject must be in the randomization list when given.
process TME_PATHOLOGY {
    tag "${pathology.name}"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    path pathology, stageAs: 'pathology_in/*'
    path subjects
    path protocol

    output:
    path "pathology/results.parquet", emit: results
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def subjects_opt = subjects ? "--subjects ${subjects}" : ''
    def protocol_opt = protocol ? "--protocol ${protocol}" : ''
    """
    biomarkers tme pathology ${args} --pathology ${pathology} ${subjects_opt} ${protocol_opt} --outdir .

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p pathology
    touch pathology/results.parquet

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
