// Microsatellite instability, as biomarkers run does it: the site table given
// (--msi_sites) or MSI_SCAN once when there is a tumour; for tumours without a normal in the samplesheet,
// the baseline given (--msi_baseline) or MSI_BASELINE once from the panel of
// normals (--pon); one MSI task per tumour specimen, paired when its normal BAM
// exists; MSI_COLLECT into genomics/msi.parquet, genomics/msi_sites/ (one file per specimen) and plots.
// A tumour-only specimen with neither baseline nor panel of normals is skipped, with a warning.
// Paired calls take their status rule from MSI_COHORT_BASELINE (the cohort's matched normals,
// when there are at least two), else from the panel-of-normals baseline when there is one,
// else from the defaults of assets/msi.yaml.

include { MSI_SCAN     } from '../../../modules/local/msi_scan/main'
include { MSI_BASELINE } from '../../../modules/local/msi_baseline/main'
include { MSI_COHORT_BASELINE } from '../../../modules/local/msi_cohort_baseline/main'
include { MSI          } from '../../../modules/local/msi/main'
include { MSI_COLLECT    } from '../../../modules/local/msi_collect/main'
include { fastaWithIndex; optionalFile; indexedFiles } from '../utils_biomarkers/main'

workflow GENOMICS_MSI {
    take:
    tumours      // channel: [meta (with mode), tumour bam, index, normal bam or [], index or []]
    run_params   // value channel: Map of the run's parameters (fasta given)

    main:
    // Value channels: every MSI task reads them.
    ch_fasta = run_params.map { p -> fastaWithIndex(p.fasta) }.first()
    ch_config = run_params.map { p -> optionalFile(p.msi_config) }.first()

    // The parameters, once, if there is a tumour: no tumour, no scan (as biomarkers run).
    ch_has_tumours = tumours
        .first()
        .combine(run_params)
        .map { row -> row[-1] }
    ch_scan = ch_has_tumours.filter { p -> !p.msi_sites }
    MSI_SCAN(
        ch_scan.map { p -> fastaWithIndex(p.fasta) },
        ch_scan.map { p -> optionalFile(p.targets) },
        ch_scan.map { p -> optionalFile(p.msi_config) },
    )
    ch_sites = run_params
        .filter { p -> p.msi_sites }
        .map { p -> file(p.msi_sites) }
        .mix(MSI_SCAN.out.sites)
        .first()

    ch_paired = tumours.filter { meta, _bam, _index, _normal, _normal_index -> meta.mode == 'paired' }
    ch_tumor_only = tumours.filter { meta, _bam, _index, _normal, _normal_index -> meta.mode == 'tumor_only' }

    // The parameters, once, if some tumour has no normal.
    ch_needs_baseline = ch_tumor_only
        .first()
        .combine(run_params)
        .map { row -> row[-1] }
    ch_build = ch_needs_baseline.filter { p -> !p.msi_baseline && p.pon }
    MSI_BASELINE(
        ch_sites,
        ch_build.map { p -> fastaWithIndex(p.fasta) },
        ch_build.map { p -> indexedFiles(p.pon)[0] },
        ch_build.map { p -> indexedFiles(p.pon)[1] },
        ch_build.map { p -> optionalFile(p.msi_config) },
    )
    ch_needs_baseline
        .filter { p -> !p.msi_baseline && !p.pon }
        .subscribe { _p -> log.warn("MSI: tumour-only specimens are skipped: give a panel of normals (--pon) or a baseline (--msi_baseline)") }
    ch_baseline = ch_needs_baseline
        .filter { p -> p.msi_baseline }
        .map { p -> file(p.msi_baseline) }
        .mix(MSI_BASELINE.out.baseline)

    // The cohort's matched normals, each once, in a stable order; a baseline of them if there are two or more.
    ch_cohort_normals = ch_paired
        .map { _meta, _bam, _index, normal, normal_index -> [normal, normal_index] }
        .unique { pair -> pair[0].toString() }
        .toSortedList { a, b -> a[0].toString() <=> b[0].toString() }
        .filter { pairs -> pairs.size() >= 2 }
    MSI_COHORT_BASELINE(
        ch_sites,
        ch_fasta,
        ch_cohort_normals.map { pairs -> pairs.collect { pair -> pair[0] } },
        ch_cohort_normals.map { pairs -> pairs.collect { pair -> pair[1] } },
        ch_config,
    )
    // The paired calls' rule: the cohort's baseline, else the panel's, else none ([]: the defaults).
    ch_paired_rule = MSI_COHORT_BASELINE.out.baseline
        .map { f -> [0, f] }
        .mix(ch_baseline.map { f -> [1, f] })
        .toSortedList { a, b -> a[0] <=> b[0] }
        .map { found -> [found ? found[0][1] : []] }

    ch_calls = ch_paired
        .combine(ch_paired_rule)
        .map { meta, bam, index, normal, normal_index, rule -> [meta, bam, index, normal, normal_index, rule] }
        .mix(
            ch_tumor_only
                .combine(ch_baseline)
                .map { meta, bam, index, _normal, _normal_index, baseline -> [meta, bam, index, [], [], baseline] }
        )
    MSI(ch_calls, ch_sites, ch_fasta, ch_config, run_params.map { p -> optionalFile(p.protocol) }.first())

    ch_parts = MSI.out.parts
        .flatMap { _meta, msi, sites -> [msi, sites] }
        .collect(sort: { a, b -> a.name <=> b.name })
    MSI_COLLECT(ch_parts)

    emit:
    tables = MSI_COLLECT.out.tables
    versions = MSI_SCAN.out.versions.mix(MSI_BASELINE.out.versions, MSI_COHORT_BASELINE.out.versions, MSI.out.versions.first(),
        MSI_COLLECT.out.versions)
}
