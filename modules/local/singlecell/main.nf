// Single-cell RNA of one specimen (a 10x .h5, Matrix Market folder or .h5ad of raw
// counts): per-cell QC with Scrublet doublets, seeded clustering, cell types by marker
// scoring, composition. Writes <id>.sc_composition.parquet, <id>.sc_summary.parquet,
// <id>.sc_qc.parquet and <id>.sc.h5ad. The compartment follows the assay:
// scrna_pbmc (blood) or scrna_tumor (dissociated tumour).
process SINGLECELL {
    tag "${meta.id}"
    label 'process_single'
    label 'process_high_memory'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    tuple val(meta), path(counts, stageAs: 'counts/*')
    path settings
    path markers
    path protocol, stageAs: 'protocol/*'
    path reference, stageAs: 'reference/*'

    output:
    tuple val(meta), path("*.sc_*.parquet"), path("*.sc.h5ad"), emit: parts
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def compartment = meta.assay == 'scrna_tumor' ? 'tumor' : 'pbmc'
    def settings_opt = settings ? "--settings ${settings}" : ''
    def markers_opt = markers ? "--markers ${markers}" : ''
    def protocol_opt = protocol ? "--protocol ${protocol}" : ''
    def reference_opt = reference ? "--reference ${reference}" : ''
    """
    biomarkers singlecell annotate ${args} --counts ${counts} --compartment ${compartment} ${settings_opt} ${markers_opt} ${reference_opt} --subject ${meta.subject} --specimen ${meta.id} --timepoint ${meta.timepoint} --outdir . ${protocol_opt}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    touch ${meta.id}.sc_composition.parquet ${meta.id}.sc_summary.parquet ${meta.id}.sc_qc.parquet ${meta.id}.sc.h5ad

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
