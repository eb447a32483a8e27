// Collect the per-specimen signature parts into tme/signatures.parquet and its heatmap.
process TME_COLLECT {
    tag "all specimens"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    path parts, stageAs: 'parts/*'

    output:
    path "tme/*", emit: tables
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    biomarkers tme collect ${args} --outdir . ${parts}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p tme
    touch tme/signatures.parquet

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
