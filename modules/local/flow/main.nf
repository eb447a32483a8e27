// Flow cytometry of one FCS file (one blood specimen and panel): read through FlowKit,
// check the panel, compensate, transform, QC, gate every subset with the panel's
// Gating-ML strategy (or the FlowJo workspace's gates when it names the file), count.
// Writes <id>.<panel>.flow_subsets.parquet, <id>.<panel>.flow_qc.parquet and
// <id>.<panel>.flow.h5ad. A reference control (meta.control) has no subject.
process FLOW {
    tag "${meta.id} ${meta.panel}"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    tuple val(meta), path(fcs, stageAs: 'fcs/*')
    path counts, stageAs: 'counts/*'
    path workspace, stageAs: 'workspace/*'
    path protocol, stageAs: 'protocol/*'

    output:
    tuple val(meta), path("*.flow_*.parquet"), path("*.flow.h5ad"), emit: parts
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def subject_opt = meta.control ? '--control' : "--subject ${meta.subject} --timepoint ${meta.timepoint}"
    def batch_opt = meta.batch ? "--batch ${meta.batch}" : ''
    def counts_opt = counts ? "--counts ${counts}" : ''
    def workspace_opt = workspace ? "--workspace ${workspace}" : ''
    def protocol_opt = protocol ? "--protocol ${protocol}" : ''
    """
    biomarkers flow gate ${args} --fcs ${fcs} --panel ${meta.panel} --specimen ${meta.id} ${subject_opt} ${batch_opt} ${counts_opt} ${workspace_opt} ${protocol_opt} --outdir .

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    touch ${meta.id}.${meta.panel}.flow_subsets.parquet ${meta.id}.${meta.panel}.flow_qc.parquet ${meta.id}.${meta.panel}.flow.h5ad

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
