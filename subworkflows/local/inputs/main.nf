// Tumour specimens with their paired normal and somatic VCF, from samplesheet rows.
// A tumour row (wes_tumor, panel_tumor) names its germline specimen in
// normal_specimen; when that specimen's wes_normal BAM is in the samplesheet the
// tumour is analysed paired, otherwise tumour-only.

workflow TUMOUR_INPUTS {
    take:
    rows   // channel: [meta, file, index]

    main:
    ch_tumour_rows = rows.filter { meta, _bam, _index -> meta.assay in ['wes_tumor', 'panel_tumor'] }
    // Small lookup tables (one entry per specimen), as value channels.
    ch_normals = rows
        .filter { meta, _bam, _index -> meta.assay == 'wes_normal' }
        .toList()
        .map { entries -> entries.collectEntries { meta, bam, index -> [(meta.id): [bam, index]] } }
    ch_vcfs = rows
        .filter { meta, _vcf, _index -> meta.assay == 'vcf_somatic' }
        .toList()
        .map { entries -> entries.collectEntries { meta, vcf, index -> [(meta.id): [vcf, index]] } }

    // [meta + mode, tumour bam, index, normal bam or [], normal index or []]
    ch_tumours = ch_tumour_rows
        .combine(ch_normals)
        .map { meta, bam, index, normals ->
            def normal = normals[meta.normal_specimen]
            normal
                ? [meta + [mode: 'paired'], bam, index, normal[0], normal[1]]
                : [meta + [mode: 'tumour_only'], bam, index, [], []]
        }

    // Tumours with a somatic VCF: [meta, vcf, vcf index, tumour bam, index, normal bam, index]
    ch_with_vcf = ch_tumours
        .combine(ch_vcfs)
        .filter { meta, _bam, _index, _normal, _normal_index, vcfs -> vcfs.containsKey(meta.id) }
        .map { meta, bam, index, normal, normal_index, vcfs ->
            [meta, vcfs[meta.id][0], vcfs[meta.id][1], bam, index, normal, normal_index]
        }

    emit:
    tumours = ch_tumours
    tumours_with_vcf = ch_with_vcf
}
