// Baseline of each microsatellite's length distribution from a panel of normals,
// for tumour-only calls (it also calibrates the MSI status rule of both modes).
// Runs when the samplesheet has tumour-only specimens and no baseline was given
// (--msi_baseline): genomics/msi/baseline.tsv.gz. As MSI_COHORT_BASELINE (ext.prefix
// cohort_normals), on the cohort's matched normals when there are at least two: the
// status rule of the paired calls, genomics/msi/cohort_normals.tsv.gz.
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
    path "genomics/msi/*.tsv.gz", emit: baseline
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def config_opt = config ? "--config ${config}" : ''
    def prefix = task.ext.prefix ?: "baseline"
    """
    biomarkers msi baseline ${args} --sites ${sites} --fasta ${fasta} ${config_opt} --output genomics/msi/${prefix}.tsv.gz ${normal_bams}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    def prefix = task.ext.prefix ?: "baseline"
    """
    mkdir -p genomics/msi
    echo | gzip > genomics/msi/${prefix}.tsv.gz

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
