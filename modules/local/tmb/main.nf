// Tumour mutational burden of one tumour specimen (one somatic VCF): counted variants
// through the filter funnel over the callable territory measured from the tumour
// BAM/CRAM (and the normal's, when paired); without a BAM, over the merged targets
// or the given size. Writes <prefix>.tmb.parquet and <prefix>.tmb_variants.parquet
// (prefix: ext.prefix, by default the specimen ID).
process TMB {
    tag "${meta.id}"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    // Each specimen's files in a folder of their own: a tumour and its normal may share a file name.
    tuple val(meta), path(vcf, stageAs: 'vcf/*'), path(vcf_index, stageAs: 'vcf/*'), path(tumor_bam, stageAs: 'tumor/*'), path(tumor_index, stageAs: 'tumor/*'), path(normal_bam, stageAs: 'normal/*'), path(normal_index, stageAs: 'normal/*')
    tuple path(fasta), path(fasta_index)
    path targets
    path coding_bed
    path config
    path hotspots
    val tumor_only
    path protocol, stageAs: 'protocol/*'

    output:
    tuple val(meta), path("*.tmb.parquet"), path("*.tmb_variants.parquet"), emit: parts
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def protocol_opt = protocol ? "--protocol ${protocol}" : ''
    def prefix = task.ext.prefix ?: "${meta.id}"
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
    biomarkers tmb count ${args} --vcf ${vcf} ${tumor_bam_opt} ${normal_opt} ${tumor_sample_opt} ${fasta_opt} --targets ${targets} ${coding_opt} ${config_opt} ${hotspots_opt} ${callable_opt} ${tumor_only_opt} --subject ${meta.subject} --specimen ${meta.id} --timepoint ${meta.timepoint} --outdir . ${protocol_opt}
    if [ "${prefix}" != "${meta.id}" ]; then
        mv ${meta.id}.tmb.parquet ${prefix}.tmb.parquet
        mv ${meta.id}.tmb_variants.parquet ${prefix}.tmb_variants.parquet
    fi

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}"
    """
    touch ${prefix}.tmb.parquet ${prefix}.tmb_variants.parquet

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
