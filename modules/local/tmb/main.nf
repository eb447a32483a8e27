// Tumour mutational burden of one tumour specimen (one somatic VCF): counted variants
// through the filter funnel over the callable territory measured from the tumour
// BAM/CRAM (and the normal's, when paired); without a BAM, over the merged targets
// or the given size. Writes <specimen>.tmb.parquet and <specimen>.tmb_variants.parquet.
process TMB {
    tag "${meta.id}"
    label 'process_medium'

    input:
    tuple val(meta), path(vcf), path(vcf_index), path(tumor_bam), path(tumor_index), path(normal_bam), path(normal_index)
    tuple path(fasta), path(fasta_index)
    path targets
    path coding_bed
    path config
    path hotspots
    val tumor_only

    output:
    tuple val(meta), path("${meta.id}.tmb.parquet"), path("${meta.id}.tmb_variants.parquet"), emit: parts
    path "versions.yml", emit: versions

    script:
    def args = task.ext.args ?: ''
    def tumor_bam_opt = tumor_bam ? "--tumor-bam ${tumor_bam}" : ''
    def normal_opt = normal_bam ? "--normal-bam ${normal_bam}" : ''
    def tumor_sample_opt = meta.sample_name ? "--tumor-sample ${meta.sample_name}" : ''
    def fasta_opt = fasta ? "--fasta ${fasta}" : ''
    def coding_opt = coding_bed ? "--coding-bed ${coding_bed}" : ''
    def config_opt = config ? "--config ${config}" : ''
    def hotspots_opt = hotspots ? "--hotspots ${hotspots}" : ''
    def callable_opt = meta.callable_mb ? "--callable-mb ${meta.callable_mb}" : ''
    def tumor_only_opt = tumor_only ? '--tumor-only' : ''
    """
    biomarkers tmb count ${args} --vcf ${vcf} ${tumor_bam_opt} ${normal_opt} ${tumor_sample_opt} ${fasta_opt} --targets ${targets} ${coding_opt} ${config_opt} ${hotspots_opt} ${callable_opt} ${tumor_only_opt} --subject ${meta.subject} --specimen ${meta.id} --timepoint ${meta.timepoint} --outdir .

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
