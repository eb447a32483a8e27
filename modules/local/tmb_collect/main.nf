// Merge the per-specimen TMB parts into genomics/tmb.parquet, genomics/tmb_variants.parquet
// and the plot (by arm when the randomization list is given).
process TMB_COLLECT {
    tag "all specimens"
    label 'process_single'

    input:
    path parts, stageAs: 'parts/*'
    path subjects

    output:
    path "genomics/*", emit: tables
    path "versions.yml", emit: versions

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
