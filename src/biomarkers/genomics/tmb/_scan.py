"""Numba kernels over Arrow string columns, for the column-wise VCF reader (``_fast``).

Each kernel walks the bytes of a string column once (its offsets and data buffers), in
place of several pyarrow passes (split, take, slice, cast) that each copy the column.
They are conservative: any value they do not read exactly as the per-record reader
would (``_records.python_attributes``, the reference) makes them flag the record as not
plain, and the per-record reader then handles it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

__all__ = ["info_values", "tumour_values"]


def _buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data) of a string or large_string array, as numpy views (no copy)."""
    _, offsets, data = values.buffers()
    dtype = np.int64 if pa.types.is_large_string(values.type) else np.int32
    offsets = np.frombuffer(offsets, dtype=dtype)[values.offset:values.offset + len(values) + 1]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    return offsets, data


@njit(cache=True)
def _key_spans(offsets, data, key):
    """Per row, [start, end) of the value of the first ';'-separated item that starts with
    ``key`` (``KEY=``); start -1 when there is none."""
    n = len(offsets) - 1
    starts = np.full(n, -1, np.int64)
    ends = np.zeros(n, np.int64)
    k = len(key)
    for i in range(n):
        j = offsets[i]
        stop = offsets[i + 1]
        while j <= stop:
            end = j
            while end < stop and data[end] != 59:  # ';'
                end += 1
            if end - j >= k:
                same = True
                for t in range(k):
                    if data[j + t] != key[t]:
                        same = False
                        break
                if same:
                    starts[i] = j + k
                    ends[i] = end
                    break
            j = end + 1
    return starts, ends


@njit(cache=True)
def _gather(data, starts, ends):
    """Bytes [starts[i], ends[i]) of every row, concatenated, with int32 offsets."""
    n = len(starts)
    offsets = np.zeros(n + 1, np.int32)
    for i in range(n):
        offsets[i + 1] = offsets[i] + (ends[i] - starts[i] if starts[i] >= 0 else 0)
    out = np.empty(offsets[n], np.uint8)
    for i in range(n):
        if starts[i] >= 0:
            out[offsets[i]:offsets[i + 1]] = data[starts[i]:ends[i]]
    return offsets, out


def info_values(info: pa.Array, key: str) -> pa.Array:
    """Value of INFO ``key`` per record (null when absent; the first one when repeated),
    as ``_fast._Info.values`` gives it."""
    offsets, data = _buffers(info)
    starts, ends = _key_spans(offsets, data, np.frombuffer((key + "=").encode(), dtype=np.uint8))
    new_offsets, out = _gather(data, starts, ends)
    valid = starts >= 0
    bitmap = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.StringArray.from_buffers(len(starts), pa.py_buffer(new_offsets), pa.py_buffer(out), bitmap)


@njit(cache=True)
def _uint(data, a, b):
    """Value of ASCII digits data[a:b]; -1 when empty, not all digits, or 18 digits or more."""
    if b <= a or b - a > 17:
        return -1
    v = 0
    for j in range(a, b):
        c = data[j]
        if c < 48 or c > 57:
            return -1
        v = v * 10 + (c - 48)
    return v


@njit(cache=True)
def _decimal(data, a, b):
    """float of data[a:b] when it is [+-]digits[.digits] with at most 15 digits, else NaN
    and False. Exact: a mantissa below 2**53 divided by an exact power of ten (<= 1e15) is
    one correctly rounded operation, so the result equals Python's float() of the text."""
    j = a
    negative = False
    if j < b and (data[j] == 43 or data[j] == 45):  # '+' '-'
        negative = data[j] == 45
        j += 1
    mantissa = 0
    digits = 0
    scale = 0
    dot = False
    while j < b:
        c = data[j]
        if c == 46 and not dot:  # '.'
            dot = True
        elif 48 <= c <= 57:
            mantissa = mantissa * 10 + (c - 48)
            digits += 1
            if dot:
                scale += 1
        else:
            return np.nan, False
        j += 1
    if digits == 0 or digits > 15:
        return np.nan, False
    value = mantissa / 10.0 ** scale
    return (-value if negative else value), True


@njit(cache=True)
def _tumour_kernel(offsets, data, layout_of_row, layouts, plain, depth, alt_reads, vaf, ad_total):
    """Per row: DP, AD (ref,alt) and AF of the tumour's ':'-separated FORMAT values, at the
    positions ``layouts[layout_of_row[i]]`` = (need, i_dp, i_ad, i_af) (-1: absent)."""
    n = len(offsets) - 1
    for i in range(n):
        if not plain[i]:
            continue
        need, i_dp, i_ad, i_af = layouts[layout_of_row[i]]
        # field boundaries of the first `need` values
        a = offsets[i]
        stop = offsets[i + 1]
        field = 0
        ok = True
        dp_a = dp_b = ad_a = ad_b = af_a = af_b = -1
        while field < need:
            if a > stop:
                ok = False  # fewer values than FORMAT keys used
                break
            b = a
            while b < stop and data[b] != 58:  # ':'
                b += 1
            if field == i_dp:
                dp_a, dp_b = a, b
            if field == i_ad:
                ad_a, ad_b = a, b
            if field == i_af:
                af_a, af_b = a, b
            field += 1
            a = b + 1
        if not ok:
            plain[i] = False
            continue
        if i_dp >= 0:
            v = _uint(data, dp_a, dp_b)
            if v >= 0:
                depth[i] = v
            elif dp_b > dp_a and not (dp_b - dp_a == 1 and data[dp_a] == 46):
                plain[i] = False  # neither a number nor missing ('.', empty): Python decides
                continue
        if i_ad >= 0 and not (ad_b - ad_a == 1 and data[ad_a] == 46):  # '.' is a missing AD
            comma = ad_a
            while comma < ad_b and data[comma] != 44:  # ','
                comma += 1
            r = _uint(data, ad_a, comma)
            x = _uint(data, comma + 1, ad_b) if comma < ad_b else -1
            if r < 0 or x < 0:
                plain[i] = False  # not exactly two integers: the per-record reader decides
                continue
            alt_reads[i] = x
            ad_total[i] = r + x
        if i_af >= 0 and not (af_b - af_a == 1 and data[af_a] == 46):
            value, parsed = _decimal(data, af_a, af_b)
            if not parsed:
                plain[i] = False  # exponent, many digits, nan, list...: Python decides
                continue
            vaf[i] = value


def tumour_values(sample: pa.Array, layout_of_row: np.ndarray, layouts: np.ndarray, plain: np.ndarray):
    """(depth, alt_reads, vaf, ad_total) as float64 (NaN when absent) of the tumour column;
    records the kernel cannot read exactly are set False in ``plain``."""
    n = len(sample)
    depth, alt_reads, vaf, ad_total = (np.full(n, np.nan) for _ in range(4))
    offsets, data = _buffers(sample)
    _tumour_kernel(offsets, data, layout_of_row, layouts, plain, depth, alt_reads, vaf, ad_total)
    return depth, alt_reads, vaf, ad_total
