"""Open BAM/CRAM and FASTA files with the checks a user needs before hours of work.

- CRAM needs its reference: refused up front, because htslib would otherwise try to
  fetch the reference over the network by MD5 (and fail slowly, or silently differ).
- A BAM/CRAM without an index gets one when its folder is writable, else a clear error;
  an unsorted one is refused.
- Contig names are compared with the reference (``chr1`` vs ``1`` is named as such).
"""

from __future__ import annotations

import os
from pathlib import Path

import pysam

from ..errors import InputError

__all__ = ["open_alignments", "open_reference", "check_contigs", "chr_prefix_differs", "read_group_samples", "is_cram"]

_INDEX_SUFFIXES = {".bam": (".bai", ".csi"), ".cram": (".crai",)}


def is_cram(path: str | Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"CRAM"


def open_reference(path: str | Path) -> pysam.FastaFile:
    """Open a plain or bgzip-compressed FASTA, creating its .fai if the folder allows."""
    path = Path(path)
    if not path.exists():
        raise InputError("reference FASTA not found", file=path)
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic[:2] == b"\x1f\x8b" and not (magic[3] & 0x04):
        # gzip without the BGZF extra field: random access is impossible
        raise InputError("reference is gzip- but not bgzip-compressed; recompress it with `bgzip`", file=path)
    fai = Path(str(path) + ".fai")
    if not fai.exists() and not os.access(path.parent, os.W_OK):
        raise InputError("reference has no .fai index and its folder is not writable; run `samtools faidx` on it", file=path)
    if fai.exists() and magic[:2] != b"\x1f\x8b":
        _check_fai(path, fai)
    try:
        return pysam.FastaFile(str(path))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot open reference FASTA: {exc}", file=path) from None


def _check_fai(path: Path, fai: Path) -> None:
    """Refuse a plain FASTA shorter than its .fai says: a truncated file read through an old
    index returns short or empty sequences (or fails deep inside htslib) instead of an error."""
    size = path.stat().st_size
    with open(fai, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            fields = line.rstrip("\n").split("\t")
            try:
                length, offset, line_bases, line_width = (int(v) for v in fields[1:5])
            except (ValueError, IndexError):
                raise InputError("not a samtools faidx index (expected name, length, offset, line bases, line width)",
                                 file=fai, row=number) from None
            if length <= 0 or line_bases <= 0:
                continue
            lines, column = divmod(length - 1, line_bases)  # where the contig's last base sits
            end = offset + lines * line_width + column + 1
            if end > size:
                raise InputError(f"the FASTA is {size:,} bytes but its .fai places contig {fields[0]} up to byte {end:,}: "
                                 "the FASTA is truncated or the .fai is stale; re-run `samtools faidx`", file=path)


def _index_path(path: Path) -> Path | None:
    for suffix in _INDEX_SUFFIXES.get(path.suffix, (".bai", ".csi", ".crai")):
        for candidate in (Path(str(path) + suffix), path.with_suffix(suffix)):
            if candidate.exists():
                return candidate
    return None


def open_alignments(
    path: str | Path,
    reference: str | Path | None = None,
    *,
    index: str | Path | None = None,
    create_index: bool = True,
) -> pysam.AlignmentFile:
    """Open a coordinate-sorted, indexed BAM or CRAM for random access.

    Raises :class:`InputError` naming the file for: missing file, CRAM without
    reference, unsorted file, no index in a read-only folder.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("alignment file not found", file=path)
    cram = is_cram(path)
    if cram and reference is None:
        raise InputError("CRAM needs its reference FASTA (give --fasta); refusing to fetch it over the network", file=path)
    mode = "rc" if cram else "rb"
    kwargs = {"reference_filename": str(reference)} if cram else {}
    try:
        probe = pysam.AlignmentFile(str(path), mode, check_sq=False, **kwargs)
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable BAM/CRAM: {exc}", file=path) from None
    sort_order = probe.header.to_dict().get("HD", {}).get("SO")
    probe.close()
    if sort_order not in (None, "coordinate"):
        raise InputError(f"alignments are sorted by {sort_order}, not by coordinate; run `samtools sort`", file=path)
    index_path = Path(index) if index else _index_path(path)
    if index_path is None:
        if not create_index:
            raise InputError("alignment file has no index; run `samtools index`", file=path)
        if not os.access(path.parent, os.W_OK):
            raise InputError("alignment file has no index and its folder is not writable; run `samtools index` on it", file=path)
        try:
            pysam.index(str(path))
        except pysam.utils.SamtoolsError as exc:
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else "indexing failed"
            raise InputError(f"cannot index (is it sorted by coordinate?): {detail}", file=path) from None
        index_path = _index_path(path)
    try:
        handle = pysam.AlignmentFile(str(path), mode, index_filename=str(index_path), **kwargs)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot open with its index {index_path}: {exc}", file=path) from None
    if not cram:
        _check_index(handle, path, Path(index_path))
    return handle


def _index_contigs(index_path: Path) -> int | None:
    """Number of reference sequences a .bai or .csi index describes (None: not readable here)."""
    import gzip
    import struct

    try:
        if index_path.suffix == ".bai":
            with open(index_path, "rb") as handle:
                head = handle.read(8)
            return struct.unpack_from("<i", head, 4)[0] if head[:4] == b"BAI\x01" else None
        if index_path.suffix == ".csi":
            with gzip.open(index_path, "rb") as handle:
                head = handle.read(16)
                if head[:4] != b"CSI\x01":
                    return None
                handle.read(struct.unpack_from("<i", head, 12)[0])  # auxiliary data
                return struct.unpack("<i", handle.read(4))[0]
    except (OSError, EOFError, struct.error):
        return None
    return None


def _check_index(handle: pysam.AlignmentFile, path: Path, index_path: Path) -> None:
    """Refuse an index that belongs to another BAM: it silently returns no reads (another
    reference's index) or fails deep inside htslib ("Closing failed") on the first fetch.

    Cheap: the index's number of contigs must be the header's, and for each contig the
    index says holds reads, the first read fetched must be on that contig; the BAM's first
    mapped read must sit on a contig the index says holds reads.
    """
    wrong = f"the index {index_path.name} does not belong to this BAM (another file's index?); run `samtools index`"
    described = _index_contigs(index_path)
    previous = pysam.set_verbosity(0)  # htslib's own error lines would make the message several lines
    try:
        if described is not None and described != len(handle.references):
            raise InputError(f"{wrong}: it describes {described} contigs, the BAM has {len(handle.references)}", file=path)
        stats = {s.contig: s.mapped for s in handle.get_index_statistics()}
        for contig, mapped in stats.items():
            if mapped:
                first = next(handle.fetch(contig), None)
                if first is None or first.reference_name != contig:
                    raise InputError(wrong, file=path)
        first_mapped = next((r for r in handle.fetch(until_eof=True) if not r.is_unmapped), None)
        if first_mapped is not None and not stats.get(first_mapped.reference_name):
            raise InputError(wrong, file=path)
    except (OSError, ValueError) as exc:
        _close_quietly(handle)
        raise InputError(f"{wrong} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})", file=path) from None
    except InputError:
        _close_quietly(handle)
        raise
    finally:
        pysam.set_verbosity(previous)


def _close_quietly(handle: pysam.AlignmentFile) -> None:
    previous = pysam.set_verbosity(0)
    try:
        handle.close()
    except OSError:
        pass
    finally:
        pysam.set_verbosity(previous)


def chr_prefix_differs(names_a, names_b) -> bool:
    """True when the two contig name sets match only once a 'chr' prefix is stripped (``1`` vs ``chr1``), not for
    names that are simply different (``ctg1`` vs ``chrA``)."""
    a, b = set(names_a), set(names_b)
    stripped_a = {n.removeprefix("chr") for n in a}
    stripped_b = {n.removeprefix("chr") for n in b}
    return not (a & b) and bool(stripped_a & stripped_b)


def check_contigs(alignments: pysam.AlignmentFile, reference: pysam.FastaFile, *, file: str | Path) -> None:
    """Refuse a BAM whose contigs are not the reference's (names and lengths)."""
    ref_lengths = dict(zip(reference.references, reference.lengths))
    bam_lengths = dict(zip(alignments.references, alignments.lengths))
    shared = set(ref_lengths) & set(bam_lengths)
    if not shared:
        example_bam = next(iter(bam_lengths), "?")
        example_ref = next(iter(ref_lengths), "?")
        hint = "one has the 'chr' prefix, the other not" if chr_prefix_differs(bam_lengths, ref_lengths) else \
            "no name in common; is it the right reference build?"
        raise InputError(f"contig names differ from the reference's: the alignments use '{example_bam}', the reference "
                         f"'{example_ref}' ({hint})", file=file)
    for name in sorted(shared):
        if ref_lengths[name] != bam_lengths[name]:
            raise InputError(
                f"contig {name} is {bam_lengths[name]:,} bp in the alignments but {ref_lengths[name]:,} bp in the "
                "reference: a different build", file=file, field=name)


def read_group_samples(alignments: pysam.AlignmentFile) -> list[str]:
    """Sample names (``SM``) of the read groups, in header order, without repeats."""
    seen: list[str] = []
    for rg in alignments.header.to_dict().get("RG", []):
        sm = rg.get("SM")
        if sm and sm not in seen:
            seen.append(sm)
    return seen
