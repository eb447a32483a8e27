"""The per-record reader: per-allele facts (depth, reads, VAF, population AF, consequence) from each record's text.

This is the reference reader: it handles every record (multi-allelic, indels, MNVs,
irregular values), and the column-wise reader in ``_fast`` must agree with it on the
records it reads itself. Multi-allelic records are split; each ALT is normalized
(``_alleles.normalize``); spanning deletions and symbolic alleles are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pysam

from ...errors import InputError
from ._alleles import normalize
from ._annotation import Annotation, vep_allele

__all__ = ["ATTRIBUTE_COLUMNS", "ReaderSetup", "python_attributes", "typed_attributes", "empty_attributes"]

def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return None if value != value else value


def _count(text: str | None) -> int | None:
    """A read count: digits, or missing ('.' or empty); anything else (``x``, ``-3``) is refused by the caller."""
    if text is None or text in ("", "."):
        return None
    if text.isascii() and text.isdigit():
        return int(text)
    raise ValueError(text)


def _ints(text: str | None) -> list[int | None] | None:
    """FORMAT/AD: one read count per allele, each a non-negative integer or missing; ValueError otherwise."""
    if text is None or text == ".":
        return None
    return [_count(piece) for piece in text.split(",")]


@dataclass
class ReaderSetup:
    """What both readers need to know about the VCF: annotation layout, tumour column, AF number, population fields."""

    annotation: Annotation
    sample_index: int
    af_per_allele: bool
    info_pop_fields: list[str]
    annotation_prefix: str | None
    reference: pysam.FastaFile | None


_INT64_MAX = 2**63 - 1

ATTRIBUTE_COLUMNS = ["RECORD", "ALLELE", "CHROM", "POS", "REF", "ALT", "FILTER", "DEPTH", "ALT_READS", "VAF",
                     "POPULATION_AF", "CONSEQUENCE"]


def empty_attributes() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in ATTRIBUTE_COLUMNS + ["RAW_POS"]})


def python_attributes(lines: Iterable[tuple[int, str]], setup: ReaderSetup,
                      on_record: Callable[[int], None] | None = None) -> pd.DataFrame:
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
        af_text = values[i_af] if 0 <= i_af < len(values) else None
        # A read count that is not a non-negative integer is a broken record: `x,y` would drop the
        # variant's depth and `-5,-3` publish negative reads; refused, naming the record.
        try:
            ad = _ints(values[i_ad]) if 0 <= i_ad < len(values) else None
        except ValueError:
            raise InputError("read counts must be non-negative integers or '.'", row=f"record {chrom}:{vcf_pos}",
                             field="FORMAT/AD", value=values[i_ad]) from None
        try:
            depth = _count(dp_text)
        except ValueError:
            raise InputError("read depth must be a non-negative integer or '.'", row=f"record {chrom}:{vcf_pos}",
                             field="FORMAT/DP", value=dp_text) from None
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
    return typed_attributes(frame)


def typed_attributes(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-allele frame with the dtypes both readers produce."""
    wanted = {"RECORD": np.int64, "ALLELE": np.int64, "POS": np.int64, "RAW_POS": np.int64, "DEPTH": "Int64",
              "ALT_READS": "Int64", "VAF": "float64", "POPULATION_AF": "float64", "CHROM": object, "REF": object,
              "ALT": object, "FILTER": object, "CONSEQUENCE": object}
    for col, dtype in wanted.items():
        if frame[col].dtype != dtype:
            frame[col] = frame[col].astype(dtype)
    return frame


def _info_value(info: str, prefix: str) -> str | None:
    """Value of one INFO key (``prefix`` is ``KEY=``) without splitting the whole field."""
    at = info.find(prefix)
    while at > 0 and info[at - 1] != ";":
        at = info.find(prefix, at + 1)
    if at < 0:
        return None
    end = info.find(";", at)
    return info[at + len(prefix):] if end < 0 else info[at + len(prefix):end]
