"""Reads of one simulated specimen: where they fall, how they are flagged, what they carry.

A specimen's reads are numpy arrays (one row per BAM record). The steps are:

1. ``sample_layout``: paired-end fragments over the merged targets at a given depth
   (fewer in low-coverage stretches), duplicates, low-MAPQ and QC-fail pairs, extra
   secondary and supplementary records, base qualities with low-quality bases and tails;
2. ``apply_length_alleles``: reads spanning a microsatellite get PCR stutter (+-1 unit
   at a configured rate) and, in MSI-H tumours, the somatic repeat shift; reads spanning
   a somatic indel carry it in the fragments chosen;
3. ``depth``: the per-base depth a ``samtools depth -s -Q 20 -q 20`` would report
   (flags 0xF04 excluded, overlapping mates counted once: the overlapping part of the
   mate that comes second in the file does not count);
4. substitutions (germline SNPs, somatic SNVs/MNVs: ``_genome``) in the fragments
   chosen, then ``apply_sequencing_errors`` at low-quality bases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._bamwriter import CIGAR_OPS, ReadTable

__all__ = ["Layout", "sample_layout", "fill_reference", "apply_length_alleles", "apply_indel", "depth", "counted_reads_at",
           "query_index_at", "apply_sequencing_errors", "to_read_table"]

EXCLUDED_FLAGS = 0x4 | 0x100 | 0x200 | 0x400 | 0x800  # unmapped, secondary, QC fail, duplicate, supplementary
PAIRED, PROPER, REVERSE, MATE_REVERSE, READ1, READ2 = 0x1, 0x2, 0x10, 0x20, 0x40, 0x80
SECONDARY, QCFAIL, DUPLICATE, SUPPLEMENTARY = 0x100, 0x200, 0x400, 0x800


@dataclass
class Layout:
    """Reads in output (coordinate) order; positions are global (contigs concatenated)."""

    gpos: np.ndarray  # int64 global leftmost aligned base
    contig: np.ndarray  # int32
    frag: np.ndarray  # int64 fragment id (pairs share it; secondary/supplementary borrow one)
    mate: np.ndarray  # int64 index of the mate record, -1 for secondary/supplementary
    bam_mate: np.ndarray  # int64 record whose position goes in RNEXT/PNEXT (secondary/supplementary: the primary's mate)
    flag: np.ndarray  # uint16
    mapq: np.ndarray  # uint8
    qual: np.ndarray  # (n, L) uint8
    seq: np.ndarray | None = None  # (n, L) uint8 ASCII, filled by fill_reference
    ref_len: np.ndarray | None = None  # int64, reference span (L unless an indel is carried)
    # reads carrying a length change: index -> (left matched bases, op 'I' or 'D', length)
    indel: dict = field(default_factory=dict)
    low_q: tuple | None = None  # (rows, cols) of bases below Q20, cached
    min_mapq: int = 20  # reads below this mapping quality do not count towards depth

    def low_quality(self, below: int = 20) -> tuple[np.ndarray, np.ndarray]:
        if self.low_q is None or self.low_q[0] != below:
            rows, cols = np.nonzero(self.qual < below)
            self.low_q = (below, rows, cols)
        return self.low_q[1], self.low_q[2]

    @property
    def n(self) -> int:
        return len(self.gpos)

    @property
    def read_len(self) -> int:
        return self.qual.shape[1]

    @property
    def passing(self) -> np.ndarray:
        return ((self.flag & EXCLUDED_FLAGS) == 0) & (self.mapq >= self.min_mapq)


def sample_layout(merged_targets_global: np.ndarray, contig_bounds: np.ndarray, factor: np.ndarray,
                  mean_depth: float, cfg: dict, rng: np.random.Generator) -> Layout:
    """Sample fragments over targets; return their reads in coordinate order.

    ``merged_targets_global``: (k, 3) rows of (contig, global start, global end);
    ``contig_bounds``: (n_contigs, 2) global start/end of each contig; ``factor``:
    per-base relative capture efficiency (1 normally, less in low-coverage stretches).
    """
    L = cfg["read_length"]
    frag_cfg = cfg["fragment_length"]
    spread = cfg["capture_spread"]
    starts = merged_targets_global[:, 1] - spread
    ends = merged_targets_global[:, 2] + spread
    expected = mean_depth * (ends - starts) / (2 * L)
    counts = rng.poisson(expected)
    iv = np.repeat(np.arange(len(starts)), counts)
    mid = starts[iv] + (rng.random(len(iv)) * (ends[iv] - starts[iv])).astype(np.int64)
    keep = rng.random(len(mid)) < factor[np.clip(mid, 0, len(factor) - 1)]
    iv, mid = iv[keep], mid[keep]
    n = len(mid)
    contig = merged_targets_global[iv, 0].astype(np.int32)
    flen = np.clip(np.rint(rng.normal(frag_cfg["mean"], frag_cfg["sd"], size=n)), max(frag_cfg["min"], L), frag_cfg["max"]).astype(np.int64)
    lo, hi = contig_bounds[contig, 0], contig_bounds[contig, 1]
    fstart = np.clip(mid - flen // 2, lo, hi - flen)

    # duplicates: exact copies of a fragment's coordinates, flagged on both mates
    n_dup = int(round(cfg["duplicate_fraction"] * n))
    src = np.sort(rng.choice(n, size=n_dup, replace=False)) if n_dup else np.zeros(0, dtype=np.int64)
    contig = np.concatenate([contig, contig[src]])
    flen = np.concatenate([flen, flen[src]])
    fstart = np.concatenate([fstart, fstart[src]])
    nf = len(fstart)
    pair_flag = np.zeros(nf, dtype=np.uint16)
    pair_flag[n:] |= DUPLICATE
    mapq = np.full(nf, 60, dtype=np.uint8)
    low = rng.random(nf) < cfg["low_mapq_fraction"]
    mapq[low] = rng.integers(0, 20, size=low.sum())
    pair_flag[rng.random(nf) < cfg["qcfail_fraction"]] |= QCFAIL

    # two reads per fragment: the forward one at the fragment start, the reverse one at its end
    fwd_is_r1 = rng.random(nf) < 0.5
    r_gpos = np.concatenate([fstart, fstart + flen - L])
    r_contig = np.concatenate([contig, contig])
    r_frag = np.concatenate([np.arange(nf), np.arange(nf)])
    r_rev = np.concatenate([np.zeros(nf, bool), np.ones(nf, bool)])
    r_is_r1 = np.concatenate([fwd_is_r1, ~fwd_is_r1])
    flag = np.concatenate([pair_flag, pair_flag]) | PAIRED | PROPER
    flag |= np.where(r_rev, REVERSE, MATE_REVERSE).astype(np.uint16)
    flag |= np.where(r_is_r1, READ1, READ2).astype(np.uint16)
    r_mapq = np.concatenate([mapq, mapq])
    r_mate = np.concatenate([np.arange(nf) + nf, np.arange(nf)])

    # secondary and supplementary records: copies of a read's name and flags placed elsewhere
    n_reads = 2 * nf
    extra = []
    for kind, frac in ((SECONDARY, cfg["secondary_fraction"]), (SUPPLEMENTARY, cfg["supplementary_fraction"])):
        m = int(round(frac * n_reads))
        source = rng.choice(n_reads, size=m, replace=False)
        where = rng.choice(n_reads, size=m, replace=False)  # borrow another read's locus
        extra.append((source, where, kind))
    e_src = np.concatenate([e[0] for e in extra])
    e_where = np.concatenate([e[1] for e in extra])
    e_kind = np.concatenate([np.full(len(e[0]), e[2], dtype=np.uint16) for e in extra])
    gpos = np.concatenate([r_gpos, r_gpos[e_where]])
    contig_all = np.concatenate([r_contig, r_contig[e_where]])
    frag = np.concatenate([r_frag, r_frag[e_src]])
    mate = np.concatenate([r_mate, np.full(len(e_src), -1)])
    flag_all = np.concatenate([flag, (flag[e_src] & ~np.uint16(DUPLICATE | QCFAIL)) | e_kind]).astype(np.uint16)
    mapq_all = np.concatenate([r_mapq, np.full(len(e_src), 60, dtype=np.uint8)])

    qual, low_rows, low_cols = _qualities(len(gpos), L, (flag_all & REVERSE) > 0, cfg["base_quality"], rng)

    order = np.lexsort((np.arange(len(gpos)), gpos))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    mate_sorted = np.where(mate[order] >= 0, rank[np.where(mate[order] >= 0, mate[order], 0)], -1)
    bam_mate = np.concatenate([r_mate, r_mate[e_src]])[order]
    return Layout(
        gpos=gpos[order], contig=contig_all[order], frag=frag[order], mate=mate_sorted, bam_mate=rank[bam_mate],
        flag=flag_all[order], mapq=mapq_all[order], qual=qual[order],
        ref_len=np.full(len(gpos), L, dtype=np.int64),
        low_q=(20, rank[low_rows], low_cols),
    )


def _qualities(n: int, L: int, reverse: np.ndarray, cfg: dict, rng: np.random.Generator):
    """Base qualities, and the (row, col) of every base below Q20 (known here: no scan of the matrix)."""
    qual = np.full((n, L), cfg["high"], dtype=np.uint8)
    # scattered bases around and below the Q20 threshold
    k = rng.poisson(cfg["scattered_per_read"] * n)
    rows, cols = rng.integers(0, n, size=k), rng.integers(0, L, size=k)
    qual[rows, cols] = rng.choice(np.array(cfg["scattered_values"], dtype=np.uint8), size=k)
    flat = [rows.astype(np.int64) * L + cols]
    # low-quality 3' tails (the left end of a reverse read in reference orientation)
    tails = np.flatnonzero(rng.random(n) < cfg["tail_fraction"])
    lengths = rng.integers(cfg["tail_length"][0], cfg["tail_length"][1] + 1, size=len(tails))
    col_idx = np.arange(L)
    for lo_len in np.unique(lengths):
        sel = tails[lengths == lo_len]
        fwd = sel[~reverse[sel]]
        rev = sel[reverse[sel]]
        qual[np.ix_(fwd, col_idx[L - lo_len:])] = cfg["tail_value"]
        qual[np.ix_(rev, col_idx[:lo_len])] = cfg["tail_value"]
        flat += [(fwd[:, None] * L + col_idx[L - lo_len:]).ravel(), (rev[:, None] * L + col_idx[:lo_len]).ravel()]
    flat = np.sort(np.concatenate(flat))  # (np.unique's hash path is far slower here)
    flat = flat[np.concatenate([[True], flat[1:] != flat[:-1]])]
    flat = flat[qual.ravel()[flat] < 20]
    return qual, flat // L, flat % L


def fill_reference(layout: Layout, genome: np.ndarray) -> None:
    windows = np.lib.stride_tricks.sliding_window_view(genome, layout.read_len)
    layout.seq = windows[np.clip(layout.gpos, 0, len(windows) - 1)].copy()


def apply_length_alleles(layout: Layout, genome: np.ndarray, start: int, end: int, unit: bytes,
                         fragment_shift: dict[int, int], stutter_rate: float, stutter_deletion: float,
                         anchor: int, rng: np.random.Generator) -> dict[str, int]:
    """Give reads spanning the tract [start, end) (global) its length in their fragment.

    ``fragment_shift``: fragment id -> change in units carried by that fragment (0 or
    absent: reference length). With ``stutter_rate`` > 0 each spanning read also
    gains or loses one unit with that probability (a deletion with probability
    ``stutter_deletion``). Returns counts of reads changed.
    """
    L = layout.read_len
    u = len(unit)
    lo = np.searchsorted(layout.gpos, start - L, side="left")
    hi = np.searchsorted(layout.gpos, start - anchor, side="right")
    reads = np.arange(lo, hi)
    shift = np.zeros(len(reads), dtype=np.int64)
    if fragment_shift:
        shift += np.array([fragment_shift.get(int(f), 0) for f in layout.frag[lo:hi]], dtype=np.int64)
    if stutter_rate:
        stutter = rng.random(len(reads)) < stutter_rate
        loss = rng.random(len(reads)) < stutter_deletion
        shift += np.where(stutter, np.where(loss, -1, 1), 0)
    delta = shift * u
    pos = layout.gpos[lo:hi]
    # the read must span the tract with `anchor` bases on both sides, and the change be real
    ok = (pos + L - delta - end >= anchor) & (start - pos >= anchor) & ((end - start) + delta > 0) & (delta != 0)
    changed = 0
    for r, d, k in zip(reads[ok].tolist(), delta[ok].tolist(), shift[ok].tolist()):
        if r in layout.indel:
            continue
        p = int(layout.gpos[r])
        left = start - p
        if d < 0:
            layout.seq[r, left:] = genome[start - d:p + L - d]
            layout.indel[r] = (left, "D", -d)
        else:
            layout.seq[r, left:left + d] = np.frombuffer(unit * k, dtype=np.uint8)
            layout.seq[r, left + d:] = genome[start:p + L - d]
            layout.indel[r] = (left, "I", d)
        layout.ref_len[r] = L - d
        changed += 1
    return {"changed": changed}


def apply_indel(layout: Layout, genome: np.ndarray, gpos_anchor: int, ref: bytes, alt: bytes,
                carriers: set[int], anchor: int) -> None:
    """Reads of ``carriers`` fragments spanning the indel (anchor base at ``gpos_anchor``) carry it."""
    L = layout.read_len
    delta = len(alt) - len(ref)
    site_start = gpos_anchor + 1
    site_end = gpos_anchor + len(ref)
    lo = np.searchsorted(layout.gpos, site_start - L, side="left")
    hi = np.searchsorted(layout.gpos, site_start - anchor, side="right")
    for r in range(lo, hi):
        if int(layout.frag[r]) not in carriers or r in layout.indel or layout.mate[r] < 0:
            continue
        pos = int(layout.gpos[r])
        if pos + L - delta - site_end < anchor or site_start - pos < anchor:
            continue
        left = site_start - pos
        if delta < 0:
            layout.seq[r, left:] = genome[site_start - delta:pos + L - delta]
            layout.indel[r] = (left, "D", -delta)
        else:
            layout.seq[r, left:left + delta] = np.frombuffer(alt[1:], dtype=np.uint8)
            layout.seq[r, left + delta:] = genome[site_start:pos + L - delta]
            layout.indel[r] = (left, "I", delta)
        layout.ref_len[r] = L - delta


def _blocks(layout: Layout):
    """Aligned blocks: (read, global ref start, query start, length) arrays."""
    L = layout.read_len
    plain = np.ones(layout.n, dtype=bool)
    reads, rstart, qstart, length = [], [], [], []
    for r, (left, op, n) in layout.indel.items():
        plain[r] = False
        g = int(layout.gpos[r])
        reads += [r, r]
        rstart += [g, g + left + (n if op == "D" else 0)]
        qstart += [0, left + (n if op == "I" else 0)]
        length += [left, L - left - (n if op == "I" else 0)]
    idx = np.flatnonzero(plain)
    return (np.concatenate([idx, np.array(reads, dtype=np.int64)]),
            np.concatenate([layout.gpos[idx], np.array(rstart, dtype=np.int64)]),
            np.concatenate([np.zeros(len(idx), dtype=np.int64), np.array(qstart, dtype=np.int64)]),
            np.concatenate([np.full(len(idx), L, dtype=np.int64), np.array(length, dtype=np.int64)]))


def _count_from(layout: Layout) -> np.ndarray:
    """First reference position each read may count at: the second mate of an overlapping
    pair (in file order) counts only beyond the end of the first (``samtools depth -s``)."""
    start = layout.gpos.copy()
    has_mate = layout.mate >= 0
    idx = np.flatnonzero(has_mate & (layout.mate < np.arange(layout.n)))  # second in file order
    first = layout.mate[idx]
    first_end = layout.gpos[first] + layout.ref_len[first]
    start[idx] = np.maximum(start[idx], first_end)
    return start


def depth(layout: Layout, genome_length: int, min_bq: int = 20) -> np.ndarray:
    """Per-base depth (global coordinates) under the rules in the module docstring."""
    passing = layout.passing
    count_from = _count_from(layout)
    b_read, b_ref, b_q, b_len = _blocks(layout)
    keep = passing[b_read]
    b_read, b_ref, b_q, b_len = b_read[keep], b_ref[keep], b_q[keep], b_len[keep]
    seg_start = np.maximum(b_ref, count_from[b_read])
    seg_end = b_ref + b_len
    ok = seg_end > seg_start
    diff = np.bincount(seg_start[ok], minlength=genome_length + 1) - np.bincount(seg_end[ok], minlength=genome_length + 1)
    cov = np.cumsum(diff[:-1]).astype(np.int32)
    # subtract counted bases below the base-quality threshold
    low_r, low_q = layout.low_quality(min_bq)
    sel = passing[low_r]
    low_r, low_q = low_r[sel], low_q[sel]
    order = np.argsort(b_read, kind="stable")
    b_read, b_ref, b_q, b_len = b_read[order], b_ref[order], b_q[order], b_len[order]
    first_block = np.searchsorted(b_read, low_r, side="left")
    last_block = np.searchsorted(b_read, low_r, side="right")
    refpos = np.full(len(low_r), -1, dtype=np.int64)
    for offset in range(int((last_block - first_block).max(initial=0))):
        blk = first_block + offset
        inside = (blk < last_block)
        blk = np.where(inside, blk, 0)
        hit = inside & (low_q >= b_q[blk]) & (low_q < b_q[blk] + b_len[blk])
        refpos[hit] = b_ref[blk[hit]] + low_q[hit] - b_q[blk[hit]]
    counted = (refpos >= 0) & (refpos >= count_from[low_r])
    cov -= np.bincount(refpos[counted], minlength=genome_length).astype(np.int32)
    return cov


def query_index_at(layout: Layout, r: int, gp: int) -> int | None:
    """Query offset of read ``r`` aligned to global position ``gp`` (None if not aligned there)."""
    g = int(layout.gpos[r])
    if r in layout.indel:
        left, op, n = layout.indel[r]
        if gp < g + left:
            return gp - g
        if op == "D":
            if gp < g + left + n:
                return None
            q = gp - g - n
        else:
            q = gp - g + n
        return q if q < layout.read_len else None
    q = gp - g
    return q if 0 <= q < layout.read_len else None


def counted_reads_at(layout: Layout, gp: int, min_bq: int = 20) -> list[tuple[int, int]]:
    """(read, query index) of the reads that the depth rule counts at global position ``gp``."""
    L = layout.read_len
    lo = np.searchsorted(layout.gpos, gp - 2 * L, side="left")
    hi = np.searchsorted(layout.gpos, gp, side="right")
    passing = layout.passing
    out = []
    for r in range(lo, hi):
        if not passing[r]:
            continue
        m = int(layout.mate[r])
        if 0 <= m < r and gp < layout.gpos[m] + layout.ref_len[m]:
            continue
        q = query_index_at(layout, r, gp)
        if q is None or layout.qual[r, q] < min_bq:
            continue
        out.append((r, q))
    return out


def apply_sequencing_errors(layout: Layout, max_q: int, rate: float, rng: np.random.Generator) -> None:
    rows, cols = layout.low_quality(20)
    keep = layout.qual[rows, cols] <= max_q
    rows, cols = rows[keep], cols[keep]
    hit = rng.random(len(rows)) < rate
    rows, cols = rows[hit], cols[hit]
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)
    cur = layout.seq[rows, cols]
    cur_idx = np.searchsorted(bases, cur)
    layout.seq[rows, cols] = bases[(cur_idx + rng.integers(1, 4, size=len(rows))) % 4]


def to_read_table(layout: Layout, contig_offsets: np.ndarray, name_prefix: str) -> ReadTable:
    L = layout.read_len
    n = layout.n
    contig = layout.contig.astype(np.int32)
    pos = (layout.gpos - contig_offsets[contig]).astype(np.int32)
    has_mate = layout.mate >= 0
    m = np.where(has_mate, layout.mate, 0)
    mate_contig = contig[layout.bam_mate].astype(np.int32)
    mate_pos = pos[layout.bam_mate].astype(np.int32)
    end = layout.gpos + layout.ref_len
    left = np.minimum(layout.gpos, layout.gpos[m])
    right = np.maximum(end, end[m])
    span = (right - left).astype(np.int32)
    is_left = (layout.gpos < layout.gpos[m]) | ((layout.gpos == layout.gpos[m]) & ((layout.flag & REVERSE) == 0))
    tlen = np.where(has_mate, np.where(is_left, span, -span), 0).astype(np.int32)
    secondary_like = (layout.flag & (SECONDARY | SUPPLEMENTARY)) > 0
    # secondary/supplementary records point to their primary read's mate like the primary does
    tlen[secondary_like] = 0
    width = len(str(int(layout.frag.max(initial=0)) + 1))
    names = np.zeros((n, len(name_prefix) + width), dtype=np.uint8)
    names[:, :len(name_prefix)] = np.frombuffer(name_prefix.encode(), dtype=np.uint8)
    value = layout.frag.astype(np.int64).copy()
    for k in range(width - 1, -1, -1):  # fixed-width decimal fragment number
        names[:, len(name_prefix) + k] = 48 + value % 10
        value //= 10
    names = names.view(f"S{names.shape[1]}").ravel()
    cigar3 = np.zeros((n, 3), dtype=np.uint32)
    n_ops = np.ones(n, dtype=np.uint8)
    for r, (lft, op, k) in layout.indel.items():
        right_len = L - lft - (k if op == "I" else 0)
        cigar3[r] = [(lft << 4) | CIGAR_OPS["M"], (k << 4) | CIGAR_OPS[op], (right_len << 4) | CIGAR_OPS["M"]]
        n_ops[r] = 3
    return ReadTable(contig=contig, pos=pos, ref_len=layout.ref_len.astype(np.int32), flag=layout.flag,
                     mapq=layout.mapq, mate_contig=mate_contig, mate_pos=mate_pos, tlen=tlen, name=names,
                     seq=layout.seq, qual=layout.qual, cigar3=cigar3, n_ops=n_ops)
