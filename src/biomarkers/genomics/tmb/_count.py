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

import bisect
from collections.abc import Callable
from dataclasses import dataclass
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
    with open(path, "rb") as probe:
        head = probe.read(14)
    if head[:2] == b"\x1f\x8b" and not (len(head) >= 14 and head[3] & 0x04 and head[12:14] == b"BC"):
        raise InputError("VCF is gzip- but not bgzip-compressed; recompress it with `bgzip` (or give it uncompressed)", file=path)
    # Records are streamed, never fetched by region: silence htslib's "no index" notice.
    previous = pysam.set_verbosity(0)
    try:
        return pysam.VariantFile(str(path))
    except (OSError, ValueError, NotImplementedError) as exc:
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


@dataclass
class _Setup:
    annotation: Annotation
    sample_index: int
    af_per_allele: bool
    info_pop_fields: list[str]
    annotation_prefix: str | None
    reference: pysam.FastaFile | None


_INT64_MAX = 2**63 - 1

ATTRIBUTE_COLUMNS = ["RECORD", "ALLELE", "CHROM", "POS", "REF", "ALT", "FILTER", "DEPTH", "ALT_READS", "VAF",
                     "POPULATION_AF", "CONSEQUENCE"]


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
    vectorized: bool = True,
) -> pd.DataFrame:
    """One row per split ALT allele seen, with COUNTED and FIRST_FAILED_FILTER.

    Per-allele facts (depth, VAF, consequence...) are read from each record's text;
    with ``vectorized`` (default) a VCF's plain single-base substitutions are read
    column-wise with pyarrow and every other record by the per-record reader, which
    is the reference: the tests hold both to the same answer on every file. The filter
    cascade is then applied to all alleles at once, in file order.
    """
    header = vcf.header
    fmt_keys = set(header.formats)
    if "AF" not in fmt_keys and "AD" not in fmt_keys:
        raise InputError("VCF declares neither FORMAT AF nor FORMAT AD: the tumour VAF cannot be known", file=file, field="FORMAT")
    annotation: Annotation = detect_annotation(header, rules)
    if annotation.kind == "NONE" and coding is None:
        raise InputError("VCF has no VEP CSQ or SnpEff ANN annotation; give a coding-region BED (--coding-bed)", file=file, field="INFO")
    setup = _Setup(
        annotation=annotation,
        sample_index=list(header.samples).index(tumour_sample),
        af_per_allele="AF" in fmt_keys and header.formats["AF"].number == "A",
        info_pop_fields=[f for f in rules["population"]["info_fields"] if f in header.info],
        annotation_prefix=f"{annotation.tag}=" if annotation.tag else None,
        reference=reference,
    )
    path = _text_path(vcf)
    if vectorized and path is not None:
        from ._fast import arrow_attributes, read_body

        table = read_body(path)
        if on_record is not None:
            on_record(table.num_rows)
        fast, rest = arrow_attributes(table, setup, rules)
        try:
            slow = _python_attributes(rest, setup)
        except InputError as exc:
            raise exc.with_context(file=file) from None
        if len(slow) and len(fast):
            frame = pd.concat([fast, slow], ignore_index=True)
            frame = _typed(frame.sort_values(["RECORD", "ALLELE"], kind="stable").reset_index(drop=True))
        else:
            frame = _typed(slow if len(slow) else fast)
    else:
        try:
            frame = _python_attributes(((i, line) for i, line in enumerate(_record_lines(vcf))), setup, on_record=on_record)
        except InputError as exc:
            raise exc.with_context(file=file) from None
    _check_contigs(frame, targets, reference, rules, file)
    return _cascade(frame, rules, tumour_only=tumour_only, callable_regions=callable_regions, coding=coding,
                    hotspots=hotspots, annotation_kind=annotation.kind)


def _text_path(vcf: pysam.VariantFile) -> str | None:
    path = vcf.filename.decode() if isinstance(vcf.filename, bytes) else str(vcf.filename)
    return path if vcf.format == "VCF" and Path(path).is_file() else None


def _check_contigs(frame: pd.DataFrame, targets: Regions, reference: pysam.FastaFile | None, rules: dict, file) -> None:
    if frame.empty:
        return
    codes, chroms = pd.factorize(frame["CHROM"])
    _, first_rows = np.unique(codes, return_index=True)
    reference_contigs = set(reference.references) if reference is not None else None
    target_contigs = set(targets.contigs)
    for chrom, first in zip(chroms, first_rows):
        where = f"record {chrom}:{frame['RAW_POS'].iat[first]}"
        if reference_contigs is not None and chrom not in reference_contigs:
            raise InputError("contig is not in the reference FASTA", file=file, row=where, field="CHROM", value=chrom)
        if rules["off_target_contigs"] == "error" and chrom not in target_contigs:
            raise InputError("contig is not in the target BED (restrict the VCF to the targets, or set off_target_contigs: not_callable)",
                             file=file, row=where, field="CHROM", value=chrom)


def _python_attributes(lines, setup: _Setup, on_record: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Per-allele facts of records given as (index, text line): the reference reader."""
    annotation = setup.annotation
    annotation_prefix = setup.annotation_prefix
    info_pop_fields = setup.info_pop_fields
    af_per_allele = setup.af_per_allele
    reference = setup.reference
    rows: list[tuple] = []
    format_layout: dict[str, tuple[int, int, int]] = {}
    column = 9 + setup.sample_index
    n_records = 0
    for record_index, line in lines:
        n_records += 1
        if on_record is not None and not n_records & 0x3FF:
            on_record(1024)
        fields = line.rstrip("\n").split("\t")
        chrom = fields[0]
        vcf_pos = int(fields[1])
        ref = fields[3]
        alts = tuple(fields[4].split(","))
        filt = fields[6]
        info = fields[7]
        annotation_value = _info_value(info, annotation_prefix) if annotation_prefix is not None else None
        # tumour FORMAT values, by the positions of DP, AD and AF in this record's FORMAT
        layout = format_layout.get(fields[8]) if len(fields) > 8 else (-1, -1, -1)
        if layout is None:
            keys = fields[8].split(":")
            layout = tuple(keys.index(k) if k in keys else -1 for k in ("DP", "AD", "AF"))  # type: ignore[assignment]
            format_layout[fields[8]] = layout  # type: ignore[index]
        values = fields[column].split(":") if len(fields) > column else []
        i_dp, i_ad, i_af = layout
        dp_text = values[i_dp] if 0 <= i_dp < len(values) else None
        ad = _ints(values[i_ad]) if 0 <= i_ad < len(values) else None
        af_text = values[i_af] if 0 <= i_af < len(values) else None
        depth = int(dp_text) if dp_text is not None and dp_text.isdigit() else None
        # A read count beyond int64 is a corrupt record, not a depth: say where, in one line.
        if depth is not None and depth > _INT64_MAX:
            raise InputError("read depth does not fit a 64-bit integer", row=f"record {chrom}:{vcf_pos}", field="FORMAT/DP", value=dp_text)
        if ad is not None and any(v is not None and v > _INT64_MAX for v in ad):
            raise InputError("allele depth does not fit a 64-bit integer", row=f"record {chrom}:{vcf_pos}", field="FORMAT/AD", value=values[i_ad])
        ad_total = sum(ad) if ad is not None and None not in ad else None  # type: ignore[arg-type]
        if depth is None:
            depth = ad_total
        af_list = af_text.split(",") if af_text not in (None, ".") else None
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
            if vaf is None and alt_reads is not None and ad_total:
                vaf = alt_reads / ad_total
            if alt_reads is None and vaf is not None and depth is not None:
                alt_reads = int(round(vaf * depth))
            v_allele = vep_allele(ref, alts, alt) if annotation.kind == "VEP" else alt
            consequence = annotation.most_severe(annotation_value, alt, v_allele) if annotation_value else None
            pop_af = None
            for key in info_pop_fields:
                raw = _info_value(info, key + "=")
                if raw:
                    pieces = raw.split(",")
                    piece = pieces[allele_number - 1] if len(pieces) == len(alts) else pieces[0]
                    for p in piece.split("&"):
                        val = _float(p) if p != "." else None
                        if val is not None:
                            pop_af = val if pop_af is None else max(pop_af, val)
            if annotation.population_indexes and annotation_value:
                csq_af = annotation.population_af(annotation_value, alt, v_allele)
                if csq_af is not None:
                    pop_af = csq_af if pop_af is None else max(pop_af, csq_af)
            rows.append((record_index, allele_number, chrom, pos, nref, nalt, filt, depth, alt_reads, vaf, pop_af,
                         consequence, vcf_pos))
    if on_record is not None:
        on_record(n_records & 0x3FF)
    frame = pd.DataFrame.from_records(rows, columns=ATTRIBUTE_COLUMNS + ["RAW_POS"])
    return _typed(frame)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    wanted = {"RECORD": np.int64, "ALLELE": np.int64, "POS": np.int64, "RAW_POS": np.int64, "DEPTH": "Int64",
              "ALT_READS": "Int64", "VAF": "float64", "POPULATION_AF": "float64", "CHROM": object, "REF": object,
              "ALT": object, "FILTER": object, "CONSEQUENCE": object}
    for col, dtype in wanted.items():
        if frame[col].dtype != dtype:
            frame[col] = frame[col].astype(dtype)
    return frame


def _contains(regions: Regions, chrom_codes: tuple[np.ndarray, np.ndarray], pos0: np.ndarray) -> np.ndarray:
    out = np.zeros(len(pos0), dtype=bool)
    codes, uniques = chrom_codes
    for k, contig in enumerate(uniques):
        sel = codes == k
        out[sel] = regions.contains(contig, pos0[sel])
    return out


def _variant_types(refs: tuple[np.ndarray, pd.Index], alts: tuple[np.ndarray, pd.Index]) -> np.ndarray:
    """VARIANT_TYPE from the factorized REF and ALT (lengths are taken once per distinct allele)."""
    (ref_codes, ref_uniques), (alt_codes, alt_uniques) = refs, alts
    ref_len = np.fromiter(map(len, ref_uniques), dtype=np.int64, count=len(ref_uniques))[ref_codes]
    alt_len = np.fromiter(map(len, alt_uniques), dtype=np.int64, count=len(alt_uniques))[alt_codes]
    kinds = np.array(["SNV", "MNV", ""], dtype=object)
    out = kinds[np.where(ref_len == alt_len, np.where(ref_len == 1, 0, 1), 2)]
    for i in np.flatnonzero(ref_len != alt_len).tolist():
        out[i] = _variant_type(ref_uniques[ref_codes[i]], alt_uniques[alt_codes[i]])
    return out


def _cascade(frame: pd.DataFrame, rules: dict, *, tumour_only: bool, callable_regions: Regions,
             coding: Regions | None, hotspots: set | None, annotation_kind: str) -> pd.DataFrame:
    """First failed filter of every allele, in the fixed order (vectorized over alleles)."""
    v = rules["variants"]
    n = len(frame)
    passed_filter = np.equal(frame["FILTER"].to_numpy(), "PASS") if v["pass_only"] else np.ones(n, dtype=bool)
    keys = ["CHROM", "POS", "REF", "ALT"]
    chrom_codes = pd.factorize(frame["CHROM"])
    ref_codes = pd.factorize(frame["REF"])
    alt_codes = pd.factorize(frame["ALT"])
    duplicate = np.zeros(n, dtype=bool)
    # integer codes hash much faster than the strings themselves
    columns = [chrom_codes[0], frame["POS"].to_numpy(), ref_codes[0], alt_codes[0]]
    sizes = [len(chrom_codes[1]), int(columns[1].max(initial=0)) + 1, len(ref_codes[1]), len(alt_codes[1])]
    if n and columns[1].min() >= 0 and np.prod(sizes, dtype=object) < 2**63:
        # the usual case: the four codes packed into one int64 key (mixed radix, exact)
        key = np.zeros(n, dtype=np.int64)
        for values, size in zip(columns, sizes):
            key = key * size + values
        duplicate[passed_filter] = pd.Series(key[passed_filter]).duplicated(keep="first").to_numpy()
    else:
        coded = pd.DataFrame(dict(zip(keys, columns)), copy=False)
        duplicate[passed_filter] = coded.loc[passed_filter].duplicated(keep="first").to_numpy()
    depth = frame["DEPTH"].astype("float64").to_numpy()
    alt_reads = frame["ALT_READS"].astype("float64").to_numpy()
    vaf = frame["VAF"].to_numpy()
    pop = frame["POPULATION_AF"].to_numpy()
    with np.errstate(invalid="ignore"):
        low_depth = np.isnan(depth) | (depth < v["min_depth"])
        low_alt = np.isnan(alt_reads) | (alt_reads < v["min_alt_reads"])
        low_vaf = np.isnan(vaf) | (vaf < v["min_vaf"])
        population = tumour_only & ~np.isnan(pop) & (pop > rules["population"]["max_af"])
    use_hotspots = bool(hotspots) and tumour_only and rules["hotspots"]["remove_in_tumour_only"]
    hotspot = np.zeros(n, dtype=bool)
    if use_hotspots:
        hotspot = np.fromiter(((c, p, r, a) in hotspots for c, p, r, a in frame[keys].itertuples(index=False, name=None)),  # type: ignore[operator]
                              dtype=bool, count=n)
    pos0 = frame["POS"].to_numpy() - 1
    nonsyn = set(rules["consequences"]["nonsynonymous"])
    syn = set(rules["consequences"]["synonymous"])
    if annotation_kind == "NONE":
        coding_ok = _contains(coding, chrom_codes, pos0)  # type: ignore[arg-type]
        is_syn = np.zeros(n, dtype=bool)
    else:
        codes, terms = pd.factorize(frame["CONSEQUENCE"])  # None -> -1
        term_syn = np.array([t in syn for t in terms] + [False], dtype=bool)
        term_nonsyn = np.array([t in nonsyn for t in terms] + [False], dtype=bool)
        is_syn = term_syn[codes]
        coding_ok = term_nonsyn[codes] | is_syn
    not_callable = ~_contains(callable_regions, chrom_codes, pos0)
    conditions = [~passed_filter, duplicate, low_depth, low_alt, low_vaf, population, hotspot, ~coding_ok,
                  is_syn & (not v["count_synonymous"]), not_callable]
    names = np.array(["filter", "duplicate", "depth", "alt_reads", "vaf", "population", "hotspot", "not_coding",
                      "synonymous", "not_callable", None], dtype=object)
    failed_index = np.select(conditions, list(range(len(conditions))), default=len(conditions))
    failed = names[failed_index]
    out = pd.DataFrame({
        "CHROM": frame["CHROM"], "POS": frame["POS"], "REF": frame["REF"], "ALT": frame["ALT"],
        "VARIANT_TYPE": _variant_types(ref_codes, alt_codes),
        "FILTER": frame["FILTER"], "DEPTH": frame["DEPTH"], "ALT_READS": frame["ALT_READS"], "VAF": frame["VAF"],
        "POPULATION_AF": frame["POPULATION_AF"], "CONSEQUENCE": frame["CONSEQUENCE"],
        "COUNTED": failed_index == len(conditions),
        "FIRST_FAILED_FILTER": failed,
    }, copy=False)  # no copy, no consolidation of the columns into 2-D blocks (a full copy of the table)
    out["COUNTED"] = out["COUNTED"].astype(bool)
    return out


def _record_lines(vcf: pysam.VariantFile):
    """Data lines of the VCF as text: read straight through BGZF (or plain text) when the
    file is VCF, which is several times faster than formatting pysam records; BCF records
    are formatted by htslib."""
    path = vcf.filename.decode() if isinstance(vcf.filename, bytes) else str(vcf.filename)
    if vcf.format != "VCF" or not Path(path).is_file():
        for rec in vcf:
            yield str(rec)
        return
    with open(path, "rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    handle = pysam.BGZFile(path, "rb") if compressed else open(path, "rb")
    try:
        for raw in handle:
            if raw[:1] != b"#":
                yield raw.decode()
    finally:
        handle.close()


def _info_value(info: str, prefix: str) -> str | None:
    """Value of one INFO key (``prefix`` is ``KEY=``) without splitting the whole field."""
    at = info.find(prefix)
    while at > 0 and info[at - 1] != ";":
        at = info.find(prefix, at + 1)
    if at < 0:
        return None
    end = info.find(";", at)
    return info[at + len(prefix):] if end < 0 else info[at + len(prefix):end]


class _IntervalLookup:
    """Point-in-intervals queries with bisect over Python lists (faster than numpy per call)."""

    def __init__(self, regions: Regions):
        self._starts = {c: s.tolist() for c, (s, _) in regions.intervals.items()}
        self._ends = {c: e.tolist() for c, (_, e) in regions.intervals.items()}

    def contains(self, contig: str, pos0: int) -> bool:
        starts = self._starts.get(contig)
        if not starts:
            return False
        i = bisect.bisect_right(starts, pos0) - 1
        return i >= 0 and pos0 < self._ends[contig][i]


def funnel(variants: pd.DataFrame) -> dict[str, int]:
    """How many variants each filter removed (N_<FILTER>), and how many were counted."""
    counts = variants["FIRST_FAILED_FILTER"].value_counts()
    out = {"N_VARIANTS": int(len(variants))}
    for name in FILTERS:
        out[f"N_{name.upper()}"] = int(counts.get(name, 0))
    out["N_COUNTED"] = int(variants["COUNTED"].sum())
    return out
