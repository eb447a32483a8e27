"""Synthetic reference of the simulated trial: contigs, genes, exons, targets, microsatellites.

The background sequence is random but cleaned of short tandem repeats
(homopolymers of 5 or more, 2-5 bp units repeated 3 or more times), so the only
microsatellites a scanner finds are the ones placed on purpose, inside exons,
with unique flanks. Exons are the coding territory (``coding.bed``); the capture
targets (``targets.bed``) are the exons with padding plus a few extra intervals
that overlap them, so a caller that does not merge overlaps double-counts bases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pysam

from ..io import atomic_path

__all__ = ["Reference", "Exon", "Microsatellite", "build_reference", "merge_intervals"]

BASES = np.frombuffer(b"ACGT", dtype=np.uint8)


@dataclass(frozen=True)
class Exon:
    contig: int
    start: int  # 0-based, half-open
    end: int
    gene: str
    gene_id: str
    number: int  # exon number within the gene (1-based)


@dataclass(frozen=True)
class Microsatellite:
    contig: int
    start: int  # 0-based start of the repeat tract
    unit: str
    repeats: int

    @property
    def end(self) -> int:
        return self.start + len(self.unit) * self.repeats


@dataclass
class Reference:
    names: list[str]
    seqs: list[np.ndarray]  # uint8 ASCII, upper case
    exons: list[Exon]
    targets: list[tuple[int, int, int, str]]  # contig, start, end, name (as written, overlaps kept)
    merged_targets: list[tuple[int, int, int]]
    microsatellites: list[Microsatellite]
    # genes: gene symbol -> (gene id, contig, [exon indices]); transcript 2 skips `skipped` exon
    genes: dict[str, dict] = field(default_factory=dict)

    @property
    def lengths(self) -> list[int]:
        return [len(s) for s in self.seqs]

    @property
    def offsets(self) -> np.ndarray:
        """Start of each contig in the concatenated (global) coordinate system."""
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)

    def genome(self) -> np.ndarray:
        return np.concatenate(self.seqs)

    def mask(self, intervals) -> np.ndarray:
        """Boolean mask over global coordinates of (contig, start, end, ...) intervals."""
        offsets = self.offsets
        diff = np.zeros(sum(self.lengths) + 1, dtype=np.int32)
        for iv in intervals:
            diff[offsets[iv[0]] + iv[1]] += 1
            diff[offsets[iv[0]] + iv[2]] -= 1
        return np.cumsum(diff[:-1]) > 0

    def write(self, folder) -> dict[str, str]:
        """Write genome.fa(.fai), targets.bed, coding.bed; return their paths relative to ``folder``'s parent."""
        folder.mkdir(parents=True, exist_ok=True)
        fasta = folder / "genome.fa"
        with atomic_path(fasta) as tmp:
            with open(tmp, "w") as out:
                for name, seq in zip(self.names, self.seqs):
                    out.write(f">{name}\n")
                    text = seq.tobytes().decode()
                    out.write("\n".join(text[i:i + 60] for i in range(0, len(text), 60)))
                    out.write("\n")
        pysam.faidx(str(fasta))
        with atomic_path(folder / "targets.bed") as tmp:
            tmp.write_text("".join(f"{self.names[c]}\t{s}\t{e}\t{n}\n" for c, s, e, n in self.targets))
        with atomic_path(folder / "coding.bed") as tmp:
            tmp.write_text("".join(f"{self.names[x.contig]}\t{x.start}\t{x.end}\t{x.gene}\n" for x in self.exons))
        return {"fasta": "reference/genome.fa", "targets": "reference/targets.bed", "coding_bed": "reference/coding.bed"}


def merge_intervals(intervals) -> list[tuple[int, int, int]]:
    """Merge (contig, start, end, ...) intervals that overlap or touch."""
    merged: list[list[int]] = []
    for c, s, e, *_ in sorted(intervals, key=lambda iv: (iv[0], iv[1], iv[2])):
        if merged and merged[-1][0] == c and s <= merged[-1][2]:
            merged[-1][2] = max(merged[-1][2], e)
        else:
            merged.append([c, s, e])
    return [tuple(m) for m in merged]


def _random_sequence(n: int, gc: float, rng: np.random.Generator) -> np.ndarray:
    p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    return BASES[rng.choice(4, size=n, p=p)]


def _clean_repeats(seq: np.ndarray, rng: np.random.Generator, *, max_homopolymer: int = 4, max_units: int = 2) -> None:
    """Break every homopolymer longer than ``max_homopolymer`` and every 2-5 bp unit repeated more than ``max_units`` times."""
    for _ in range(200):
        bad = np.zeros(len(seq), dtype=bool)
        for period in range(1, 6):
            same = seq[period:] == seq[:-period]
            need = max_homopolymer if period == 1 else max_units * period  # consecutive matches that make a repeat
            # windows of `need` consecutive matches
            run = np.convolve(same.astype(np.int32), np.ones(need, dtype=np.int32), mode="valid") == need
            idx = np.flatnonzero(run) + need - 1 + period  # last base of the offending tract
            bad[idx] = True
        if not bad.any():
            return
        idx = np.flatnonzero(bad)
        seq[idx] = BASES[(np.searchsorted(BASES, seq[idx]) + rng.integers(1, 4, size=len(idx))) % 4]
    raise RuntimeError("could not clean tandem repeats from the background sequence")


def _unit_is_primitive(unit: str) -> bool:
    n = len(unit)
    return not any(n % p == 0 and unit == unit[:p] * (n // p) for p in range(1, n))


def build_reference(cfg: dict, rng: np.random.Generator) -> Reference:
    ref_cfg = cfg["reference"]
    ms_cfg = cfg["microsatellites"]
    names, seqs, exons, genes = [], [], [], {}
    gene_no = 0
    for c in range(ref_cfg["contigs"]):
        layout = []
        pos = int(rng.integers(*ref_cfg["intergenic"]))
        for _ in range(ref_cfg["genes_per_contig"]):
            gene_no += 1
            symbol, gene_id = f"GENE{gene_no:03d}", f"ENSGSIM{gene_no:08d}"
            n_exons = int(rng.integers(ref_cfg["exons_per_gene"][0], ref_cfg["exons_per_gene"][1] + 1))
            first = len(exons)
            for k in range(n_exons):
                if k:
                    pos += int(rng.integers(*ref_cfg["intron"]))
                length = int(rng.integers(*ref_cfg["exon_length"]))
                exons.append(Exon(c, pos, pos + length, symbol, gene_id, k + 1))
                layout.append((pos, pos + length))
                pos += length
            internal = list(range(first + 1, len(exons) - 1))
            skipped = int(rng.choice(internal)) if internal else None
            genes[symbol] = {"gene_id": gene_id, "contig": c, "exons": list(range(first, len(exons))), "skipped": skipped}
            pos += int(rng.integers(*ref_cfg["intergenic"]))
        seq = _random_sequence(pos, ref_cfg["gc"], rng)
        _clean_repeats(seq, rng)
        names.append(f"chr{c + 1}")
        seqs.append(seq)

    pad = ref_cfg["target_padding"]
    targets = [(x.contig, x.start - pad, x.end + pad, f"{x.gene}_exon{x.number}") for x in exons]
    # extra capture baits that overlap exon targets (merging them must not double-count)
    extra = rng.choice(len(exons), size=ref_cfg["overlapping_targets"], replace=False)
    for i in sorted(extra.tolist()):
        x = exons[i]
        shift = int(rng.integers(10, max(11, (x.end - x.start) // 2)))
        targets.append((x.contig, x.start + shift, x.end + pad + int(rng.integers(5, 40)), f"{x.gene}_exon{x.number}_bait2"))
    targets.sort(key=lambda t: (t[0], t[1], t[2]))
    merged = merge_intervals(targets)

    microsatellites = _place_microsatellites(seqs, exons, ms_cfg, rng)
    return Reference(names, seqs, exons, targets, merged, microsatellites, genes)


def _place_microsatellites(seqs, exons, ms_cfg, rng) -> list[Microsatellite]:
    kinds = []
    for unit_len, spec in sorted(ms_cfg["by_unit"].items(), key=lambda kv: int(kv[0])):
        kinds += [(int(unit_len), spec)] * spec["n"]
    flank = ms_cfg["flank"]
    order = rng.permutation(len(exons))
    sites: list[Microsatellite] = []
    used_flanks: set[bytes] = set()
    k = 0
    for i in order:
        if k == len(kinds):
            break
        unit_len, spec = kinds[k]
        x = exons[i]
        repeats = int(rng.integers(spec["repeats"][0], spec["repeats"][1] + 1))
        length = unit_len * repeats
        if x.end - x.start < length + 2 * flank + 2 * ms_cfg["min_exon_margin"]:
            continue
        while True:
            unit = "".join(rng.choice(list("ACGT"), size=unit_len))
            if _unit_is_primitive(unit):
                break
        seq = seqs[x.contig]
        start = (x.start + x.end - length) // 2
        seq[start:start + length] = np.frombuffer((unit * repeats).encode(), dtype=np.uint8)
        # keep the tract maximal: the flanking bases must not extend the repeat
        before, after = start - 1, start + length
        if seq[before] == ord(unit[-1]):
            seq[before] = next(b for b in b"ACGT" if b not in (ord(unit[-1]), seq[before - 1]))
        if seq[after] == ord(unit[0]):
            seq[after] = next(b for b in b"ACGT" if b not in (ord(unit[0]), seq[after + 1]))
        left = seq[start - flank:start].tobytes()
        right = seq[start + length:start + length + flank].tobytes()
        if left in used_flanks or right in used_flanks:
            continue
        used_flanks.update((left, right))
        sites.append(Microsatellite(x.contig, start, unit, repeats))
        k += 1
    if k < len(kinds):
        raise ValueError("not enough exons to place the configured microsatellites")
    sites.sort(key=lambda m: (m.contig, m.start))
    return sites
