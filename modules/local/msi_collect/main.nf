// Collect the per-specimen MSI parts into genomics/msi.parquet, genomics/msi_sites.parquet and plots.
process MSI_COLLECT {
    tag "all specimens"
    label 'process_single'

    input:
    path parts, stageAs: 'parts/*'

    output:
    path "genomics/*", emit: tables
    path "versions.yml", emit: versions

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
    mkdir -p genomics
    touch genomics/msi.parquet genomics/msi_sites.parquet

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
