// Merge the per-specimen single-cell parts of tumour specimens into tme/sc_*.parquet,
// the annotated .h5ad files (tme/sc/), composition bars by arm and timepoint and
// one UMAP per arm (arms from the randomization list). Parts of the other compartment
// are left to its own collect.
process SINGLECELL_COLLECT_TUMOR {
    tag "tumor specimens"
    label 'process_single'
    label 'process_high_memory'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    path parts, stageAs: 'parts/*'
    path subjects

    output:
    path "tme/**", emit: tables
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def subjects_opt = subjects ? "--subjects ${subjects}" : ''
    """
    biomarkers singlecell collect ${args} --compartment tumor --outdir . ${subjects_opt} ${parts}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p tme
    touch tme/sc_composition.parquet tme/sc_summary.parquet tme/sc_qc.parquet

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
