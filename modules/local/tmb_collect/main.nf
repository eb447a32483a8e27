// Merge the per-specimen TMB parts into genomics/tmb.parquet, genomics/tmb_variants.parquet
// and the plot (by arm when the randomization list is given).
process TMB_COLLECT {
    tag "all specimens"
    label 'process_single'
    label 'process_high_memory'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    path parts, stageAs: 'parts/*'
    path subjects

    output:
    path "genomics/*", emit: tables
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def subjects_opt = subjects ? "--subjects ${subjects}" : ''
    """
    biomarkers tmb collect ${args} --outdir . ${subjects_opt} ${parts}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p genomics
    touch genomics/tmb.parquet genomics/tmb_variants.parquet

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
