// Baseline of each microsatellite's length distribution from a panel of normals,
// for tumour-only calls. Runs only when the samplesheet has tumour-only specimens.
process MSI_BASELINE {
    tag "panel of normals"
    label 'process_medium'

    input:
    path sites
    tuple path(fasta), path(fasta_index)
    path normal_bams, stageAs: 'pon/*'
    path normal_indices, stageAs: 'pon/*'

    output:
    path "baseline.tsv.gz", emit: baseline
    path "versions.yml", emit: versions

    script:
    def args = task.ext.args ?: ''
    """
    biomarkers msi baseline ${args} --sites ${sites} --fasta ${fasta} --output baseline.tsv.gz ${normal_bams}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    echo | gzip > baseline.tsv.gz

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
