"""Count somatic variants through the funnel of filters (``_rules.FILTERS``).

The VCF is read with pysam (VCF or BCF, bgzipped or not) and each record is handled
from its text form, which is several times faster than pysam's per-sample accessors.
Multi-allelic records are split; each ALT is trimmed to its minimal representation and,
with the reference, indels are left-aligned (bcftools norm -f), so an MNV stays one
variant and a repeated record, whatever its spelling, is a duplicate.
A variant sits in a territory (targets, coding BED, callable bases) when its position
(POS of the trimmed allele, the anchor base of an indel) does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from ...errors import InputError
from ...log import Progress, get_logger
from ._annotation import Annotation, detect_annotation, vep_allele
from ._bed import Regions
from ._rules import FILTERS

__all__ = ["open_vcf", "choose_samples", "count_variants", "read_hotspots", "normalize", "VARIANT_COLUMNS"]

log = get_logger("tmb")

VARIANT_COLUMNS = [
    "CHROM", "POS", "REF", "ALT", "VARIANT_TYPE", "FILTER", "DEPTH", "ALT_READS", "VAF",
    "POPULATION_AF", "CONSEQUENCE", "COUNTED", "FIRST_FAILED_FILTER",
]


def open_vcf(path: str | Path) -> pysam.VariantFile:
    path = Path(path)
    if not path.exists():
        raise InputError("VCF not found", file=path)
    # Records are streamed, never fetched by region: silence htslib's "no index" notice.
    previous = pysam.set_verbosity(0)
    try:
        return pysam.VariantFile(str(path))
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable VCF/BCF: {exc}", file=path) from None
    finally:
        pysam.set_verbosity(previous)


def _header_meta(header: pysam.VariantHeader, key: str) -> str | None:
    for rec in header.records:
        if rec.key == key and rec.value:
            return rec.value.strip().strip('"')
    return None


def choose_samples(header: pysam.VariantHeader, *, tumour_sample: str | None = None,
                   specimen: str | None = None, file: str | Path = "") -> tuple[str, str | None]:
    """Which sample is the tumour, and which (if any) the matched normal.

    By name when given; else ``##tumor_sample=``; else the sample named as the specimen;
    else the sample that is not ``##normal_sample=``; else the only sample.
    """
    samples = list(header.samples)
    if not samples:
        raise InputError("VCF has no sample columns; TMB needs the tumour's FORMAT fields", file=file)
    normal = _header_meta(header, "normal_sample")
    if tumour_sample is not None:
        if tumour_sample not in samples:
            raise InputError(f"tumour sample is not in the VCF (samples: {', '.join(samples)})", file=file, field="--tumor-sample", value=tumour_sample)
        tumour = tumour_sample
    elif (declared := _header_meta(header, "tumor_sample")) is not None:
        if declared not in samples:
            raise InputError(f"##tumor_sample names a sample that is not in the VCF (samples: {', '.join(samples)})", file=file, field="tumor_sample", value=declared)
        tumour = declared
    elif specimen is not None and specimen in samples:
        tumour = specimen
    elif normal is not None and normal in samples and len(samples) == 2:
        tumour = next(s for s in samples if s != normal)
    elif len(samples) == 1:
        tumour = samples[0]
    else:
        raise InputError(f"cannot tell which sample is the tumour among {', '.join(samples)}; give --tumor-sample", file=file)
    if normal is None or normal not in samples or normal == tumour:
        others = [s for s in samples if s != tumour]
        normal = others[0] if len(others) == 1 else None
    return tumour, normal


def normalize(pos: int, ref: str, alt: str, *, chrom: str | None = None,
              reference: pysam.FastaFile | None = None) -> tuple[int, str, str]:
    """Trim a shared suffix, then a shared prefix, keeping one base; with the reference,
    left-align a simple indel as well (bcftools norm -f), so that every spelling of the
    same indel in a repeat is one variant."""
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    if reference is not None and len(ref) != len(alt) and (len(ref) == 1 or len(alt) == 1) and ref[-1] == alt[-1]:
        window = ""
        window_start = pos - 1  # 0-based start of `window`
        while pos > 1 and ref[-1] == alt[-1]:
            if pos - 2 < window_start:
                window_start = max(0, pos - 1 - 64)
                window = reference.fetch(chrom, window_start, pos - 1).upper()
            base = window[pos - 2 - window_start]
            ref, alt, pos = base + ref[:-1], base + alt[:-1], pos - 1
    return pos, ref, alt


def _variant_type(ref: str, alt: str) -> str:
    if len(ref) == len(alt):
        return "SNV" if len(ref) == 1 else "MNV"
    if len(ref) == 1 and alt[0] == ref[0]:
        return "INS"
    if len(alt) == 1 and ref[0] == alt[0]:
        return "DEL"
    return "COMPLEX"


def read_hotspots(path: str | Path, reference: pysam.FastaFile | None = None) -> set[tuple[str, int, str, str]]:
    """Known hotspots (e.g. COSMIC recurrent mutations) as normalized (CHROM, POS, REF, ALT)."""
    spots: set[tuple[str, int, str, str]] = set()
    with open_vcf(path) as vcf:
        for rec in vcf:
            for alt in rec.alts or ():
                pos, ref, a = normalize(rec.pos, rec.ref, alt, chrom=rec.chrom, reference=reference)
                spots.add((rec.chrom, pos, ref, a))
    return spots


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return None if value != value else value


def _ints(text: str | None) -> list[int | None] | None:
    if text is None or text == ".":
        return None
    out: list[int | None] = []
    for piece in text.split(","):
        try:
            out.append(int(piece))
        except ValueError:
            out.append(None)
    return out


def count_variants(
    vcf: pysam.VariantFile,
    rules: dict,
    *,
    tumour_sample: str,
    tumour_only: bool,
    targets: Regions,
    callable_regions: Regions,
    coding: Regions | None = None,
    hotspots: set | None = None,
    reference: pysam.FastaFile | None = None,
    file: str | Path = "",
    on_record: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """One row per split ALT allele seen, with COUNTED and FIRST_FAILED_FILTER."""
    header = vcf.header
    fmt_keys = set(header.formats)
    if "AF" not in fmt_keys and "AD" not in fmt_keys:
        raise InputError("VCF declares neither FORMAT AF nor FORMAT AD: the tumour VAF cannot be known", file=file, field="FORMAT")
    af_per_allele = "AF" in fmt_keys and header.formats["AF"].number == "A"
    annotation: Annotation = detect_annotation(header, rules)
    if annotation.kind == "NONE" and coding is None:
        raise InputError("VCF has no VEP CSQ or SnpEff ANN annotation; give a coding-region BED (--coding-bed)", file=file, field="INFO")
    sample_index = list(header.samples).index(tumour_sample)

    variants_rules = rules["variants"]
    pass_only = variants_rules["pass_only"]
    min_depth = variants_rules["min_depth"]
    min_alt = variants_rules["min_alt_reads"]
    min_vaf = variants_rules["min_vaf"]
    count_syn = variants_rules["count_synonymous"]
    max_pop_af = rules["population"]["max_af"]
    info_pop_fields = [f for f in rules["population"]["info_fields"] if f in header.info]
    nonsyn = set(rules["consequences"]["nonsynonymous"])
    syn = set(rules["consequences"]["synonymous"])
    use_hotspots = bool(hotspots) and tumour_only and rules["hotspots"]["remove_in_tumour_only"]
    off_target_error = rules["off_target_contigs"] == "error"
    target_contigs = set(targets.contigs)
    reference_contigs = set(reference.references) if reference is not None else None
    annotation_prefix = f"{annotation.tag}=" if annotation.tag else None
    wanted_info = set(info_pop_fields)

    seen: set[tuple[str, int, str, str]] = set()
    rows: list[tuple] = []
    checked_contigs: set[str] = set()
    n_records = 0
    for rec in vcf:
        n_records += 1
        if on_record is not None and not n_records & 0x3FF:
            on_record(1024)
        fields = str(rec).rstrip("\n").split("\t")
        chrom = fields[0]
        if chrom not in checked_contigs:
            where = f"record {chrom}:{fields[1]}"
            if reference_contigs is not None and chrom not in reference_contigs:
                raise InputError("contig is not in the reference FASTA", file=file, row=where, field="CHROM", value=chrom)
            if off_target_error and chrom not in target_contigs:
                raise InputError("contig is not in the target BED (restrict the VCF to the targets, or set off_target_contigs: not_callable)",
                                 file=file, row=where, field="CHROM", value=chrom)
            checked_contigs.add(chrom)
        vcf_pos = int(fields[1])
        ref = fields[3]
        alts = tuple(fields[4].split(","))
        filt = fields[6]
        info = fields[7]
        annotation_value = None
        info_values: dict[str, str] = {}
        if info != ".":
            for item in info.split(";"):
                if annotation_prefix is not None and item.startswith(annotation_prefix):
                    annotation_value = item[len(annotation_prefix):]
                elif wanted_info:
                    key, _, value = item.partition("=")
                    if key in wanted_info:
                        info_values[key] = value
        keys = fields[8].split(":") if len(fields) > 8 else []
        values = fields[9 + sample_index].split(":") if len(fields) > 9 + sample_index else []
        sample = dict(zip(keys, values))
        ad = _ints(sample.get("AD"))
        dp_text = sample.get("DP")
        depth = int(dp_text) if dp_text not in (None, ".") and dp_text.isdigit() else None
        if depth is None and ad is not None and all(v is not None for v in ad):
            depth = sum(ad)  # type: ignore[arg-type]
        af_values = sample.get("AF")
        af_list = af_values.split(",") if af_values not in (None, ".") else None
        passed_filter = (filt == "PASS") if pass_only else True

        for allele_number, alt in enumerate(alts, 1):
            if alt == "*" or alt.startswith("<") or alt == ".":
                continue  # spanning deletions and symbolic alleles are not small variants
            pos, nref, nalt = normalize(vcf_pos, ref, alt, chrom=chrom, reference=reference)
            alt_reads = ad[allele_number] if ad is not None and allele_number < len(ad) else None
            vaf = None
            if af_list is not None:
                if af_per_allele and allele_number - 1 < len(af_list):
                    vaf = _float(af_list[allele_number - 1])
                elif len(alts) == 1:
                    vaf = _float(af_list[0])
            if vaf is None and ad is not None and alt_reads is not None and all(v is not None for v in ad) and sum(ad) > 0:  # type: ignore[arg-type]
                vaf = alt_reads / sum(ad)  # type: ignore[arg-type]
            if alt_reads is None and vaf is not None and depth is not None:
                alt_reads = int(round(vaf * depth))
            v_allele = vep_allele(ref, alts, alt)
            consequence = annotation.most_severe(annotation_value, alt, v_allele) if annotation.kind != "NONE" else None
            pop_af = None
            for key in info_pop_fields:
                raw = info_values.get(key)
                if raw:
                    pieces = raw.split(",")
                    piece = pieces[allele_number - 1] if len(pieces) == len(alts) else pieces[0]
                    for p in piece.split("&"):
                        val = _float(p) if p != "." else None
                        if val is not None:
                            pop_af = val if pop_af is None else max(pop_af, val)
            csq_af = annotation.population_af(annotation_value, alt, v_allele) if annotation.population_indexes else None
            if csq_af is not None:
                pop_af = csq_af if pop_af is None else max(pop_af, csq_af)

            key = (chrom, pos, nref, nalt)
            failed = None
            if not passed_filter:
                failed = "filter"
            elif key in seen:
                failed = "duplicate"
            else:
                seen.add(key)
                if depth is None or depth < min_depth:
                    failed = "depth"
                elif alt_reads is None or alt_reads < min_alt:
                    failed = "alt_reads"
                elif vaf is None or vaf < min_vaf:
                    failed = "vaf"
                elif tumour_only and pop_af is not None and pop_af > max_pop_af:
                    failed = "population"
                elif use_hotspots and key in hotspots:  # type: ignore[operator]
                    failed = "hotspot"
                else:
                    pos0 = pos - 1
                    if annotation.kind == "NONE":
                        coding_ok = coding.contains(chrom, pos0)  # type: ignore[union-attr]
                        is_syn = False
                    else:
                        coding_ok = consequence in nonsyn or consequence in syn
                        is_syn = consequence in syn
                    if not coding_ok:
                        failed = "not_coding"
                    elif is_syn and not count_syn:
                        failed = "synonymous"
                    elif not callable_regions.contains(chrom, pos0):
                        failed = "not_callable"
            rows.append((chrom, pos, nref, nalt, _variant_type(nref, nalt), filt, depth, alt_reads, vaf,
                         pop_af, consequence, failed is None, failed))
    if on_record is not None:
        on_record(n_records & 0x3FF)
    frame = pd.DataFrame.from_records(rows, columns=VARIANT_COLUMNS)
    frame["POS"] = frame["POS"].astype(np.int64)
    for col in ("DEPTH", "ALT_READS"):
        frame[col] = frame[col].astype("Int64")
    for col in ("VAF", "POPULATION_AF"):
        frame[col] = frame[col].astype("float64")
    frame["COUNTED"] = frame["COUNTED"].astype(bool)
    return frame


def funnel(variants: pd.DataFrame) -> dict[str, int]:
    """How many variants each filter removed (N_<FILTER>), and how many were counted."""
    counts = variants["FIRST_FAILED_FILTER"].value_counts()
    out = {"N_VARIANTS": int(len(variants))}
    for name in FILTERS:
        out[f"N_{name.upper()}"] = int(counts.get(name, 0))
    out["N_COUNTED"] = int(variants["COUNTED"].sum())
    return out
