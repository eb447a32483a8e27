// Find the microsatellites of the reference (inside the targets), once per run.
// Published to genomics/msi/sites.tsv.gz, where biomarkers run keeps it.
process MSI_SCAN {
    tag "${fasta.name}"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    tuple path(fasta), path(fasta_index)
    path targets
    path config

    output:
    path "genomics/msi/sites.tsv.gz", emit: sites
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def targets_opt = targets ? "--targets ${targets}" : ''
    def config_opt = config ? "--config ${config}" : ''
    """
    biomarkers msi scan ${args} --fasta ${fasta} ${targets_opt} ${config_opt} --output genomics/msi/sites.tsv.gz

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p genomics/msi
    echo | gzip > genomics/msi/sites.tsv.gz

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
