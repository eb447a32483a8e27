"""Numba kernels: per-base depth over the target territory straight from BAM records.

BAM records are parsed from the decompressed stream (the SAM/BAM specification's
binary layout), so no Python object is made per read. Semantics are those of
``samtools depth -s -Q MAPQ -q BQ`` (htslib pileup with overlap detection):

- reads with an excluded flag, or mapping quality below the threshold, never count;
- an aligned base (CIGAR M/=/X) counts when its base quality is >= the threshold;
  deletions and reference skips do not count;
- overlapping mates (paired, mate mapped on the same contig, the mate starting inside
  the first read; the proper-pair flag is NOT required, as in samtools): at each reference position where both mates have an aligned base, only the mate met
  first in the file counts, with its own base quality; the second mate's base does not
  count there. This is what samtools 1.16 ``depth -s`` reports, base for base (checked on
  real data in the tests); it is NOT htslib's pileup ``tweak_overlap_quality``, which
  sums the qualities of agreeing bases and would count a few more bases.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.typed import Dict

__all__ = ["new_pending", "process_records", "purge_pending", "record_boundary"]

_INT64 = types.int64


def new_pending():
    return Dict.empty(key_type=_INT64, value_type=_INT64)


@njit(cache=True, inline="always")
def _i32(b, i):
    v = np.int64(b[i]) | (np.int64(b[i + 1]) << 8) | (np.int64(b[i + 2]) << 16) | (np.int64(b[i + 3]) << 24)
    if v >= 2147483648:
        v -= 4294967296
    return v


@njit(cache=True, inline="always")
def _u32(b, i):
    return np.int64(b[i]) | (np.int64(b[i + 1]) << 8) | (np.int64(b[i + 2]) << 16) | (np.int64(b[i + 3]) << 24)


@njit(cache=True, inline="always")
def _u16(b, i):
    return np.int64(b[i]) | (np.int64(b[i + 1]) << 8)


@njit(cache=True)
def record_boundary(buf, n):
    """Offset just after the last complete record in buf[:n]."""
    off = 0
    while off + 4 <= n:
        size = _i32(buf, off)
        if off + 4 + size > n:
            break
        off += 4 + size
    return off


@njit(cache=True)
def _name_hash(b, start, length):
    h = np.uint64(1469598103934665603)
    for k in range(length):
        c = b[start + k]
        if c == 0:
            break
        h = (h ^ np.uint64(c)) * np.uint64(1099511628211)
    return np.int64(h & np.uint64(0x7FFFFFFFFFFFFFFF))


@njit(cache=True)
def _ref_end(b, rec):
    pos = _i32(b, rec + 4)
    l_name = np.int64(b[rec + 8])
    n_cig = _u16(b, rec + 12)
    cig = rec + 32 + l_name
    end = pos
    for k in range(n_cig):
        c = _u32(b, cig + 4 * k)
        op = c & 0xF
        if op == 0 or op == 2 or op == 3 or op == 7 or op == 8:
            end += c >> 4
    return end


@njit(cache=True)
def _first_interval(iv_ends, lo, hi, r):
    # first interval j in [lo, hi) with iv_ends[j] > r
    a, z = lo, hi
    while a < z:
        m = (a + z) >> 1
        if iv_ends[m] > r:
            z = m
        else:
            a = m + 1
    return a


@njit(cache=True)
def _territory_index(iv_starts, iv_ends, iv_off, lo, hi, p):
    j = _first_interval(iv_ends, lo, hi, p)
    if j < hi and iv_starts[j] <= p:
        return iv_off[j] + p - iv_starts[j]
    return -1


@njit(cache=True)
def _count_read(b, rec, cov, iv_starts, iv_ends, iv_off, lo, hi, min_bq):
    pos = _i32(b, rec + 4)
    l_name = np.int64(b[rec + 8])
    n_cig = _u16(b, rec + 12)
    l_seq = _i32(b, rec + 16)
    cig = rec + 32 + l_name
    qual = cig + 4 * n_cig + (l_seq + 1) // 2
    r = pos
    q = 0
    for k in range(n_cig):
        c = _u32(b, cig + 4 * k)
        op = c & 0xF
        ln = c >> 4
        if op == 0 or op == 7 or op == 8:
            j = _first_interval(iv_ends, lo, hi, r)
            while j < hi and iv_starts[j] < r + ln:
                s = max(r, iv_starts[j])
                e = min(r + ln, iv_ends[j])
                base = iv_off[j] - iv_starts[j]
                if min_bq <= 0 or l_seq == 0:
                    for p in range(s, e):
                        cov[base + p] += 1
                else:
                    qq = qual + q - r
                    for p in range(s, e):
                        if b[qq + p] >= min_bq:
                            cov[base + p] += 1
                j += 1
            r += ln
            q += ln
        elif op == 1 or op == 4:
            q += ln
        elif op == 2 or op == 3:
            r += ln
    return r


@njit(cache=True)
def _blocks(b, rec):
    """Aligned (M/=/X) blocks of a record: ref start, query start, length."""
    l_name = np.int64(b[rec + 8])
    n_cig = _u16(b, rec + 12)
    cig = rec + 32 + l_name
    out = np.empty((n_cig, 3), dtype=np.int64)
    n = 0
    r = _i32(b, rec + 4)
    q = 0
    for k in range(n_cig):
        c = _u32(b, cig + 4 * k)
        op = c & 0xF
        ln = c >> 4
        if op == 0 or op == 7 or op == 8:
            out[n, 0] = r
            out[n, 1] = q
            out[n, 2] = ln
            n += 1
            r += ln
            q += ln
        elif op == 1 or op == 4:
            q += ln
        elif op == 2 or op == 3:
            r += ln
    return out[:n]


@njit(cache=True)
def _resolve_overlap(sa, a_rec, b, b_rec, cov, iv_starts, iv_ends, iv_off, lo, hi, min_bq):
    """Uncount the second mate's bases inside the first mate's reference span (both already counted)."""
    a_end = _ref_end(sa, a_rec)
    b_l_seq = _i32(b, b_rec + 16)
    b_seq = b_rec + 32 + np.int64(b[b_rec + 8]) + 4 * _u16(b, b_rec + 12)
    b_qual = b_seq + (b_l_seq + 1) // 2
    b_blocks = _blocks(b, b_rec)
    for j in range(b_blocks.shape[0]):
        b0, bq, bl = b_blocks[j, 0], b_blocks[j, 1], b_blocks[j, 2]
        e = min(b0 + bl, a_end)
        for p in range(b0, e):
            t = _territory_index(iv_starts, iv_ends, iv_off, lo, hi, p)
            if t < 0:
                continue
            if min_bq <= 0 or b_l_seq == 0 or np.int64(b[b_qual + bq + p - b0]) >= min_bq:
                cov[t] -= 1


@njit(cache=True)
def process_records(buf, n, contig_index, iv_starts, iv_ends, iv_off, contig_lo, contig_hi, cov,
                    min_mapq, min_bq, excl_flags, overlaps, pending, store, state):
    """Add the records of buf[:n] (complete records only) to ``cov``.

    ``state`` (int64): [0] bytes used in ``store``, [1] last tid, [2] last pos,
    [3] unsorted flag (set to the offending record's tid+1), [4] records seen.
    Returns the offset reached: less than ``n`` when ``store`` is full (grow or purge it
    and call again from there).
    """
    off = 0
    while off + 4 <= n:
        size = _i32(buf, off)
        rec = off + 4
        if rec + size > n:
            break
        tid = _i32(buf, rec)
        pos = _i32(buf, rec + 4)
        if tid >= 0:
            if tid < state[1] or (tid == state[1] and pos < state[2]):
                state[3] = tid + 1
                return off
            if tid != state[1]:
                pending.clear()
                state[0] = 0
            state[1] = tid
            state[2] = pos
        flag = _u16(buf, rec + 14)
        mapq = np.int64(buf[rec + 9])
        ci = contig_index[tid] if tid >= 0 else -1
        if tid < 0 or (flag & excl_flags) != 0 or mapq < min_mapq or ci < 0:
            off = rec + size
            state[4] += 1
            continue
        lo = contig_lo[ci]
        hi = contig_hi[ci]
        if overlaps and (flag & 1) != 0 and (flag & 8) == 0 and _i32(buf, rec + 20) == tid:
            h = _name_hash(buf, rec + 32, np.int64(buf[rec + 8]))
            if h in pending:
                _count_read(buf, rec, cov, iv_starts, iv_ends, iv_off, lo, hi, min_bq)
                a_off = pending.pop(h)
                _resolve_overlap(store, a_off, buf, rec, cov, iv_starts, iv_ends, iv_off, lo, hi, min_bq)
                off = rec + size
                state[4] += 1
                continue
            mpos = _i32(buf, rec + 24)
            if mpos >= pos and mpos < _ref_end(buf, rec):
                # the mate is still to come and starts inside this read: keep this read
                if state[0] + size > store.shape[0]:
                    return off  # caller grows or purges the store
                store[state[0]:state[0] + size] = buf[rec:rec + size]
                pending[h] = state[0]
                state[0] += size
        _count_read(buf, rec, cov, iv_starts, iv_ends, iv_off, lo, hi, min_bq)
        off = rec + size
        state[4] += 1
    return off


@njit(cache=True)
def purge_pending(pending, store, state, new_store):
    """Keep only first mates that can still overlap a later read; compact into new_store."""
    cur_tid = state[1]
    cur_pos = state[2]
    used = 0
    keys = list(pending.keys())
    for h in keys:
        a = pending[h]
        if _i32(store, a) == cur_tid and _ref_end(store, a) > cur_pos:
            # only the fixed part, the name and the CIGAR of a first mate are ever read again
            size = 32 + np.int64(store[a + 8]) + 4 * _u16(store, a + 12)
            new_store[used:used + size] = store[a:a + size]
            pending[h] = used
            used += size
        else:
            del pending[h]
    state[0] = used
    return used
