"""Write coordinate-sorted BAM files from numpy arrays, fast.

Simulated specimens hold ~10^5 reads each and a trial ~10^7; building one
``pysam.AlignedSegment`` per read would take minutes. Here every read of a BAM
is a row of numpy arrays; records are laid out with a packed structured dtype
(the BAM record layout of the SAM specification, section 4.2) and compressed into
BGZF blocks with libdeflate. The output is byte-for-byte deterministic; the
index is made by htslib (``pysam.index``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import deflate
import numpy as np
import pysam

__all__ = ["ReadTable", "write_bam", "bgzf_compress", "reg2bin"]

_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_BLOCK = 0xff00  # uncompressed bytes per BGZF block, as htslib
_SEQ_CODE = np.full(256, 15, dtype=np.uint8)
for _i, _b in enumerate(b"=ACMGRSVTWYHKDBN"):
    _SEQ_CODE[_b] = _i
CIGAR_OPS = {"M": 0, "I": 1, "D": 2, "N": 3, "S": 4, "H": 5, "P": 6, "=": 7, "X": 8}


@dataclass
class ReadTable:
    """Reads of one BAM, already in output order. All reads have the same length."""

    contig: np.ndarray  # int32
    pos: np.ndarray  # int32, 0-based leftmost aligned base
    ref_len: np.ndarray  # int32, reference span of the alignment
    flag: np.ndarray  # uint16
    mapq: np.ndarray  # uint8
    mate_contig: np.ndarray
    mate_pos: np.ndarray
    tlen: np.ndarray
    name: np.ndarray  # fixed-width bytes (dtype S<k>)
    seq: np.ndarray  # (n, L) uint8 ASCII
    qual: np.ndarray  # (n, L) uint8 phred
    cigar3: np.ndarray  # (n, 3) uint32 packed cigar ops for 3-op reads; rows ignored when n_ops == 1
    n_ops: np.ndarray  # uint8, 1 (readlen M) or 3


def reg2bin(beg: np.ndarray, end: np.ndarray) -> np.ndarray:
    """UCSC/BAM binning scheme (SAM spec 5.3), vectorised; ``end`` exclusive."""
    beg = beg.astype(np.int64)
    end = end.astype(np.int64) - 1
    out = np.zeros(len(beg), dtype=np.int64)
    done = np.zeros(len(beg), dtype=bool)
    for shift, offset in ((14, 4681), (17, 585), (20, 73), (23, 9), (26, 1)):
        hit = ~done & ((beg >> shift) == (end >> shift))
        out[hit] = offset + (beg[hit] >> shift)
        done |= hit
    return out.astype(np.uint16)


def bgzf_compress(data: bytes | memoryview, level: int = 6) -> bytes:
    """Compress ``data`` into BGZF blocks (no EOF marker)."""
    view = memoryview(data)
    parts = []
    for start in range(0, len(view), _BLOCK):
        chunk = bytes(view[start:start + _BLOCK])
        comp = deflate.deflate_compress(chunk, level)
        parts.append(b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff\x06\x00BC\x02\x00"
                     + struct.pack("<H", len(comp) + 25) + comp
                     + struct.pack("<II", deflate.crc32(chunk), len(chunk)))
    return b"".join(parts)


def _header_bytes(text: str, names: list[str], lengths: list[int]) -> bytes:
    raw = text.encode()
    out = [b"BAM\x01", struct.pack("<i", len(raw)), raw, struct.pack("<i", len(names))]
    for name, length in zip(names, lengths):
        n = name.encode() + b"\x00"
        out.append(struct.pack("<i", len(n)) + n + struct.pack("<i", length))
    return b"".join(out)


def _records(reads: ReadTable, idx: np.ndarray, n_ops: int, tag: bytes) -> np.ndarray:
    """Packed BAM records of reads ``idx`` (all with ``n_ops`` cigar operations) as a structured array."""
    read_len = reads.seq.shape[1]
    name_len = reads.name.dtype.itemsize + 1
    dtype = np.dtype([
        ("block_size", "<i4"), ("refID", "<i4"), ("pos", "<i4"), ("l_read_name", "u1"), ("mapq", "u1"),
        ("bin", "<u2"), ("n_cigar_op", "<u2"), ("flag", "<u2"), ("l_seq", "<i4"), ("next_refID", "<i4"),
        ("next_pos", "<i4"), ("tlen", "<i4"), ("read_name", f"S{name_len}"), ("cigar", "<u4", (n_ops,)),
        ("seq", "u1", ((read_len + 1) // 2,)), ("qual", "u1", (read_len,)), ("tags", f"V{len(tag)}"),
    ])
    rec = np.zeros(len(idx), dtype=dtype)
    rec["block_size"] = dtype.itemsize - 4
    rec["refID"] = reads.contig[idx]
    rec["pos"] = reads.pos[idx]
    rec["l_read_name"] = name_len
    rec["mapq"] = reads.mapq[idx]
    rec["bin"] = reg2bin(reads.pos[idx], reads.pos[idx] + reads.ref_len[idx])
    rec["n_cigar_op"] = n_ops
    rec["flag"] = reads.flag[idx]
    rec["l_seq"] = read_len
    rec["next_refID"] = reads.mate_contig[idx]
    rec["next_pos"] = reads.mate_pos[idx]
    rec["tlen"] = reads.tlen[idx]
    rec["read_name"] = reads.name[idx]
    if n_ops == 1:
        rec["cigar"] = (read_len << 4) | CIGAR_OPS["M"]
    else:
        rec["cigar"] = reads.cigar3[idx]
    codes = _SEQ_CODE[reads.seq[idx]]
    if read_len % 2:
        codes = np.concatenate([codes, np.zeros((len(idx), 1), dtype=np.uint8)], axis=1)
    rec["seq"] = (codes[:, 0::2] << 4) | codes[:, 1::2]
    rec["qual"] = reads.qual[idx]
    rec["tags"] = np.frombuffer(tag, dtype=f"V{len(tag)}")[0]
    return rec


def write_bam(path, reads: ReadTable, *, header_text: str, names: list[str], lengths: list[int],
              read_group: str, level: int = 6) -> None:
    """Write ``reads`` (already coordinate-sorted) to ``path`` and index it."""
    tag = b"RGZ" + read_group.encode() + b"\x00"
    simple = np.flatnonzero(reads.n_ops == 1)
    complex_ = np.flatnonzero(reads.n_ops == 3)
    simple_buf = memoryview(_records(reads, simple, 1, tag).tobytes())
    complex_rec = _records(reads, complex_, 3, tag)
    simple_size = simple_buf.nbytes // max(len(simple), 1)
    pieces = [_header_bytes(header_text, names, lengths)]
    # interleave: complex read k goes before the simple reads that follow it in output order
    before = np.searchsorted(simple, complex_)  # number of simple reads preceding each complex read
    last = 0
    for k, n_before in enumerate(before.tolist()):
        if n_before > last:
            pieces.append(simple_buf[last * simple_size:n_before * simple_size])
            last = n_before
        pieces.append(complex_rec[k:k + 1].tobytes())
    pieces.append(simple_buf[last * simple_size:])
    payload = b"".join(pieces)
    with open(path, "wb") as out:
        out.write(bgzf_compress(payload, level))
        out.write(_BGZF_EOF)
    pysam.index(str(path))
