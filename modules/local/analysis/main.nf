// Join every biomarker table to the ADaM outcomes (ADSL, ADTTE, ADRS): subject,
// long and wide tables, and the exploratory associations, under analysis/.
// The tables of the earlier steps are staged in the layout `biomarkers run` writes.
process ANALYSIS {
    tag "analysis"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    path custody_tables, stageAs: 'custody/*'
    path genomics_tables, stageAs: 'genomics/*'
    path tme_tables, stageAs: 'tme/*'
    path pathology_tables, stageAs: 'pathology/*'
    path immune_tables, stageAs: 'immune/*'
    path adsl
    path adtte
    path adrs
    path config
    path protocol, stageAs: 'protocol/*'

    output:
    path "analysis/*", emit: tables
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def protocol_opt = protocol ? "--protocol ${protocol}" : ''
    def config_opt = config ? "--config ${config}" : ''
    """
    biomarkers analysis ${args} --results . --adsl ${adsl} --adtte ${adtte} --adrs ${adrs} ${config_opt} ${protocol_opt}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p analysis
    touch analysis/subjects.parquet analysis/biomarkers_long.parquet analysis/analysis_wide.parquet

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
