// Per-subject eligibility and consistency checks (HER2, dMMR/MSI-H, MMR/MSI discordance,
// CPS stratum, PD-1 exposure): tme/eligibility.parquet, and the CPS and check plots.
process TME_ELIGIBILITY {
    tag "all subjects"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    path results, stageAs: 'pathology_results/*'
    path subjects
    path msi, stageAs: 'msi/*'
    path rules, stageAs: 'rules/*'
    path protocol

    output:
    path "tme/eligibility.parquet", emit: table
    path "tme/*.png", emit: plots, optional: true
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def msi_opt = msi ? "--msi ${msi}" : ''
    def rules_opt = rules ? "--rules ${rules}" : ''
    def protocol_opt = protocol ? "--protocol ${protocol}" : ''
    """
    biomarkers tme eligibility ${args} --results ${results} --subjects ${subjects} ${msi_opt} ${rules_opt} ${protocol_opt} --outdir .

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p tme
    touch tme/eligibility.parquet tme/cps_by_stratum.png tme/eligibility_checks.png

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
