// Baseline of each microsatellite's length distribution from the cohort's matched
// normals, when there are at least two: its calibrated status rule is the paired
// calls' (the same command as MSI_BASELINE on other normals). Published to
// genomics/msi/cohort_normals.tsv.gz.
process MSI_COHORT_BASELINE {
    tag "cohort normals"
    label 'process_single'
    label 'process_long'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    path sites, stageAs: 'sites/*'
    tuple path(fasta), path(fasta_index)
    // One folder per normal (the same index for a BAM and its index): no two collide.
    path normal_bams, stageAs: 'normals/?/*'
    path normal_indices, stageAs: 'normals/?/*'
    path config

    output:
    path "genomics/msi/cohort_normals.tsv.gz", emit: baseline
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def config_opt = config ? "--config ${config}" : ''
    """
    biomarkers msi baseline ${args} --sites ${sites} --fasta ${fasta} ${config_opt} --output genomics/msi/cohort_normals.tsv.gz ${normal_bams}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p genomics/msi
    echo | gzip > genomics/msi/cohort_normals.tsv.gz

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
