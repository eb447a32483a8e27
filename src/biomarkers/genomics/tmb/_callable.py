"""The denominator: target bases with enough depth in the tumour (and the normal).

Depth is computed from the BAM records themselves (see :mod:`._depth_kernel`): the
file is checked with :func:`~biomarkers.genomics.open_alignments` (sorted, indexed,
CRAM reference) and then streamed through htslib's BGZF reader in large blocks, parsed
and counted by compiled kernels, never with one Python object per read or per base.
A CRAM is first decoded by pysam into an uncompressed temporary BAM.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam

from ...errors import InputError
from ...log import Progress, get_logger
from .._alignments import is_cram, open_alignments
from . import _depth_kernel as K
from ._bed import Regions

__all__ = ["TargetDepth", "target_depth", "callable_territory", "EXCLUDED_FLAGS"]

log = get_logger("tmb")

# unmapped, secondary, QC-fail, duplicate, supplementary
EXCLUDED_FLAGS = 0x4 | 0x100 | 0x200 | 0x400 | 0x800
_CHUNK = 1 << 24


@dataclass
class TargetDepth:
    """Depth at every base of the merged targets, contig by contig, in BED order."""

    regions: Regions
    depth: dict[str, np.ndarray]  # contig -> int32 depth over its merged intervals, concatenated

    def positions(self, contig: str) -> np.ndarray:
        starts, ends = self.regions.intervals[contig]
        return np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)]) if len(starts) else np.zeros(0, np.int64)


def _layout(regions: Regions, header_contigs: list[str]):
    contigs = regions.contigs
    starts = np.concatenate([regions.intervals[c][0] for c in contigs]) if contigs else np.zeros(0, np.int64)
    ends = np.concatenate([regions.intervals[c][1] for c in contigs]) if contigs else np.zeros(0, np.int64)
    lengths = ends - starts
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(lengths) else np.zeros(0, np.int64)
    counts = np.array([len(regions.intervals[c][0]) for c in contigs], dtype=np.int64)
    lo = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if len(counts) else np.zeros(0, np.int64)
    hi = lo + counts
    index = {c: i for i, c in enumerate(contigs)}
    contig_index = np.array([index.get(name, -1) for name in header_contigs], dtype=np.int64)
    return contigs, starts.astype(np.int64), ends.astype(np.int64), offsets, lo, hi, contig_index, int(lengths.sum())


def _read_header(stream) -> list[str]:
    def read(n: int) -> bytes:
        data = stream.read(n)
        if len(data) != n:
            raise EOFError
        return data

    if read(4) != b"BAM\x01":
        raise ValueError("not a BAM stream")
    l_text = int.from_bytes(read(4), "little")
    read(l_text)
    n_ref = int.from_bytes(read(4), "little")
    names = []
    for _ in range(n_ref):
        l_name = int.from_bytes(read(4), "little")
        names.append(read(l_name).rstrip(b"\x00").decode())
        read(4)
    return names


def _decoded_bam(path: Path, reference: str | Path | None, workdir: str) -> Path:
    """A CRAM decoded (with its reference) into an uncompressed BAM in ``workdir``."""
    out = Path(workdir) / "decoded.bam"
    with pysam.AlignmentFile(str(path), "rc", reference_filename=str(reference)) as src, \
            pysam.AlignmentFile(str(out), "wbu", template=src) as dst:
        for read in src.fetch(until_eof=True):
            dst.write(read)
    return out


def target_depth(
    path: str | Path,
    regions: Regions,
    *,
    min_mapq: int = 20,
    min_baseq: int = 20,
    excluded_flags: int = EXCLUDED_FLAGS,
    count_overlaps_once: bool = True,
    reference: str | Path | None = None,
    label: str | None = None,
) -> TargetDepth:
    """Per-base depth over ``regions`` in one BAM/CRAM (``samtools depth -a -s`` semantics)."""
    path = Path(path)
    previous = pysam.set_verbosity(0)  # htslib's own messages would duplicate our one-line errors
    try:
        handle = open_alignments(path, reference)  # sorted, indexed (indexing it if allowed), CRAM reference
    finally:
        pysam.set_verbosity(previous)
    header_contigs = list(handle.references)
    handle.close()
    contigs, iv_starts, iv_ends, iv_off, lo, hi, contig_index, total = _layout(regions, header_contigs)
    if total and not (contig_index >= 0).any():
        raise InputError(f"no target contig is in the alignments' header (targets name e.g. '{contigs[0]}', "
                         f"the alignments '{header_contigs[0] if header_contigs else '?'}')", file=path)
    cov = np.zeros(total, dtype=np.int32)
    with tempfile.TemporaryDirectory(prefix="tmb-") as workdir:
        source = _decoded_bam(path, reference, workdir) if is_cram(path) else path
        _stream(source, path, header_contigs, contig_index, iv_starts, iv_ends, iv_off, lo, hi, cov,
                min_mapq, min_baseq, excluded_flags, count_overlaps_once, label or path.name)
    depth = {}
    for i, contig in enumerate(contigs):
        a = iv_off[lo[i]] if hi[i] > lo[i] else 0
        z = iv_off[hi[i] - 1] + (iv_ends[hi[i] - 1] - iv_starts[hi[i] - 1]) if hi[i] > lo[i] else 0
        depth[contig] = cov[a:z]
    return TargetDepth(regions, depth)


def _stream(source, original, header_contigs, contig_index, iv_starts, iv_ends, iv_off, lo, hi, cov,
            min_mapq, min_baseq, excluded_flags, overlaps, label):
    pending = K.new_pending()
    store = np.zeros(1 << 22, dtype=np.uint8)
    state = np.zeros(5, dtype=np.int64)
    state[1] = -1
    size = os.path.getsize(source)
    stream = pysam.BGZFile(str(source), "rb")
    try:
        try:
            names = _read_header(stream)
        except (EOFError, ValueError):
            raise InputError("not a readable BAM (truncated or corrupt header)", file=original) from None
        if names != header_contigs:
            raise InputError("BAM header contigs differ between readers", file=original)
        buf = np.zeros(_CHUNK * 2, dtype=np.uint8)
        carry = 0
        with Progress(f"depth {label}", total=None, every=5.0, logger=log) as prog:
            while True:
                data = stream.read(_CHUNK)
                if not data and carry == 0:
                    break
                need = carry + len(data)
                if need > len(buf):
                    grown = np.zeros(need * 2, dtype=np.uint8)
                    grown[:carry] = buf[:carry]
                    buf = grown
                buf[carry:need] = np.frombuffer(data, dtype=np.uint8)
                start = 0
                while True:
                    before = state[4]
                    done = K.process_records(buf[start:need], need - start, contig_index, iv_starts, iv_ends, iv_off,
                                             lo, hi, cov, min_mapq, min_baseq, excluded_flags, overlaps, pending, store, state)
                    prog.update(int(state[4] - before))
                    start += done
                    if state[3]:
                        raise InputError(f"alignments are not sorted by coordinate (a read on {header_contigs[state[3] - 1]} "
                                         f"goes back before {state[2] + 1:,}); run `samtools sort`", file=original)
                    boundary = K.record_boundary(buf[start:need], need - start)
                    if boundary == 0:
                        break
                    # the store of first mates is full: drop those that can no longer overlap, grow if needed
                    new_store = np.zeros(store.shape[0] if state[0] < store.shape[0] // 2 else store.shape[0] * 2, dtype=np.uint8)
                    K.purge_pending(pending, store, state, new_store)
                    if state[0] > new_store.shape[0] // 2:
                        bigger = np.zeros(new_store.shape[0] * 2, dtype=np.uint8)
                        bigger[:state[0]] = new_store[:state[0]]
                        new_store = bigger
                    store = new_store
                carry = need - start
                buf[:carry] = buf[start:need].copy()
                if not data:
                    if carry:
                        raise InputError("BAM ends inside a record (truncated file)", file=original)
                    break
        log.debug("depth %s: %d reads from %s bytes", label, state[4], size)
    finally:
        stream.close()


def callable_territory(
    targets: Regions,
    tumor_bam: str | Path,
    normal_bam: str | Path | None = None,
    *,
    min_depth: int = 20,
    min_mapq: int = 20,
    min_baseq: int = 20,
    reference: str | Path | None = None,
) -> Regions:
    """Target bases where the tumour (and the normal, when given) reach ``min_depth``."""
    tumour = target_depth(tumor_bam, targets, min_mapq=min_mapq, min_baseq=min_baseq, reference=reference, label="tumour")
    normal = None
    if normal_bam is not None:
        normal = target_depth(normal_bam, targets, min_mapq=min_mapq, min_baseq=min_baseq, reference=reference, label="normal")
    intervals = {}
    for contig in targets.contigs:
        ok = tumour.depth[contig] >= min_depth
        if normal is not None:
            ok &= normal.depth[contig] >= min_depth
        positions = tumour.positions(contig)
        intervals[contig] = _mask_to_intervals(positions, ok)
    return Regions({c: iv for c, iv in intervals.items() if len(iv[0])}, source=f"callable({tumor_bam})")


def _mask_to_intervals(positions: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sel = positions[mask]
    if not len(sel):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    breaks = np.nonzero(np.diff(sel) != 1)[0]
    starts = np.concatenate([[sel[0]], sel[breaks + 1]])
    ends = np.concatenate([sel[breaks], [sel[-1]]]) + 1
    return starts.astype(np.int64), ends.astype(np.int64)
