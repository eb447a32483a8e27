// Merge the per-file flow parts into immune/flow_subsets.parquet, immune/flow_qc.parquet
// and immune/flow_drift.parquet (the reference control across batches), the per-specimen
// .h5ad files (immune/flow/) and the gating figures of one representative specimen per
// panel and of every failing one.
process FLOW_COLLECT {
    tag "flow specimens"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    path parts, stageAs: 'parts/*'

    output:
    path "immune/**", emit: tables
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    biomarkers flow collect ${args} --outdir . ${parts}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p immune
    touch immune/flow_subsets.parquet immune/flow_qc.parquet immune/flow_drift.parquet

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
