// Collect the per-specimen MSI parts into genomics/msi.parquet, the partitioned dataset genomics/msi_sites/
// (one Parquet file per specimen, each a copy of its part: memory does not grow with the cohort) and plots.
process MSI_COLLECT {
    tag "all specimens"
    label 'process_single'
    label 'process_high_memory'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    path parts, stageAs: 'parts/*'

    output:
    path "genomics/*", emit: tables  // files and the msi_sites/ folder
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    biomarkers msi collect ${args} --outdir . ${parts}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p genomics/msi_sites
    touch genomics/msi.parquet genomics/msi_sites/_common_metadata

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
