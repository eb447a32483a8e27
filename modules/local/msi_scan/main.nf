// Find the microsatellites of the reference (inside the targets), once per run.
process MSI_SCAN {
    tag "${fasta.name}"
    label 'process_low'

    input:
    tuple path(fasta), path(fasta_index)
    path targets

    output:
    path "sites.tsv.gz", emit: sites
    path "versions.yml", emit: versions

    script:
    def args = task.ext.args ?: ''
    def targets_opt = targets ? "--targets ${targets}" : ''
    """
    biomarkers msi scan ${args} --fasta ${fasta} ${targets_opt} --output sites.tsv.gz

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    echo | gzip > sites.tsv.gz

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
