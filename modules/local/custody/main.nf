// Chain of custody: import the LIMS exports into the append-only ledger (events of
// subjects outside the randomization list are refused), verify its hash chain, then
// check every specimen against the protocol: custody/*.parquet and two plots.
// The ledger given as input is copied, never written in place (a task must not
// modify its inputs): the trial's master ledger is appended to by its owners with
// `biomarkers custody import`. The task's copy, with the imported events, is published
// as custody/ledger.sqlite (where biomarkers run writes it when --ledger is not given).
// Trust as under `biomarkers run`: the ledger's anchor log (heads recorded outside it) is
// copied beside the task's ledger, verified, appended to by the import and published
// with it; with --custody_key_env the site key (HMAC) reaches the task as the Nextflow
// secret of that name (conf/modules.config), never as a parameter or in a file.
process CUSTODY {
    tag "custody"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${params.container_registry}/biomarkers:${params.container_tag}"

    input:
    path exports, stageAs: 'exports/?/*'
    path ledger, stageAs: 'ledger_in/*'
    path subjects
    path milestones
    path samplesheet, stageAs: 'samplesheet/*'
    val data_cutoff
    path protocol
    path anchor_log, stageAs: 'anchors_in/*'
    val key_env

    output:
    path "custody/*", emit: tables
    path "custody/ledger.sqlite", emit: ledger
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def has_ledger = ledger ? 'yes' : ''
    def has_exports = exports ? 'yes' : ''
    def samplesheet_opt = samplesheet ? "--samplesheet ${samplesheet}" : ''
    def cutoff_opt = data_cutoff ? "--data-cutoff ${data_cutoff}" : ''
    def protocol_opt = protocol ? "--protocol ${protocol}" : ''
    def has_anchors = anchor_log ? 'yes' : ''
    def key_opt = key_env ? "--key-env ${key_env}" : ''
    """
    mkdir -p custody
    if [ -n "${has_ledger}" ]; then
        cp -L ${ledger} custody/ledger.sqlite
        chmod u+w custody/ledger.sqlite
    fi
    if [ -n "${has_anchors}" ]; then
        cp -L ${anchor_log} custody/ledger.sqlite.anchors.jsonl
        chmod u+w custody/ledger.sqlite.anchors.jsonl
    fi
    if [ -n "${has_exports}" ]; then
        biomarkers custody import --ledger custody/ledger.sqlite --subjects ${subjects} ${protocol_opt} ${key_opt} ${exports}
    fi
    biomarkers custody verify --ledger custody/ledger.sqlite ${key_opt}
    biomarkers custody check ${args} --ledger custody/ledger.sqlite --subjects ${subjects} --milestones ${milestones} ${samplesheet_opt} ${cutoff_opt} ${protocol_opt} ${key_opt} --outdir .

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: \$(biomarkers --version | sed 's/^biomarkers //')
    END_VERSIONS
    """

    stub:
    """
    mkdir -p custody
    touch custody/ledger.sqlite custody/specimens.parquet custody/events.parquet custody/lineage.parquet custody/issues.parquet custody/completeness.parquet custody/completeness.png custody/issues_by_rule.png

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biomarkers: stub
    END_VERSIONS
    """
}
