// MSI of one tumour specimen: paired against its normal BAM when the samplesheet
// has it, otherwise tumour-only against the panel-of-normals baseline.
// Writes <specimen>.msi.parquet and <specimen>.msi_sites.parquet.
process MSI {
    tag "${meta.id}"
    label 'process_medium'

    input:
    tuple val(meta), path(tumor_bam), path(tumor_index), path(normal_bam), path(normal_index), path(baseline, stageAs: 'baseline/*')
    path sites, stageAs: 'sites/*'
    tuple path(fasta), path(fasta_index)
    path config

    output:
    tuple val(meta), path("${meta.id}.msi.parquet"), path("${meta.id}.msi_sites.parquet"), emit: parts
    path "versions.yml", emit: versions

    script:
    def args = task.ext.args ?: ''
    def mode_opt = normal_bam ? "--normal-bam ${normal_bam}" : "--baseline ${baseline}"
    def normal_specimen_opt = normal_bam ? "--normal-specimen ${meta.normal_specimen}" : ''
    def config_opt = config ? "--config ${config}" : ''
    """
    biomarkers msi call ${args} --sites ${sites} --tumor-bam ${tumor_bam} ${mode_opt} --fasta ${fasta} ${config_opt} --subject ${meta.subject} --specimen ${meta.id} --timepoint ${meta.timepoint} ${normal_specimen_opt} --outdir .

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    touch ${meta.id}.msi.parquet ${meta.id}.msi_sites.parquet

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
