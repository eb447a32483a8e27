// The run's inputs checked by the same code as `biomarkers run` (samplesheet columns,
// assays, the protocol's specimen types and timepoints, USUBJID format, normal-specimen
// references, the tumour/normal/VCF pairing), before any other step: a bad input fails
// here with the one-line message `biomarkers run` would print. nf-schema checked the
// structure and that every file exists where the files are; this task sees only the
// samplesheet (rewritten with absolute paths, same rows in the same order) and the protocol,
// so it checks contents; its messages name the samplesheet the user gave (input_name), not the copy.
// Without --input (input_name empty) the rewritten samplesheet has no rows and is not passed.
// Writes validation/tumors.csv: one row per tumour specimen, its mode and files, which
// the workflow reads instead of pairing rows itself; and validation/inputs.csv: every
// input of the run (role, path as given, glob or not), which INPUT_FILE tasks hash.
process VALIDATE {
    tag "inputs"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    path run_params, stageAs: 'run/params.json'
    path samplesheet, stageAs: 'run/samplesheet.csv'
    path protocol, stageAs: 'protocol/*'
    val input_name
    val protocol_name

    output:
    path "validation/tumors.csv", emit: tumors
    path "validation/inputs.csv", emit: inputs
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def protocol_opt = protocol ? "--protocol ${protocol}" : ''
    def input_opt = input_name ? "--input ${samplesheet}" : ''
    def name_opt = input_name ? "--input-name '${input_name}'" : ''
    def protocol_name_opt = protocol_name ? "--protocol-name '${protocol_name}'" : ''
    """
    biomarkers validate ${args} --skip-file-checks --params-file ${run_params} ${input_opt} ${name_opt} ${protocol_opt} ${protocol_name_opt} --outdir .

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    \$(biomarkers --software-versions | sed '/^biomarkers:/d; s/^/    /')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p validation
    echo 'mode,subject,specimen,timepoint,tumor_bam,tumor_index,vcf,vcf_index,tumor_sample,normal_specimen,normal_bam,normal_index' > validation/tumors.csv
    echo 'role,path,glob' > validation/inputs.csv

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
