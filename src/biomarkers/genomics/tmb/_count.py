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
    _check_positions(frame, _contig_lengths(vcf.header, reference), file)
    if reference is not None:
        _check_reference_alleles(frame, reference, file)
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


def _contig_lengths(header: pysam.VariantHeader, reference: pysam.FastaFile | None) -> dict[str, tuple[int, str]]:
    """Contig -> (length, where it was declared): the reference FASTA's, else the VCF header's ``##contig`` lengths."""
    if reference is not None:
        return {name: (length, "reference FASTA") for name, length in zip(reference.references, reference.lengths)}
    return {name: (contig.length, "VCF header") for name, contig in header.contigs.items() if contig.length}


def _check_positions(frame: pd.DataFrame, lengths: dict[str, tuple[int, str]], file) -> None:
    """No variant beyond the end of its contig (a wrong build, or a corrupt POS)."""
    if frame.empty or not lengths:
        return
    limit = frame["CHROM"].map({c: n for c, (n, _) in lengths.items()})
    end = frame["RAW_POS"]
    beyond = (limit.notna() & (end > limit)).to_numpy()
    if beyond.any():
        i = int(np.flatnonzero(beyond)[0])
        chrom, pos = frame["CHROM"].iat[i], int(frame["RAW_POS"].iat[i])
        length, source = lengths[chrom]
        raise InputError(f"position is beyond the end of contig {chrom} ({length:,} bp in the {source})",
                         file=file, row=f"record {chrom}:{pos}", field="POS", value=pos)


def _check_reference_alleles(frame: pd.DataFrame, reference: pysam.FastaFile, file, window: int = 1 << 16) -> None:
    """Every allele's REF is the reference's sequence at its position (N matches any base): a VCF called on
    another build, or shifted by one, is refused at its first mismatch. Reads the FASTA in 64 kb windows."""
    if frame.empty:
        return
    chroms, positions, refs = frame["CHROM"].to_numpy(), frame["POS"].to_numpy(), frame["REF"].to_numpy()
    cached: tuple[str, int] | None = None
    sequence = ""
    for i in range(len(frame)):
        chrom, pos, ref = chroms[i], int(positions[i]), refs[i]
        start = (pos - 1) // window * window
        if cached != (chrom, start):
            sequence = reference.fetch(chrom, start, start + window + 4096).upper()
            cached = (chrom, start)
        offset = pos - 1 - start
        found = sequence[offset:offset + len(ref)] if offset + len(ref) <= len(sequence) else \
            reference.fetch(chrom, pos - 1, pos - 1 + len(ref)).upper()
        expected = ref.upper()
        if found != expected and not all(a == b or a == "N" or b == "N" for a, b in zip(expected, found.ljust(len(expected), "?"))):
            raw = int(frame["RAW_POS"].iat[i])
            raise InputError(f"REF {ref!r} does not match the reference FASTA ({found!r} at {chrom}:{pos}): "
                             "a VCF of another build, or positions shifted", file=file, row=f"record {chrom}:{raw}",
                             field="REF")


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
