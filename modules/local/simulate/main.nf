// Simulate a complete synthetic trial (inputs, samplesheet, params.yaml and truth/).
// The test profile starts here, so it needs no data.
process SIMULATE {
    tag "${n_subjects} subjects, seed ${seed}"
    label 'process_medium'
    label 'process_long'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    val n_subjects
    val seed

    output:
    path "simulated_trial", emit: trial
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    biomarkers simulate ${args} --subjects ${n_subjects} --seed ${seed} --cpus ${task.cpus} --outdir simulated_trial

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p simulated_trial/truth
    touch simulated_trial/subjects.csv simulated_trial/milestones.csv
    echo '{}' > simulated_trial/params.yaml

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
