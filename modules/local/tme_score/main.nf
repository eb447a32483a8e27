// Score the expression signatures of the specimens of one expression file (a gene x sample
// matrix, or one Salmon quant.sf): one part per specimen, <specimen>.signatures.parquet.
// The sample table names each specimen's column (sample, subject, specimen, timepoint).
process TME_SCORE {
    tag "${meta.id}"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    tuple val(meta), path(expression, stageAs: 'expression/*'), path(samples, stageAs: 'samples/*')
    path gene_lengths, stageAs: 'gene_lengths/*'
    path gene_map, stageAs: 'gene_map/*'
    path signatures, stageAs: 'signatures/*'
    path tx2gene, stageAs: 'tx2gene/*'
    path protocol

    output:
    tuple val(meta), path("*.signatures.parquet"), emit: parts
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def lengths_opt = gene_lengths ? "--gene-lengths ${gene_lengths}" : ''
    def gene_map_opt = gene_map ? "--gene-map ${gene_map}" : ''
    def signatures_opt = signatures ? "--signatures ${signatures}" : ''
    def tx2gene_opt = tx2gene ? "--tx2gene ${tx2gene}" : ''
    def protocol_opt = protocol ? "--protocol ${protocol}" : ''
    """
    biomarkers tme score ${args} --file ${expression} --values ${meta.values} ${lengths_opt} ${gene_map_opt} ${signatures_opt} ${tx2gene_opt} ${protocol_opt} --samples ${samples} --outdir .

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    touch ${meta.id}.signatures.parquet

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
