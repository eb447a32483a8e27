// Sequencing inputs from the samplesheet rows, paired as biomarkers run pairs them.
//
// MSI: one task per tumour BAM (wes_tumor, panel_tumor). Its row names its germline
// specimen in normal_specimen; when that specimen's wes_normal BAM is in the
// samplesheet the tumour is analysed paired, otherwise tumour-only.
// TMB: one task per somatic VCF (vcf_somatic), with the tumour BAM of the same
// specimen when there is one (else the denominator is the targets or a given size)
// and the matched normal's BAM (normal_specimen of the VCF row, else of the tumour row).

workflow TUMOUR_INPUTS {
    take:
    rows   // channel: [meta, file, index]

    main:
    // Every row by (specimen, assay), as a value channel.
    ch_by_key = rows
        .toList()
        .map { entries -> entries.collectEntries { meta, file, index -> [([meta.id, meta.assay]): [meta, file, index ?: []]] } }

    // [meta + mode, tumour bam, index, normal bam or [], normal index or []]
    ch_tumours = rows
        .filter { meta, _bam, _index -> meta.assay in ['wes_tumor', 'panel_tumor'] }
        .combine(ch_by_key)
        .map { meta, bam, index, by_key ->
            def normal = meta.normal_specimen ? by_key[[meta.normal_specimen, 'wes_normal']] : null
            normal
                ? [meta + [mode: 'paired'], bam, index ?: [], normal[1], normal[2]]
                : [meta + [mode: 'tumor_only'], bam, index ?: [], [], []]
        }

    // [meta, vcf, vcf index, tumour bam or [], index or [], normal bam or [], index or []]
    ch_tmb = rows
        .filter { meta, _vcf, _index -> meta.assay == 'vcf_somatic' }
        .combine(ch_by_key)
        .map { meta, vcf, vcf_index, by_key ->
            def tumour = by_key[[meta.id, 'wes_tumor']] ?: by_key[[meta.id, 'panel_tumor']]
            def normal_id = meta.normal_specimen ?: (tumour ? tumour[0].normal_specimen : null)
            def normal = normal_id ? by_key[[normal_id, 'wes_normal']] : null
            [
                meta + [normal_specimen: normal_id ?: null],
                vcf, vcf_index ?: [],
                tumour ? tumour[1] : [], tumour ? tumour[2] : [],
                normal ? normal[1] : [], normal ? normal[2] : [],
            ]
        }

    emit:
    tumours = ch_tumours
    tmb_tasks = ch_tmb
}
