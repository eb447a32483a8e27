"""Column-wise reading of a VCF's plain records with pyarrow (the counting fast path).

A record is *plain* when it has one ALT, REF and ALT are single bases, and its tumour
FORMAT and annotation fields are well formed; those are read here with vectorized
string kernels. Every other record (indels, MNVs, multi-allelic, symbolic, anything
irregular) goes to the per-record reader in ``_records``, which is the reference: the
tests require both to give the same answer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pysam

from ._records import ReaderSetup, empty_attributes
from ._rules import TmbRules
from ._scan import info_values, tumour_values

__all__ = ["read_body", "arrow_attributes"]

_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def read_body(path: str) -> pa.Table:
    """The data lines of a VCF (plain or bgzipped) as string columns c0, c1, ..."""
    with open(path, "rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    if compressed:
        data = _inflate(path)
    else:
        with open(path, "rb") as handle:
            data = handle.read()
    at = data.find(b"\n#CHROM")
    at = data.find(b"\n", at + 1) + 1 if at >= 0 else (data.find(b"\n") + 1 if data.startswith(b"#CHROM") else 0)
    header_line = data[data.rfind(b"\n", 0, at - 1) + 1:at].decode().rstrip("\n")
    n_columns = len(header_line.split("\t"))
    body = memoryview(data)[at:]
    names = [f"c{i}" for i in range(n_columns)]
    if not len(body):
        return pa.table({name: pa.array([], pa.string()) for name in names})
    return pacsv.read_csv(
        pa.BufferReader(pa.py_buffer(body)),
        # one thread: the parse is memory-bound, and extra threads cost more CPU time than they save
        read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24, use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False, double_quote=False),
        convert_options=pacsv.ConvertOptions(column_types={name: pa.string() for name in names}, strings_can_be_null=False,
                                             quoted_strings_can_be_null=False, null_values=[]),
    )


def _inflate(path: str) -> bytes:
    """Decompress a BGZF (or plain gzip) file: block by block with libdeflate when it is BGZF."""
    import struct

    import deflate

    with open(path, "rb") as handle:
        raw = handle.read()
    out = []
    at = 0
    try:
        while at < len(raw):
            # BGZF member: gzip header with the BC extra subfield giving the block size
            if raw[at:at + 4] != b"\x1f\x8b\x08\x04" or raw[at + 12:at + 14] != b"BC":
                raise ValueError("not BGZF")
            size = struct.unpack_from("<H", raw, at + 16)[0] + 1
            length = struct.unpack_from("<I", raw, at + size - 4)[0]
            if length:
                out.append(deflate.deflate_decompress(raw[at + 18:at + size - 8], length))
            at += size
    except (ValueError, struct.error, deflate.DeflateError):
        with pysam.BGZFile(path, "rb") as handle:  # plain gzip, or anything unusual: htslib decides
            return handle.read()
    return b"".join(out)


def _objects(values: pa.Array) -> np.ndarray:
    """numpy object array of a string column with few distinct values (CHROM, FILTER, bases,
    consequence terms): one Python string per distinct value, shared by reference, instead
    of one new string per row (which is what ``to_numpy`` builds)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    uniques = encoded.dictionary.to_numpy(zero_copy_only=False)
    indices = encoded.indices
    if indices.null_count:  # nulls (absent consequence) become None
        uniques = np.append(uniques, None)
        indices = pc.fill_null(indices, len(uniques) - 1)
    return uniques[indices.to_numpy()]


def _filter(values: pa.Array, mask: np.ndarray) -> pa.Array:
    """``values`` where ``mask``; no copy in the usual case where every row is kept."""
    return values if mask.all() else pc.filter(values, pa.array(mask))


def _numbers(text: pa.Array) -> np.ndarray:
    """float64 of strings that are numbers, NaN otherwise."""
    ok = pc.fill_null(pc.match_substring_regex(text, _NUMBER), False)
    cleaned = pc.if_else(ok, text, pa.scalar(None, pa.string()))
    return pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False)


def _split_max(values: pa.Array, n: int) -> np.ndarray:
    """Per record: the largest number among '&'-joined pieces (NaN when none)."""
    pieces = pc.split_pattern(pc.fill_null(values, ""), "&")
    parent = pc.list_parent_indices(pieces).to_numpy()
    nums = _numbers(pc.list_flatten(pieces))
    out = np.full(n, np.nan)
    keep = ~np.isnan(nums)
    np.fmax.at(out, parent[keep], nums[keep])
    return out


def arrow_attributes(table: pa.Table, setup: ReaderSetup, rules: TmbRules):
    """(frame of per-allele facts for plain records, [(index, line)] of the other records)."""
    n = table.num_rows
    column = 9 + setup.sample_index
    cols = table.columns
    if n == 0 or len(cols) <= column:
        return empty_attributes(), _lines(table, np.arange(n))
    ref, alt, fmt, sample, info = cols[3], cols[4], cols[8], cols[column], cols[7]
    ref = ref.combine_chunks()
    alt = alt.combine_chunks()
    plain = (pc.equal(pc.utf8_length(ref), 1).to_numpy(zero_copy_only=False)
             & pc.equal(pc.utf8_length(alt), 1).to_numpy(zero_copy_only=False)
             & pc.is_in(alt, value_set=pa.array(list("ACGTNacgtn"))).to_numpy(zero_copy_only=False))
    fmt = fmt.combine_chunks()
    sample = sample.combine_chunks()
    info = info.combine_chunks()

    # the tumour's DP, AD and AF, located by each distinct FORMAT's layout, in one pass
    fmt_encoded = pc.dictionary_encode(fmt)
    layouts = np.full((len(fmt_encoded.dictionary), 4), -1, dtype=np.int64)
    for k, text in enumerate(fmt_encoded.dictionary.to_pylist()):
        keys = text.split(":")
        idx = [keys.index(key) if key in keys else -1 for key in ("DP", "AD", "AF")]
        layouts[k] = [max(idx) + 1, *idx]
    depth, alt_reads, vaf, ad_total = tumour_values(sample, fmt_encoded.indices.to_numpy(), layouts, plain)
    use_total = np.isnan(depth)
    depth[use_total] = ad_total[use_total]
    from_ad = np.isnan(vaf) & ~np.isnan(alt_reads) & (ad_total > 0)
    vaf[from_ad] = alt_reads[from_ad] / ad_total[from_ad]
    from_vaf = np.isnan(alt_reads) & ~np.isnan(vaf) & ~np.isnan(depth)
    alt_reads[from_vaf] = np.round(vaf[from_vaf] * depth[from_vaf])

    population = np.full(n, np.nan)
    for key in setup.info_pop_fields:
        raw = info_values(info, key)
        first = pc.list_element(pc.split_pattern(pc.fill_null(raw, ""), ","), 0)
        population = np.fmax(population, _split_max(first, n))

    consequence = np.full(n, None, dtype=object)
    annotation = setup.annotation
    if annotation.kind != "NONE":
        raw = info_values(info, annotation.tag)
        has = pc.is_valid(raw).to_numpy(zero_copy_only=False)
        entries = pc.split_pattern(pc.fill_null(raw, ""), ",")
        record_of_entry = pc.list_parent_indices(entries).to_numpy()
        flat = pc.list_flatten(entries)
        cut = max([annotation.allele_index, annotation.consequence_index, *annotation.population_indexes]) + 1
        parts = pc.split_pattern(flat, "|", max_splits=cut)
        n_parts = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
        complete = n_parts > annotation.consequence_index
        bad_records = np.unique(record_of_entry[~complete & has[record_of_entry]])
        plain[bad_records] = False  # entries the per-record reader skips one by one
        parts = _filter(parts, complete)
        record_of_entry = record_of_entry[complete]
        safe = max([annotation.allele_index, *annotation.population_indexes], default=0)
        long_enough = n_parts[complete] > safe
        plain[np.unique(record_of_entry[~long_enough])] = False
        allele = pc.list_element(_filter(parts, long_enough), annotation.allele_index) if safe else \
            pc.list_element(parts, annotation.allele_index)
        if safe:
            parts = _filter(parts, long_enough)
            record_of_entry = record_of_entry[long_enough]
        # a plain SNV's VEP and SnpEff allele is its ALT
        matched = pc.fill_null(pc.equal(allele, alt.take(pa.array(record_of_entry))), False).to_numpy(zero_copy_only=False)
        has_match = np.zeros(n, dtype=bool)
        has_match[record_of_entry[matched]] = True
        eligible_entry = matched | ~has_match[record_of_entry]

        terms_lists = pc.split_pattern(pc.list_element(parts, annotation.consequence_index), "&")
        entry_of_term = pc.list_parent_indices(terms_lists).to_numpy()
        terms = pc.list_flatten(terms_lists)
        severity = pa.array(list(annotation.rank), pa.string())
        rank = pc.fill_null(pc.index_in(terms, value_set=severity), len(severity)).to_numpy(zero_copy_only=False)
        nonempty = pc.greater(pc.utf8_length(terms), 0).to_numpy(zero_copy_only=False)
        keep = eligible_entry[entry_of_term] & nonempty
        term_record = record_of_entry[entry_of_term][keep]
        term_rank = rank[keep]
        term_order = np.arange(len(rank))[keep]
        order = np.lexsort((term_order, term_rank, term_record))
        first = np.ones(len(order), dtype=bool)
        first[1:] = term_record[order][1:] != term_record[order][:-1]
        chosen = order[first]
        consequence[term_record[chosen]] = _objects(terms.take(pa.array(np.flatnonzero(keep)[chosen])))

        if annotation.population_indexes:
            # VEP population AFs: from the entries of the allele, else from every entry
            csq_pop = np.full(len(record_of_entry), np.nan)
            for i in annotation.population_indexes:
                csq_pop = np.fmax(csq_pop, _split_max(pc.list_element(parts, i), len(record_of_entry)))
            use = matched | ~has_match[record_of_entry]
            per_record = np.full(n, np.nan)
            ok = use & ~np.isnan(csq_pop)
            np.fmax.at(per_record, record_of_entry[ok], csq_pop[ok])
            population = np.fmax(population, per_record)

    rows = np.flatnonzero(plain)
    chrom = _objects(cols[0])
    pos = pc.cast(cols[1].combine_chunks(), pa.int64()).to_numpy()
    frame = pd.DataFrame({
        "RECORD": rows.astype(np.int64), "ALLELE": np.ones(len(rows), dtype=np.int64), "CHROM": chrom[rows],
        "POS": pos[rows], "REF": _objects(ref)[rows], "ALT": _objects(alt)[rows], "FILTER": _objects(cols[6])[rows],
        "DEPTH": _nullable_int(depth[rows]), "ALT_READS": _nullable_int(alt_reads[rows]),
        "VAF": vaf[rows], "POPULATION_AF": population[rows], "CONSEQUENCE": consequence[rows], "RAW_POS": pos[rows],
    }, copy=False)  # the arrays are fresh: no copy, and no consolidation of same-typed columns into one block
    return frame, _lines(table, np.flatnonzero(~plain))


def _nullable_int(values: np.ndarray) -> pd.arrays.IntegerArray:
    missing = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(np.int64), missing)


def _lines(table: pa.Table, rows: np.ndarray):
    """(index, text line) of ``rows``, rebuilt from the columns for the per-record reader."""
    if not len(rows):
        return []
    sub = table.take(pa.array(rows))
    columns = [c.to_pylist() for c in sub.columns]
    return [(int(i), "\t".join(values)) for i, values in zip(rows.tolist(), zip(*columns))]
