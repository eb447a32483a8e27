// Tumour mutational burden of one tumour specimen: counted variants from the
// somatic VCF over the callable territory measured from the BAM/CRAM (and the
// normal's, when paired). Writes <specimen>.tmb.parquet and <specimen>.tmb_variants.parquet.
process TMB {
    tag "${meta.id}"
    label 'process_medium'

    input:
    tuple val(meta), path(vcf), path(vcf_index), path(tumor_bam), path(tumor_index), path(normal_bam), path(normal_index)
    tuple path(fasta), path(fasta_index)
    path targets
    path coding_bed

    output:
    tuple val(meta), path("${meta.id}.tmb.parquet"), path("${meta.id}.tmb_variants.parquet"), emit: parts
    path "versions.yml", emit: versions

    script:
    def args = task.ext.args ?: ''
    def normal_opt = normal_bam ? "--normal-bam ${normal_bam}" : ''
    def tumor_sample_opt = meta.sample_name ? "--tumor-sample ${meta.sample_name}" : ''
    def coding_opt = coding_bed ? "--coding-bed ${coding_bed}" : ''
    """
    biomarkers tmb count ${args} --vcf ${vcf} --tumor-bam ${tumor_bam} ${normal_opt} ${tumor_sample_opt} --fasta ${fasta} --targets ${targets} ${coding_opt} --subject ${meta.subject} --specimen ${meta.id} --timepoint ${meta.timepoint} --outdir .

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    touch ${meta.id}.tmb.parquet ${meta.id}.tmb_variants.parquet

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
