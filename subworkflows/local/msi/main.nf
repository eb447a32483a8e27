// Microsatellite instability: MSI_SCAN once; MSI_BASELINE from the panel of normals
// only when some tumour has no normal in the samplesheet; one MSI task per tumour
// specimen (paired when its normal BAM exists); MSI_MERGE into genomics/msi*.parquet.

include { MSI_SCAN     } from '../../../modules/local/msi_scan/main'
include { MSI_BASELINE } from '../../../modules/local/msi_baseline/main'
include { MSI          } from '../../../modules/local/msi/main'
include { MSI_MERGE    } from '../../../modules/local/msi_merge/main'

workflow GENOMICS_MSI {
    take:
    tumours    // channel: [meta (with mode), tumour bam, index, normal bam or [], index or []]
    fasta      // value channel: [fasta, [indices]]
    targets    // value channel: target BED or []
    pon_bams   // value channel: [[normal bams], [their indices]] of the panel of normals

    main:
    MSI_SCAN(fasta, targets)

    ch_paired = tumours.filter { meta, _bam, _index, _normal, _normal_index -> meta.mode == 'paired' }
    ch_tumour_only = tumours.filter { meta, _bam, _index, _normal, _normal_index -> meta.mode == 'tumour_only' }

    // Run the baseline once, and only if a tumour-only specimen needs it.
    ch_pon_needed = ch_tumour_only
        .first()
        .map { _row -> 'tumour-only specimens present' }
        .combine(pon_bams)
        .map { _reason, bams, indices -> [bams, indices] }
    MSI_BASELINE(
        MSI_SCAN.out.sites,
        fasta,
        ch_pon_needed.map { pon -> pon[0] },
        ch_pon_needed.map { pon -> pon[1] },
    )

    ch_calls = ch_paired
        .map { meta, bam, index, normal, normal_index -> [meta, bam, index, normal, normal_index, []] }
        .mix(
            ch_tumour_only
                .combine(MSI_BASELINE.out.baseline)
                .map { meta, bam, index, _normal, _normal_index, baseline -> [meta, bam, index, [], [], baseline] }
        )
    MSI(ch_calls, MSI_SCAN.out.sites.first(), fasta)

    ch_parts = MSI.out.parts
        .flatMap { _meta, msi, sites -> [msi, sites] }
        .collect(sort: { a, b -> a.name <=> b.name })
    MSI_MERGE(ch_parts)

    emit:
    tables = MSI_MERGE.out.tables
    versions = MSI_SCAN.out.versions.mix(MSI_BASELINE.out.versions, MSI.out.versions.first(), MSI_MERGE.out.versions)
}
