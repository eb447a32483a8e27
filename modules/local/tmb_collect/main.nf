// Merge the per-specimen TMB parts into genomics/tmb.parquet, the partitioned dataset genomics/tmb_variants/
// (one Parquet file per specimen, each a copy of its part: memory does not grow with the cohort) and the plot (by arm when the randomization list is given).
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
    path "genomics/*", emit: tables  // files and the tmb_variants/ folder
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
    mkdir -p genomics/tmb_variants
    touch genomics/tmb.parquet genomics/tmb_variants/_common_metadata

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
