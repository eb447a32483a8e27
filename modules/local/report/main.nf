// One self-contained HTML report (images embedded) of the results folder, with the
// Provenance section of PROVENANCE's pipeline_info/ (software, parameters, input SHA-256).
process REPORT {
    tag "report"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    path custody_tables, stageAs: 'custody/*'
    path genomics_tables, stageAs: 'genomics/*'
    path tme_tables, stageAs: 'tme/*'
    path pathology_tables, stageAs: 'pathology/*'
    path immune_tables, stageAs: 'immune/*'
    path analysis_tables, stageAs: 'analysis/*'
    path provenance, stageAs: 'pipeline_info/*'
    path protocol, stageAs: 'protocol/*'

    output:
    path "report/index.html", emit: html
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def protocol_opt = protocol ? "--protocol ${protocol}" : ''
    """
    biomarkers report ${args} --results . --allow-incomplete ${protocol_opt}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p report
    touch report/index.html

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
