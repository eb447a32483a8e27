"""Count somatic variants through the funnel of filters (``_rules.FILTERS``).

The VCF is read with pysam (VCF or BCF, bgzipped or not) and each record is handled
from its text form, which is several times faster than pysam's per-sample accessors.
Multi-allelic records are split; each ALT is trimmed to its minimal representation and,
with the reference, indels are left-aligned (bcftools norm -f), so an MNV stays one
variant and a repeated record, whatever its spelling, is a duplicate.
A variant sits in a territory (targets, coding BED, callable bases) when its position
(POS of the trimmed allele, the anchor base of an indel) does.

The pieces, imported in one direction: ``_vcf`` (opening, samples, text lines),
``_alleles`` (normalization, hotspots), ``_records`` (the per-record reader, the
reference), ``_fast`` (the column-wise reader of plain SNVs), ``_funnel`` (the filters).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from ...errors import InputError
from ._alleles import read_hotspots
from ._annotation import Annotation, detect_annotation
from ._bed import Regions
from ._fast import arrow_attributes, read_body
from ._funnel import first_failed_filters, funnel
from ._records import ReaderSetup, python_attributes, typed_attributes
from ._rules import TmbRules
from ._vcf import choose_samples, open_vcf, record_lines, text_path

# choose_samples, funnel, open_vcf and read_hotspots are imported from here by _specimen.
__all__ = ["count_variants", "VARIANT_COLUMNS", "choose_samples", "funnel", "open_vcf", "read_hotspots"]

VARIANT_COLUMNS = [
    "CHROM", "POS", "REF", "ALT", "VARIANT_TYPE", "FILTER", "DEPTH", "ALT_READS", "VAF",
    "POPULATION_AF", "CONSEQUENCE", "COUNTED", "FIRST_FAILED_FILTER",
]


def count_variants(
    vcf: pysam.VariantFile,
    rules: TmbRules,
    *,
    tumor_sample: str,
    tumor_only: bool,
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
    setup = _reader_setup(vcf.header, rules, tumor_sample=tumor_sample, coding=coding, reference=reference, file=file)
    frame = _allele_facts(vcf, setup, rules, vectorized=vectorized, on_record=on_record, file=file)
    _check_contigs(frame, targets, reference, rules, file)
    return first_failed_filters(frame, rules, tumor_only=tumor_only, callable_regions=callable_regions, coding=coding,
                                hotspots=hotspots, annotation_kind=setup.annotation.kind)


def _check_contigs(frame: pd.DataFrame, targets: Regions, reference: pysam.FastaFile | None, rules: TmbRules, file) -> None:
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
        if rules.off_target_contigs == "error" and chrom not in target_contigs:
            raise InputError("contig is not in the target BED (restrict the VCF to the targets, or set off_target_contigs: not_callable)",
                             file=file, row=where, field="CHROM", value=chrom)


def _reader_setup(header: pysam.VariantHeader, rules: TmbRules, *, tumor_sample: str, coding: Regions | None,
                  reference: pysam.FastaFile | None, file) -> ReaderSetup:
    """What the readers need from the header; a VCF whose VAF or coding status cannot be known is refused."""
    fmt_keys = set(header.formats)
    if "AF" not in fmt_keys and "AD" not in fmt_keys:
        raise InputError("VCF declares neither FORMAT AF nor FORMAT AD: the tumour VAF cannot be known", file=file, field="FORMAT")
    annotation: Annotation = detect_annotation(header, rules)
    if annotation.kind == "NONE" and coding is None:
        raise InputError("VCF has no VEP CSQ or SnpEff ANN annotation; give a coding-region BED (--coding-bed)", file=file, field="INFO")
    return ReaderSetup(
        annotation=annotation,
        sample_index=list(header.samples).index(tumor_sample),
        af_per_allele="AF" in fmt_keys and header.formats["AF"].number == "A",
        info_pop_fields=[f for f in rules.population.info_fields if f in header.info],
        annotation_prefix=f"{annotation.tag}=" if annotation.tag else None,
        reference=reference,
    )


def _allele_facts(vcf: pysam.VariantFile, setup: ReaderSetup, rules: TmbRules, *, vectorized: bool,
                  on_record: Callable[[int], None] | None, file) -> pd.DataFrame:
    """Per-allele facts of every record, in file order: plain SNVs column-wise (with ``vectorized``), the rest per record."""
    path = text_path(vcf)
    if not vectorized or path is None:
        return _per_record(enumerate(record_lines(vcf)), setup, file, on_record=on_record)
    table = read_body(path)
    if on_record is not None:
        on_record(table.num_rows)
    fast, rest = arrow_attributes(table, setup, rules)
    slow = _per_record(rest, setup, file)
    if len(slow) and len(fast):
        frame = pd.concat([fast, slow], ignore_index=True)
        return typed_attributes(frame.sort_values(["RECORD", "ALLELE"], kind="stable").reset_index(drop=True))
    return typed_attributes(slow if len(slow) else fast)


def _per_record(lines, setup: ReaderSetup, file, on_record: Callable[[int], None] | None = None) -> pd.DataFrame:
    try:
        return python_attributes(lines, setup, on_record=on_record)
    except InputError as exc:
        raise exc.with_context(file=file) from None
