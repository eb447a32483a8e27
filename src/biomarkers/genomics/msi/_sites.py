"""Find microsatellites in a reference and keep them in a site table (MSIsensor's ``scan``).

A site is a maximal tract of a primitive repeat unit (1 to ``max_unit`` bases) with
its flanks. The table is a gzipped TSV whose ``##`` header names the reference:
every contig with its length and a digest of them, so a table scanned on another
build (or with ``chr`` names against a reference without) is refused before any
read is counted.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path

from typing import TYPE_CHECKING

import pysam

from ...errors import InputError
from ...io import atomic_path
from ...log import Progress, get_logger
from .._alignments import chr_prefix_differs, open_reference
from ._config import MsiSettings, ScanSettings, load_settings
from ._tsv import Columns, read_headed_columns

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["scan_sites", "scan_sites_to_file", "write_sites", "read_sites", "read_site_columns", "reference_digest", "check_reference", "SITE_COLUMNS"]

log = get_logger("msi.scan")

FORMAT_TAG = "biomarkers-msi-sites/1"
SITE_COLUMNS = ["SITE_ID", "CHROM", "START", "END", "UNIT", "UNIT_LEN", "REF_REPEATS", "LEFT_FLANK", "RIGHT_FLANK"]
_CHUNK = 5_000_000


def reference_digest(contigs: Iterable[tuple[str, int]]) -> str:
    """SHA-256 over ``name<TAB>length`` lines, in the reference's order: one build, one digest."""
    text = "".join(f"{name}\t{length}\n" for name, length in contigs)
    return hashlib.sha256(text.encode()).hexdigest()


def _primitive(unit: str) -> bool:
    k = len(unit)
    return not any(k % d == 0 and unit == unit[:d] * (k // d) for d in range(1, k))


def _read_bed(path: str | Path, contigs: dict[str, int]) -> dict[str, list[tuple[int, int]]]:
    """Merged target intervals per contig; a contig unknown to the reference is an error."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    intervals: dict[str, list[tuple[int, int]]] = {}
    try:
        with opener(path, "rt") as handle:
            for line_no, line in enumerate(handle, 1):
                if not line.strip() or line.startswith(("#", "track", "browser")):
                    continue
                fields = line.rstrip("\n").split("\t")
                if len(fields) < 3:
                    raise InputError("a BED line needs chrom, start and end separated by tabs", file=path, row=f"line {line_no}")
                chrom = fields[0]
                try:
                    start, end = int(fields[1]), int(fields[2])
                except ValueError:
                    raise InputError("start and end must be integers", file=path, row=f"line {line_no}", value=line.strip()) from None
                if chrom not in contigs:
                    hint = " (the reference names contigs with 'chr')" if ("chr" + chrom) in contigs else (
                        " (the reference names contigs without 'chr')" if chrom.removeprefix("chr") in contigs else "")
                    raise InputError(f"contig not in the reference{hint}", file=path, row=f"line {line_no}", field="chrom", value=chrom)
                if start < 0 or end < start or end > contigs[chrom]:
                    raise InputError(f"interval outside contig {chrom} (length {contigs[chrom]:,})", file=path,
                                     row=f"line {line_no}", value=f"{start}-{end}")
                intervals.setdefault(chrom, []).append((start, end))
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable BED file: {exc}", file=path) from None
    merged: dict[str, list[tuple[int, int]]] = {}
    for chrom, ivs in intervals.items():
        out: list[list[int]] = []
        for start, end in sorted(ivs):
            if out and start <= out[-1][1]:
                out[-1][1] = max(out[-1][1], end)
            else:
                out.append([start, end])
        merged[chrom] = [(s, e) for s, e in out]
    return merged


def _patterns(scan: ScanSettings) -> list[tuple[int, re.Pattern]]:
    pats = [(1, re.compile(r"([ACGT])\1{%d,}" % (scan.min_homopolymer - 1)))]
    for k in range(scan.min_unit, scan.max_unit + 1):
        # look-ahead: overlapping candidates, so a repeat right after another one is not swallowed
        pats.append((k, re.compile(r"(?=(([ACGT]{%d})\2{%d,}))" % (k, scan.min_repeats - 1))))
    return pats


def _scan_sequence(seq: str, offset: int, scan: dict, patterns) -> list[tuple[int, int, str]]:
    """(start, end, unit) of maximal primitive repeats in ``seq`` (0-based, reference coordinates)."""
    found: list[tuple[int, int, str]] = []
    for k, pattern in patterns:
        if k == 1:
            for m in pattern.finditer(seq):
                found.append((m.start(), m.end(), m.group(1)))
            continue
        for m in pattern.finditer(seq):
            start = m.start()
            unit = m.group(2)
            # a suffix of a longer tract, or a unit that is itself a repeat (ACAC = AC x 2)
            if seq[start - k:start] == unit or not _primitive(unit):
                continue
            end = start + len(m.group(1))
            found.append((start, end, unit))
    found.sort(key=lambda t: (t[0], -(t[1] - t[0])))
    kept: list[tuple[int, int, str]] = []
    for site in found:
        if kept and site[0] < kept[-1][1]:
            if site[1] - site[0] > kept[-1][1] - kept[-1][0]:
                kept[-1] = site  # overlapping candidates: the longer tract wins
            continue
        kept.append(site)
    flank = scan.flank
    out = []
    for start, end, unit in kept:
        if end - start > scan.max_repeat_bases:
            continue
        left, right = seq[start - flank:start], seq[end:end + flank]
        if start < flank or len(right) < flank or "N" in left or "N" in right:
            continue
        out.append((start + offset, end + offset, unit, left, right))
    return out


def _scan_regions(ref: pysam.FastaFile, contigs: dict[str, int], targets, scan: ScanSettings) -> list[tuple]:
    """(contig, fetch start, fetch end, keep start, keep end): padded target intervals, or 5 Mb chunks of every contig."""
    pad = scan.max_repeat_bases + scan.flank + 10
    if targets is not None:
        regions = [(c, max(0, s - pad), min(contigs[c], e + pad), s, e)
                   for c, ivs in _read_bed(targets, contigs).items() for s, e in ivs]
        order = {c: i for i, c in enumerate(contigs)}
        return sorted(regions, key=lambda r: (order[r[0]], r[1]))
    return [(chrom, max(0, s - pad), min(length, min(length, s + _CHUNK) + pad), s, min(length, s + _CHUNK))
            for chrom, length in contigs.items() for s in range(0, length, _CHUNK)]


def _scan_rows(ref: pysam.FastaFile, regions: list[tuple], targets, scan: ScanSettings) -> Iterator[tuple]:
    """Site rows (without SITE_ID) in the table's order, streamed: memory holds one chunk's sites (whole genome)
    or one contig's targeted sites, never the genome's."""
    patterns = _patterns(scan)
    pending: dict[int, tuple] = {}  # targeted sites of the current contig (padded targets may overlap)
    current = None
    with Progress("msi scan (bases)", sum(r[4] - r[3] for r in regions), logger=log) as prog:
        for chrom, fetch_start, fetch_end, keep_start, keep_end in regions:
            if chrom != current:
                yield from (pending[k] for k in sorted(pending))
                pending, current = {}, chrom
            seq = ref.fetch(chrom, fetch_start, fetch_end).upper()
            if seq.count("N") == len(seq):  # gaps and masked slices: nothing to find
                prog.update(keep_end - keep_start)
                continue
            for start, end, unit, left, right in _scan_sequence(seq, fetch_start, scan, patterns):
                row = (chrom, start, end, unit, len(unit), (end - start) // len(unit), left, right)
                if targets is None:
                    if keep_start <= start < keep_end:  # each chunk owns the tracts starting in it, in order
                        yield row
                elif start < keep_end and end > keep_start:  # the tract overlaps the target
                    pending.setdefault(start, row)
            prog.update(keep_end - keep_start)
        yield from (pending[k] for k in sorted(pending))


def scan_sites(fasta: str | Path, targets: str | Path | None = None, settings: MsiSettings | None = None) -> pd.DataFrame:
    """Microsatellites of ``fasta`` (optionally only those overlapping ``targets``), one row per site."""
    import pandas as pd

    scan = (settings or load_settings()).scan
    ref = open_reference(fasta)
    try:
        contigs = dict(zip(ref.references, ref.lengths))
        rows = list(_scan_rows(ref, _scan_regions(ref, contigs, targets, scan), targets, scan))
    finally:
        ref.close()
    frame = pd.DataFrame(rows, columns=SITE_COLUMNS[1:])
    frame.insert(0, "SITE_ID", [f"{c}:{s}:{u}" for c, s, u in zip(frame["CHROM"], frame["START"], frame["UNIT"])])
    frame = frame.astype({"START": "int64", "END": "int64", "UNIT_LEN": "int64", "REF_REPEATS": "int64"})
    frame.attrs.update(contigs=list(contigs.items()), reference=str(fasta), targets=str(targets) if targets else "",
                       scan=asdict(scan))
    log.info("msi scan: %d microsatellites in %s%s", len(frame), Path(fasta).name, f" within {Path(targets).name}" if targets else "")
    return frame


def scan_sites_to_file(fasta: str | Path, output: str | Path, targets: str | Path | None = None,
                       settings: MsiSettings | None = None) -> int:
    """Scan and write the site table as the sites are found (the same bytes as ``write_sites(scan_sites(...))``),
    in memory independent of the genome's size; returns the number of sites."""
    scan = (settings or load_settings()).scan
    ref = open_reference(fasta)
    try:
        contigs = dict(zip(ref.references, ref.lengths))
        header = _site_header(list(contigs.items()), str(fasta), str(targets) if targets else "", asdict(scan))
        rows = _scan_rows(ref, _scan_regions(ref, contigs, targets, scan), targets, scan)
        n = _write_site_rows(output, header, rows)
    finally:
        ref.close()
    log.info("msi scan: %d microsatellites in %s%s", n, Path(fasta).name, f" within {Path(targets).name}" if targets else "")
    return n


def _site_header(contigs: list[tuple[str, int]], reference: str, targets: str, scan: dict | None) -> list[str]:
    header = [f"##format={FORMAT_TAG}", f"##reference={Path(reference).name}", f"##reference_digest={reference_digest(contigs)}"]
    if targets:
        header.append(f"##targets={Path(targets).name}")
    if scan:
        header.append("##scan=" + ",".join(f"{k}:{v}" for k, v in scan.items()))
    return header + [f"##contig=<ID={name},length={length}>" for name, length in contigs]


def _write_site_rows(path: str | Path, header: list[str], rows: Iterable[tuple]) -> int:
    """Header, column names, then one line per (CHROM, START, END, UNIT, UNIT_LEN, REF_REPEATS, flanks) row."""
    n = 0
    with atomic_path(path) as tmp:
        # mtime=0 and no file name in the gzip header: same inputs, same bytes
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(("\n".join(header) + "\n" + "\t".join(SITE_COLUMNS) + "\n").encode())
            lines: list[str] = []
            for chrom, start, end, unit, unit_len, repeats, left, right in rows:
                lines.append(f"{chrom}:{start}:{unit}\t{chrom}\t{start}\t{end}\t{unit}\t{unit_len}\t{repeats}\t{left}\t{right}\n")
                n += 1
                if len(lines) == 10_000:
                    gz.write("".join(lines).encode())
                    lines = []
            gz.write("".join(lines).encode())
    return n


def write_sites(sites: pd.DataFrame, path: str | Path, *, settings: MsiSettings | None = None) -> Path:
    """Write the site table as TSV.gz (atomically) with the reference in its header."""
    contigs = sites.attrs.get("contigs")
    if not contigs:
        raise ValueError("site table has no reference contigs in attrs (use scan_sites)")
    header = _site_header(contigs, sites.attrs.get("reference", ""), sites.attrs.get("targets", ""),
                          asdict(settings.scan) if settings else sites.attrs.get("scan"))
    columns = [list(sites[c]) for c in SITE_COLUMNS[1:]]
    _write_site_rows(path, header, zip(*columns))
    return Path(path)


def read_site_columns(path: str | Path) -> Columns:
    """Read a site table written by :func:`write_sites` into plain columns (no pandas); its header goes to ``attrs``."""
    header, table = read_headed_columns(path, what="site table", format_tag=FORMAT_TAG, command="scan",
                                        types={"START": int, "END": int, "UNIT_LEN": int, "REF_REPEATS": int})
    contigs: list[tuple[str, int]] = []
    meta: dict[str, str] = {}
    for key, value in header:
        m = re.match(r"<ID=([^,>]+),length=(\d+)>", value) if key == "contig" else None
        if m:
            contigs.append((m.group(1), int(m.group(2))))
        elif key != "contig":
            meta[key] = value
    missing = [c for c in SITE_COLUMNS if c not in table]
    if missing:
        raise InputError("site table lacks columns", file=path, field=missing[0])
    if meta.get("reference_digest") != reference_digest(contigs):
        raise InputError("site table header is inconsistent (its contig list does not match its digest)", file=path)
    scan = dict(item.split(":", 1) for item in meta["scan"].split(",") if ":" in item) if meta.get("scan") else None
    table.attrs.update(contigs=contigs, reference=meta.get("reference", ""), targets=meta.get("targets", ""), path=str(path),
                       digest=meta["reference_digest"], scan=scan)
    return table


def read_sites(path: str | Path) -> pd.DataFrame:
    """Read a site table written by :func:`write_sites` as a frame; its header's contigs go to ``attrs``."""
    import pandas as pd

    table = read_site_columns(path)
    frame = pd.DataFrame({name: table[name] for name in SITE_COLUMNS})
    frame = frame.astype({"START": "int64", "END": "int64", "UNIT_LEN": "int64", "REF_REPEATS": "int64"})
    frame.attrs.update(table.attrs)
    return frame


def check_reference(sites: pd.DataFrame, reference: pysam.FastaFile, *, fasta: str | Path) -> None:
    """Refuse a site table scanned on another reference than ``reference``."""
    contigs = sites.attrs.get("contigs", [])
    ref_contigs = list(zip(reference.references, reference.lengths))
    if dict(contigs) == dict(ref_contigs):
        return  # the same contigs and lengths, in whatever order
    table = sites.attrs.get("path", "site table")
    if chr_prefix_differs((c for c, _ in contigs), (c for c, _ in ref_contigs)):
        raise InputError(f"the site table was scanned on a reference naming contigs like '{contigs[0][0]}', the reference "
                         f"{Path(fasta).name} like '{ref_contigs[0][0]}' (chr prefix differs); rescan with `biomarkers msi scan`",
                         file=table)
    lengths_r = dict(ref_contigs)
    differing = [c for c, n in contigs if lengths_r.get(c) != n]
    detail = f"contig {differing[0]} differs" if differing else "contig lists differ"
    raise InputError(f"the site table was scanned on another reference than {Path(fasta).name} ({detail}); rescan with "
                     "`biomarkers msi scan`", file=table)
