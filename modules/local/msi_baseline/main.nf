// Baseline of each microsatellite's length distribution from a panel of normals,
// for tumour-only calls. Runs only when the samplesheet has tumour-only specimens
// and no baseline was given (--msi_baseline). Published to genomics/msi/baseline.tsv.gz.
process MSI_BASELINE {
    tag "panel of normals"
    label 'process_single'
    label 'process_long'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    path sites, stageAs: 'sites/*'
    tuple path(fasta), path(fasta_index)
    // One folder per normal (the same index for a BAM and its index): no two collide.
    path normal_bams, stageAs: 'pon/?/*'
    path normal_indices, stageAs: 'pon/?/*'
    path config

    output:
    path "genomics/msi/baseline.tsv.gz", emit: baseline
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def config_opt = config ? "--config ${config}" : ''
    """
    biomarkers msi baseline ${args} --sites ${sites} --fasta ${fasta} ${config_opt} --output genomics/msi/baseline.tsv.gz ${normal_bams}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p genomics/msi
    echo | gzip > genomics/msi/baseline.tsv.gz

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
