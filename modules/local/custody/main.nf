// Chain of custody: import the LIMS exports into the append-only ledger (events of
// subjects outside the randomization list are refused), verify its hash chain, then
// check every specimen against the protocol: custody/*.parquet and two plots.
// The ledger given as input is copied, never written in place (a task must not
// modify its inputs): the trial's master ledger is appended to by its owners with
// `biomarkers custody import`. The task's copy is emitted, not published.
process CUSTODY {
    tag "custody"
    label 'process_low'

    input:
    path exports, stageAs: 'exports/*'
    path ledger, stageAs: 'ledger_in/*'
    path subjects
    path milestones
    path samplesheet, stageAs: 'samplesheet/*'
    val data_cutoff
    path protocol

    output:
    path "custody/*", emit: tables
    path "custody.sqlite", emit: ledger
    path "versions.yml", emit: versions

    script:
    def args = task.ext.args ?: ''
    def has_ledger = ledger ? 'yes' : ''
    def has_exports = exports ? 'yes' : ''
    def samplesheet_opt = samplesheet ? "--samplesheet ${samplesheet}" : ''
    def cutoff_opt = data_cutoff ? "--data-cutoff ${data_cutoff}" : ''
    def protocol_opt = protocol ? "--protocol ${protocol}" : ''
    """
    if [ -n "${has_ledger}" ]; then
        cp -L ${ledger} custody.sqlite
        chmod u+w custody.sqlite
    fi
    if [ -n "${has_exports}" ]; then
        biomarkers custody import --ledger custody.sqlite --subjects ${subjects} ${protocol_opt} ${exports}
    fi
    biomarkers custody verify --ledger custody.sqlite
    biomarkers custody check ${args} --ledger custody.sqlite --subjects ${subjects} --milestones ${milestones} ${samplesheet_opt} ${cutoff_opt} ${protocol_opt} --outdir .

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p custody
    touch custody.sqlite custody/specimens.parquet custody/events.parquet custody/lineage.parquet custody/issues.parquet custody/completeness.parquet custody/completeness.png custody/issues_by_rule.png

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
