// Merge the per-specimen single-cell parts of blood (PBMC) specimens into immune/pbmc_sc_*.parquet,
// the annotated .h5ad files (immune/pbmc_sc/), composition bars by arm and timepoint and
// one UMAP per arm (arms from the randomization list). Parts of the other compartment
// are left to its own collect.
process SINGLECELL_COLLECT_PBMC {
    tag "pbmc specimens"
    label 'process_single'
    label 'process_high_memory'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    path parts, stageAs: 'parts/*'
    path subjects

    output:
    path "immune/**", emit: tables
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def subjects_opt = subjects ? "--subjects ${subjects}" : ''
    """
    biomarkers singlecell collect ${args} --compartment pbmc --outdir . ${subjects_opt} ${parts}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p immune
    touch immune/pbmc_sc_composition.parquet immune/pbmc_sc_summary.parquet immune/pbmc_sc_qc.parquet

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
