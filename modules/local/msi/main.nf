// MSI of one tumour specimen: paired against its normal BAM when the samplesheet
// has it, otherwise tumour-only against the panel-of-normals baseline. A paired call
// given a baseline too takes only its calibrated status rule from it.
// Writes <prefix>.msi.parquet and <prefix>.msi_sites.parquet (prefix: ext.prefix, by
// default the specimen ID).
process MSI {
    tag "${meta.id}"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    // Each specimen's files in a folder of their own: a tumour and its normal may share a file name.
    tuple val(meta), path(tumor_bam, stageAs: 'tumor/*'), path(tumor_index, stageAs: 'tumor/*'), path(normal_bam, stageAs: 'normal/*'), path(normal_index, stageAs: 'normal/*'), path(baseline, stageAs: 'baseline/*')
    path sites, stageAs: 'sites/*'
    tuple path(fasta), path(fasta_index)
    path config
    path protocol, stageAs: 'protocol/*'

    output:
    tuple val(meta), path("*.msi.parquet"), path("*.msi_sites.parquet"), emit: parts
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def protocol_opt = protocol ? "--protocol ${protocol}" : ''
    def prefix = task.ext.prefix ?: "${meta.id}"
    def normal_opt = normal_bam ? "--normal-bam ${normal_bam}" : ''
    def baseline_opt = baseline ? "--baseline ${baseline}" : ''
    def normal_specimen_opt = normal_bam ? "--normal-specimen ${meta.normal_specimen}" : ''
    def config_opt = config ? "--config ${config}" : ''
    """
    biomarkers msi call ${args} --sites ${sites} --tumor-bam ${tumor_bam} ${normal_opt} ${baseline_opt} --fasta ${fasta} ${config_opt} --subject ${meta.subject} --specimen ${meta.id} --timepoint ${meta.timepoint} ${normal_specimen_opt} --outdir . ${protocol_opt}
    if [ "${prefix}" != "${meta.id}" ]; then
        mv ${meta.id}.msi.parquet ${prefix}.msi.parquet
        mv ${meta.id}.msi_sites.parquet ${prefix}.msi_sites.parquet
    fi

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}"
    """
    touch ${prefix}.msi.parquet ${prefix}.msi_sites.parquet

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
