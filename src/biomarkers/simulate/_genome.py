"""Genome stage of the simulated trial: reference, tumour/normal BAMs, somatic VCFs, truth.

Reads ``trial.subjects`` (TMB_TARGET, MSI_STATUS) and ``trial.assay_plan`` (rows
with ASSAY ``wes_tumor``/``wes_normal``) and writes, under the trial folder::

    reference/genome.fa(.fai), targets.bed, coding.bed
    bam/<SPECIMEN_ID>.bam(.bai)       every wes_tumor / wes_normal specimen
    vcf/<SPECIMEN_ID>.vcf.gz(.tbi)    somatic calls per tumour (Mutect2-like, VEP CSQ)
    pon/PON<n>.bam(.bai)              unrelated normals (MSI tumour-only baseline)
    truth/tmb.csv, tmb_variants.csv, msi.csv, msi_sites.csv, genome_model.json

The generative parameters are in ``assets/simulation.yaml`` (``genome``); the
model is described in ``docs/simulation.md``.
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import names as N
from ..log import Progress, get_logger
from ..protocol import Protocol
from ..workers import map_in_order
from ._bamwriter import write_bam
from ._container import SimulatedTrial, stage_rng
from ._genome_reads import (
    Layout, apply_indel, apply_length_alleles, apply_sequencing_errors, counted_reads_at, depth, fill_reference,
    query_index_at, sample_layout, to_read_table,
)
from ._genome_reference import Reference, build_reference
from ._genome_vcf import FILTERS, IMPACT, Allele, Record, evaluate, normalise, write_vcf
from ._trial import load_model

__all__ = ["simulate_genome"]

log = get_logger("simulate.genome")


@dataclass
class _Genome:
    """The reference and its masks in global coordinates (contigs concatenated)."""

    ref: Reference
    seq: np.ndarray
    offsets: np.ndarray
    bounds: np.ndarray
    merged: np.ndarray  # (k, 3) contig, global start, global end
    target: np.ndarray  # bool mask
    coding: np.ndarray  # bool mask
    exon_starts: np.ndarray  # global, sorted
    exon_ends: np.ndarray
    ms_start: np.ndarray  # global
    ms_end: np.ndarray
    near_ms: np.ndarray  # bool mask: within `spacing` of a microsatellite
    shared_factor: np.ndarray  # capture efficiency per base (low-coverage stretches < 1)
    cfg: dict
    interior: np.ndarray | None = None  # coding, >= 3 bp from exon ends, away from microsatellites
    padding: np.ndarray | None = None  # targets >= 9 bp outside exons, away from microsatellites

    @property
    def length(self) -> int:
        return len(self.seq)

    def locate(self, gp: int) -> tuple[str, int]:
        c = int(np.searchsorted(self.offsets, gp, side="right") - 1)
        return self.ref.names[c], int(gp - self.offsets[c])


def _prepare(cfg: dict, rng: np.random.Generator) -> _Genome:
    ref = build_reference(cfg, rng)
    seq = ref.genome()
    offsets = ref.offsets
    bounds = np.stack([offsets, offsets + np.array(ref.lengths)], axis=1)
    merged = np.array([(c, offsets[c] + s, offsets[c] + e) for c, s, e in ref.merged_targets], dtype=np.int64)
    target = ref.mask(ref.merged_targets)
    coding = ref.mask([(x.contig, x.start, x.end) for x in ref.exons])
    exon_starts = np.array([offsets[x.contig] + x.start for x in ref.exons], dtype=np.int64)
    exon_ends = np.array([offsets[x.contig] + x.end for x in ref.exons], dtype=np.int64)
    ms_start = np.array([offsets[m.contig] + m.start for m in ref.microsatellites], dtype=np.int64)
    ms_end = np.array([offsets[m.contig] + m.end for m in ref.microsatellites], dtype=np.int64)
    spacing = cfg["somatic"]["spacing"]
    near_ms = np.zeros(len(seq), dtype=bool)
    for s, e in zip(ms_start, ms_end):
        near_ms[max(0, s - spacing):e + spacing] = True
    factor = np.ones(len(seq), dtype=np.float32)
    for s, e, f in _stretches(cfg["reads"]["low_coverage"]["shared"], exon_starts, exon_ends, near_ms, rng):
        factor[s:e] = f
    base = coding & ~near_ms
    interior = base & np.roll(base, 3) & np.roll(base, -3)  # keeps consequences simple
    dilated = np.convolve(coding.astype(np.int8), np.ones(17, dtype=np.int8), mode="same") > 0
    return _Genome(ref, seq, offsets, bounds, merged, target, coding, exon_starts, exon_ends, ms_start, ms_end,
                   near_ms, factor, cfg, interior, target & ~dilated & ~near_ms)


def _stretches(spec: dict, exon_starts, exon_ends, near_ms, rng) -> list[tuple[int, int, float]]:
    """Low-capture stretches centred in exons away from microsatellites."""
    out = []
    order = rng.permutation(len(exon_starts))
    for i in order:
        if len(out) == spec["n"]:
            break
        centre = int((exon_starts[i] + exon_ends[i]) // 2)
        length = int(rng.integers(*spec["length"]))
        s, e = centre - length // 2, centre + length // 2
        if near_ms[s:e].any():
            continue
        out.append((s, e, float(rng.uniform(*spec["factor"]))))
    return out


def _make_layout(g: _Genome, mean_depth: float, factor: np.ndarray, rng) -> Layout:
    layout = sample_layout(g.merged, g.bounds, factor, mean_depth, g.cfg["reads"], rng)
    layout.min_mapq = g.cfg["callable"]["min_mapq"]
    fill_reference(layout, g.seq)
    return layout


def _microsatellite_alleles(g: _Genome, layout: Layout, rng, shifts: dict[int, tuple[int, float]] | None = None) -> None:
    """Stutter on every spanning read; somatic shifts (site -> (units, read fraction)) in MSI-H tumours."""
    st = g.cfg["stutter"]
    anchor = g.cfg["reads"]["anchor"]
    for i, m in enumerate(g.ref.microsatellites):
        fragment_shift: dict[int, int] = {}
        if shifts and i in shifts:
            units, fraction = shifts[i]
            lo = np.searchsorted(layout.gpos, g.ms_start[i] - layout.read_len * 5)
            hi = np.searchsorted(layout.gpos, g.ms_end[i] + 1)
            local = np.unique(layout.frag[lo:hi])
            carriers = local[rng.random(len(local)) < fraction]
            fragment_shift = {int(f): units for f in carriers}
        apply_length_alleles(layout, g.seq, int(g.ms_start[i]), int(g.ms_end[i]), m.unit.encode(), fragment_shift,
                             st["rate"], st["deletion_fraction"], anchor, rng)


def _apply_snv_to_fragments(layout: Layout, gp: int, alt: bytes, fragments: set[int]) -> None:
    L = layout.read_len
    lo = np.searchsorted(layout.gpos, gp - 2 * L, side="left")
    hi = np.searchsorted(layout.gpos, gp + len(alt), side="right")
    for r in range(lo, hi):
        if int(layout.frag[r]) not in fragments or layout.mate[r] < 0:
            continue
        for k, base in enumerate(alt):
            q = query_index_at(layout, r, gp + k)
            if q is not None:
                layout.seq[r, q] = base


def _germline_snps(g: _Genome, rng) -> list[tuple[int, int]]:
    rate = g.cfg["germline_snp_per_kb"] / 1000
    candidates = np.flatnonzero(g.target & ~g.near_ms)
    n = rng.poisson(rate * len(candidates))
    pos = np.sort(rng.choice(candidates, size=n, replace=False))
    out = []
    for p in pos.tolist():
        ref = g.seq[p]
        alt = next(b for b in rng.permutation(list(b"ACGT")) if b != ref)
        out.append((p, int(alt)))
    return out


def _apply_germline(layout: Layout, snps: list[tuple[int, int]], rng) -> None:
    for p, alt in snps:
        lo = np.searchsorted(layout.gpos, p - 2 * layout.read_len)
        hi = np.searchsorted(layout.gpos, p + 1)
        frags = np.unique(layout.frag[lo:hi])
        carriers = set(frags[rng.random(len(frags)) < 0.5].tolist())
        _apply_snv_to_fragments(layout, p, bytes([alt]), carriers)


def _write_specimen_bam(trial: SimulatedTrial, g: _Genome, layout: Layout, folder: str, specimen: str) -> str:
    rel = f"{folder}/{specimen}.bam"
    path = trial.outdir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    reads = to_read_table(layout, g.offsets, f"{specimen}:")
    header = "\n".join([
        "@HD\tVN:1.6\tSO:coordinate",
        *[f"@SQ\tSN:{n}\tLN:{length}" for n, length in zip(g.ref.names, g.ref.lengths)],
        f"@RG\tID:{specimen}\tSM:{specimen}\tLB:{specimen}-LIB1\tPL:ILLUMINA\tPU:SIM.1.{specimen}",
        "@PG\tID:biomarkers-simulate\tPN:biomarkers\tCL:biomarkers simulate",
    ]) + "\n"
    write_bam(path, reads, header_text=header, names=g.ref.names, lengths=g.ref.lengths, read_group=specimen,
              level=g.cfg["bgzf_level"])
    return rel


# --------------------------------------------------------------------------- variants

class _Picker:
    """Draws positions from masks keeping every chosen position ``spacing`` apart."""

    def __init__(self, spacing: int):
        self.spacing = spacing
        self.chosen: list[int] = []

    def free(self, p: int) -> bool:
        i = bisect.bisect_left(self.chosen, p)
        if i < len(self.chosen) and self.chosen[i] - p < self.spacing:
            return False
        return not (i > 0 and p - self.chosen[i - 1] < self.spacing)

    def take(self, p: int) -> None:
        bisect.insort(self.chosen, p)

    def pick(self, mask: np.ndarray, n: int, rng) -> list[int]:
        candidates = np.flatnonzero(mask)
        out = []
        if not len(candidates) or n <= 0:
            return out
        for p in rng.permutation(candidates)[: 50 * n + 200].tolist():
            if self.free(p):
                self.take(p)
                out.append(p)
                if len(out) == n:
                    break
        return out


def _random_base(rng, exclude: set[int]) -> int:
    return int(next(b for b in rng.permutation(list(b"ACGT")) if b not in exclude))


class _Annotator:
    """VEP-like CSQ entries from the simulated gene models (two transcripts per gene)."""

    def __init__(self, g: _Genome):
        self.g = g
        self.gene_of_exon = [x.gene for x in g.ref.exons]
        self.genes = g.ref.genes
        self.gene_order = list(self.genes)

    def _exon_index(self, gp: int) -> int | None:
        i = int(np.searchsorted(self.g.exon_starts, gp, side="right") - 1)
        if i >= 0 and gp < self.g.exon_ends[i]:
            return i
        return None

    def _gene_at(self, gp: int) -> tuple[str | None, int | None]:
        """Gene whose span contains gp and the intron number, or (None, None)."""
        i = int(np.searchsorted(self.g.exon_starts, gp, side="right") - 1)
        if i < 0:
            return None, None
        gene = self.gene_of_exon[i]
        exons = self.genes[gene]["exons"]
        if i != exons[-1] and gp >= self.g.exon_ends[i]:
            return gene, i - exons[0] + 1
        return (gene, None) if gp < self.g.exon_ends[i] else (None, None)

    def entries(self, gp: int, vep_allele: str, consequence: str, rng, *, ref: str, alt: str, af_1000g: str = "",
                af_gnomad: str = "") -> list[dict]:
        base = {"Allele": vep_allele, "AF": af_1000g, "gnomADe_AF": af_gnomad}
        if consequence == "intergenic_variant":
            return [{**base, "Consequence": consequence, "IMPACT": "MODIFIER"}]
        exon = self._exon_index(gp)
        gene, intron = (self.gene_of_exon[exon], None) if exon is not None else self._gene_at(gp)
        if gene is None:  # between genes: up/downstream of its neighbours
            i = int(np.searchsorted(self.g.exon_starts, gp, side="right"))
            near = {self.gene_of_exon[min(i, len(self.gene_of_exon) - 1)]: "upstream_gene_variant"}
            if i > 0:
                near.setdefault(self.gene_of_exon[i - 1], "downstream_gene_variant")
            return [{**base, "Consequence": csq, "IMPACT": "MODIFIER", "SYMBOL": sym, "Gene": self.genes[sym]["gene_id"],
                     "Feature_type": "Transcript", "Feature": f"ENSTSIM{self.genes[sym]['gene_id'][-8:]}1",
                     "BIOTYPE": "protein_coding", "CANONICAL": "YES"} for sym, csq in near.items()]
        info = self.genes[gene]
        n_ex = len(info["exons"])
        neighbour = self.gene_order[(self.gene_order.index(gene) + 1) % len(self.gene_order)]

        def tx(k: int, csq: str) -> dict:
            e = {**base, "Consequence": csq, "IMPACT": _impact(csq), "SYMBOL": gene, "Gene": info["gene_id"],
                 "Feature_type": "Transcript", "Feature": f"ENSTSIM{info['gene_id'][-8:]}{k}",
                 "BIOTYPE": "protein_coding", "CANONICAL": "YES" if k == 1 else ""}
            if exon is not None and csq != "intron_variant":
                e["EXON"] = f"{exon - info['exons'][0] + 1}/{n_ex}"
                cpos = gp - int(self.g.exon_starts[exon]) + 1 + sum(
                    int(self.g.exon_ends[j] - self.g.exon_starts[j]) for j in info["exons"] if j < exon)
                e["HGVSc"] = f"{e['Feature']}:c.{cpos}{ref}>{alt}" if len(ref) == len(alt) == 1 else f"{e['Feature']}:c.{cpos}"
                if csq != "synonymous_variant":
                    e["HGVSp"] = f"ENSPSIM{info['gene_id'][-8:]}{k}:p.{_protein_change(csq, cpos)}"
            elif intron is not None:
                e["INTRON"] = f"{intron}/{n_ex - 1}"
            return e

        if exon is not None:
            skipped = info["skipped"] == exon
            lesser = {"missense_variant": ["missense_variant", "synonymous_variant"],
                      "stop_gained": ["missense_variant", "stop_gained"],
                      "frameshift_variant": ["frameshift_variant"],
                      "inframe_deletion": ["inframe_deletion", "missense_variant"],
                      "inframe_insertion": ["inframe_insertion"],
                      "synonymous_variant": ["synonymous_variant"]}[consequence]
            other = "intron_variant" if skipped else str(rng.choice(lesser))
            # the most severe consequence is not always on the canonical transcript, nor listed first
            on_canonical = skipped or rng.random() < 0.6
            entries = [tx(1, consequence), tx(2, other)] if on_canonical else [tx(1, other), tx(2, consequence)]
        else:
            entries = [tx(1, consequence), tx(2, consequence)]
        up = {**base, "Consequence": str(rng.choice(["upstream_gene_variant", "downstream_gene_variant"])),
              "IMPACT": "MODIFIER", "SYMBOL": neighbour, "Gene": self.genes[neighbour]["gene_id"],
              "Feature_type": "Transcript", "Feature": f"ENSTSIM{self.genes[neighbour]['gene_id'][-8:]}1",
              "BIOTYPE": "protein_coding", "CANONICAL": "YES"}
        entries.append(up)
        order = rng.permutation(len(entries))
        return [entries[i] for i in order]


def _impact(csq: str) -> str:
    return IMPACT.get(csq, "MODIFIER")


def _protein_change(csq: str, cpos: int) -> str:
    aa = (cpos + 2) // 3
    return {"stop_gained": f"Gln{aa}Ter", "frameshift_variant": f"Leu{aa}fs", "inframe_deletion": f"Lys{aa}del",
            "inframe_insertion": f"Lys{aa}_Glu{aa + 1}ins", "missense_variant": f"Ala{aa}Val"}.get(csq, f"Xaa{aa}=")


@dataclass
class _Planned:
    kind: str  # snv, mnv, deletion, insertion, multiallelic
    gp: int  # global 0-based POS (anchor base for indels)
    ref: str
    alts: list[str]
    designs: list[str]
    consequences: list[str]
    alt_reads: list[int | None]  # exact carrier count per allele (None: from the VAF)
    vaf: float
    filter: str = "PASS"
    write_af: bool = True
    af_1000g: str = ""
    af_gnomad: str = ""
    duplicate_of: int | None = None  # index of the planned record this one repeats
    unnormalised: bool = False


def _design(g: _Genome, ctx: dict, n_counted: int, subject_pool: np.ndarray, subject_seed: int, purity: float,
            rng, *, paired: bool = True) -> list[_Planned]:
    """Plan the somatic records of one tumour specimen (positions, alleles, designed fate).

    Population decoys are counted in paired mode (the filter applies to tumour-only
    counting only), so they are part of ``n_counted`` there and extra in tumour-only mode.
    """
    som = g.cfg["somatic"]
    picker = _Picker(som["spacing"])
    good, seq = ctx["good"], g.seq
    n_pop = min(g.cfg["decoys"]["population"], n_counted // 4)
    if not paired:
        n_pop = g.cfg["decoys"]["population"]
        n_counted += n_pop
    planned: list[_Planned] = []

    def vaf() -> float:
        return max(som["min_vaf"], purity / 2 * float(rng.uniform(*som["cancer_cell_fraction"])))

    # counted variants: walk the subject's pool so specimens of one subject share their clonal variants
    types = list(som["types"])
    type_p = np.array([som["types"][t] for t in types], dtype=float)
    taken = 0
    for p in subject_pool.tolist():
        if taken == n_counted:
            break
        if not good[p] or not picker.free(p) or not good[p + 1]:
            continue
        vrng = np.random.default_rng([subject_seed, p])
        kind = str(vrng.choice(types, p=type_p / type_p.sum()))
        planned.append(_plan_counted(kind, p, seq, vrng, vaf(), som["nonsense_fraction"]))
        picker.take(p)
        taken += 1
    counted_idx = list(range(len(planned)))
    for i in counted_idx[:n_pop]:
        planned[i].designs[0] = "population"
        if rng.random() < 0.5:
            planned[i].af_gnomad = f"{rng.uniform(0.002, 0.2):.4f}"
        else:
            planned[i].af_1000g = f"{rng.uniform(0.002, 0.2):.4f}"
    for i in counted_idx[n_pop:]:
        if rng.random() < 0.15:  # rare in the population, at or below the threshold: still counted
            planned[i].af_gnomad = str(rng.choice(["0.0001", "0.0005", "0.001"]))
    for i in counted_idx:
        planned[i].write_af = rng.random() > 0.15

    dec = g.cfg["decoys"]

    def snv(p: int, design: str, consequence: str, alt_reads=None, **kw) -> _Planned:
        ref = chr(seq[p])
        alt = chr(_random_base(rng, {seq[p]}))
        return _Planned("snv", p, ref, [alt], [design], [consequence], [alt_reads], vaf(), **kw)

    for p in picker.pick(good, dec["filter"], rng):
        planned.append(snv(p, "filter", "missense_variant",
                           filter=str(rng.choice(["germline", "weak_evidence", "strand_bias", "normal_artifact",
                                                  "clustered_events", "weak_evidence;strand_bias"]))))
    for p in picker.pick(ctx["low_depth"], dec["depth"], rng):
        planned.append(snv(p, "depth", "missense_variant"))
    for p in picker.pick(good, dec["alt_reads"], rng):
        planned.append(snv(p, "alt_reads", "missense_variant", alt_reads=int(rng.integers(1, 3))))
    for p in picker.pick(ctx["high_depth"], dec["vaf"], rng):
        planned.append(snv(p, "vaf", "missense_variant", alt_reads=3, write_af=bool(rng.random() < 0.5)))
    for p in picker.pick(ctx["padding"], dec["not_coding"], rng):
        planned.append(snv(p, "not_coding", "intron_variant"))
    for p in picker.pick(good, dec["synonymous"], rng):
        planned.append(snv(p, "synonymous", "synonymous_variant"))
    for p in picker.pick(ctx["normal_shallow"], dec["not_callable"], rng):
        planned.append(snv(p, "not_callable", "missense_variant"))

    # duplicates: repeats of counted records (exact, or an indel not left-aligned)
    counted_pass = [i for i in counted_idx if planned[i].designs[0] == "counted" and planned[i].kind != "multiallelic"]
    run_dels = [i for i in counted_pass if planned[i].kind == "deletion" and planned[i].unnormalised]
    sources = [counted_pass[j] for j in rng.permutation(len(counted_pass))] if counted_pass else []
    for k in range(dec["duplicate"] if counted_pass else 0):
        if k == 0 and run_dels:
            src = planned[run_dels[0]]
            p = src.gp + 1
            planned.append(_Planned("deletion", p, chr(seq[p]) + chr(seq[p + 1]), [chr(seq[p])], ["duplicate"],
                                    list(src.consequences), [None], src.vaf, duplicate_of=run_dels[0]))
        else:
            i = sources[k % len(sources)]  # distinct records while there are enough
            src = planned[i]
            planned.append(_Planned(src.kind, src.gp, src.ref, list(src.alts), ["duplicate"] * len(src.alts),
                                    list(src.consequences), list(src.alt_reads), src.vaf, duplicate_of=i))
    return planned


def _plan_counted(kind: str, p: int, seq: np.ndarray, vrng, vaf: float, nonsense: float) -> _Planned:
    ref = chr(seq[p])
    if kind == "snv":
        alt = chr(_random_base(vrng, {seq[p]}))
        csq = "stop_gained" if vrng.random() < nonsense else "missense_variant"
        return _Planned("snv", p, ref, [alt], ["counted"], [csq], [None], vaf)
    if kind == "mnv":
        alt = chr(_random_base(vrng, {seq[p]})) + chr(_random_base(vrng, {seq[p + 1]}))
        return _Planned("mnv", p, ref + chr(seq[p + 1]), [alt], ["counted"], ["missense_variant"], [None], vaf)
    if kind == "multiallelic":
        a1 = _random_base(vrng, {seq[p]})
        a2 = _random_base(vrng, {seq[p], a1})
        return _Planned("multiallelic", p, ref, [chr(a1), chr(a2)], ["counted", "alt_reads"],
                        ["missense_variant", "missense_variant"], [None, int(vrng.integers(1, 3))], vaf)
    if kind == "deletion":
        # a deletion of one base of a short run also has a right-shifted spelling (a duplicate decoy)
        if seq[p + 1] == seq[p + 2] and seq[p] != seq[p + 1]:
            plan = _Planned("deletion", p, ref + chr(seq[p + 1]), [ref], ["counted"], ["frameshift_variant"], [None], vaf)
            plan.unnormalised = True  # marks "has a right-shifted equivalent"
            return plan
        n = int(vrng.integers(1, 5))
        deleted = seq[p + 1:p + 1 + n].tobytes().decode()
        while deleted[-1] == ref or seq[p + 1 + n] == seq[p + 1]:
            n += 1
            deleted = seq[p + 1:p + 1 + n].tobytes().decode()
            if n > 8:
                return _plan_counted("snv", p, seq, vrng, vaf, nonsense)
        csq = "inframe_deletion" if n % 3 == 0 else "frameshift_variant"
        return _Planned("deletion", p, ref + deleted, [ref], ["counted"], [csq], [None], vaf)
    # insertion: inserted bases whose last base differs from the anchor and first differs from the next base
    n = int(vrng.integers(1, 4))
    while True:
        ins = "".join(chr(_random_base(vrng, set())) for _ in range(n))
        if ins[-1] != ref and ins[0] != chr(seq[p + 1]):
            break
    csq = "inframe_insertion" if n % 3 == 0 else "frameshift_variant"
    return _Planned("insertion", p, ref, [ref + ins], ["counted"], [csq], [None], vaf)


def _realise(g: _Genome, layout: Layout, normal: Layout | None, planned: list[_Planned], rng,
             annotator: _Annotator, callable_p: np.ndarray, callable_t: np.ndarray) -> list[Record]:
    """Put the planned alleles into the tumour reads and read the VCF values back from them."""
    anchor = g.cfg["reads"]["anchor"]
    carriers: dict[int, list[set[int]]] = {}
    # indels first: they change alignments, hence the depth the SNVs are drawn against
    for i, pl in enumerate(planned):
        if pl.duplicate_of is not None or pl.kind not in ("deletion", "insertion"):
            continue
        reads = counted_reads_at(layout, pl.gp)
        L = layout.read_len
        delta = len(pl.alts[0]) - len(pl.ref)
        # the read must show the indel with `anchor` bases on both sides (see apply_indel)
        span_ok = [(r, q) for r, q in reads if q + 1 >= anchor and L - q - delta - len(pl.ref) >= anchor]
        k = _carrier_count(pl, 0, len(reads))
        chosen = rng.permutation(len(span_ok))[:k]
        frags = {int(layout.frag[span_ok[j][0]]) for j in chosen.tolist()}
        apply_indel(layout, g.seq, pl.gp, pl.ref.encode(), pl.alts[0].encode(), frags, anchor)
        carriers[i] = [frags]
    for i, pl in enumerate(planned):
        if pl.duplicate_of is not None or pl.kind in ("deletion", "insertion"):
            continue
        reads = counted_reads_at(layout, pl.gp)
        order = rng.permutation(len(reads)).tolist()
        sets = []
        for a, alt in enumerate(pl.alts):
            k = _carrier_count(pl, a, len(reads))
            frags = {int(layout.frag[reads[j][0]]) for j in order[:k]}
            order = order[k:]
            _apply_snv_to_fragments(layout, pl.gp, alt.encode(), frags)
            sets.append(frags)
        carriers[i] = sets

    records: list[Record] = []
    for i, pl in enumerate(planned):
        src = pl.duplicate_of if pl.duplicate_of is not None else i
        chrom, pos0 = g.locate(pl.gp)
        contig_seq = g.ref.seqs[g.ref.names.index(chrom)]
        t_reads = counted_reads_at(layout, planned[src].gp)
        n_reads = counted_reads_at(normal, planned[src].gp) if normal is not None else []
        alleles = []
        for a, alt in enumerate(pl.alts):
            t_alt = _alt_support(layout, t_reads, planned[src], a)
            n_alt = _alt_support(normal, n_reads, planned[src], a) if normal is not None else 0
            vep_allele = _vep_allele(pl.ref, alt)
            csq = annotator.entries(pl.gp, vep_allele, pl.consequences[a], rng, ref=pl.ref, alt=alt,
                                    af_1000g=planned[src].af_1000g, af_gnomad=planned[src].af_gnomad)
            alleles.append(Allele(alt=alt, csq=csq, tumour_alt=t_alt, normal_alt=n_alt,
                                  af_1000g=planned[src].af_1000g, af_gnomad=planned[src].af_gnomad,
                                  design=pl.designs[a]))
        anchor_gp = planned[src].gp
        rec = Record(contig=chrom, pos=pos0 + 1, ref=pl.ref, alleles=alleles, filter=pl.filter,
                     tumour_dp=len(t_reads), normal_dp=len(n_reads),
                     write_af=planned[src].write_af if pl.duplicate_of is not None else pl.write_af,
                     callable_paired=bool(callable_p[anchor_gp]), callable_tumor_only=bool(callable_t[anchor_gp]))
        rec.normalised = [normalise(contig_seq, pos0, pl.ref, alt) for alt in pl.alts]
        records.append(rec)
    order = sorted(range(len(records)), key=lambda j: (g.ref.names.index(records[j].contig), records[j].pos,
                                                        planned[j].duplicate_of is not None))
    return [records[j] for j in order]


def _carrier_count(pl: _Planned, a: int, depth_at: int) -> int:
    if pl.alt_reads[a] is not None:
        return int(pl.alt_reads[a])
    if pl.designs[a] == "depth":
        return max(3, int(math.ceil(0.3 * depth_at)))
    return max(3, int(round(pl.vaf * depth_at)))


def _alt_support(layout: Layout, reads: list[tuple[int, int]], pl: _Planned, a: int) -> int:
    alt = pl.alts[a]
    if pl.kind in ("deletion", "insertion"):
        return sum(1 for r, _ in reads if r in layout.indel)
    n = 0
    for r, q in reads:
        if q + len(alt) <= layout.read_len and layout.seq[r, q:q + len(alt)].tobytes().decode() == alt:
            n += 1
    return n


def _vep_allele(ref: str, alt: str) -> str:
    if len(ref) == len(alt):
        return alt
    if len(alt) < len(ref):
        return "-"
    return alt[1:]


# --------------------------------------------------------------------------- the stage

def _tmb_target_count(tmb: float, callable_mb: float, cutoff: float) -> int:
    n = int(round(tmb * callable_mb))
    if tmb >= cutoff and n < cutoff * callable_mb:
        n = int(math.ceil(cutoff * callable_mb))
    if tmb < cutoff and n >= cutoff * callable_mb:
        n = int(math.ceil(cutoff * callable_mb)) - 1
    return max(n, 0)


@dataclass
class _Stage:
    """What every specimen of the stage shares: the trial, the genome, the model, and the truth rows so far."""

    trial: SimulatedTrial
    g: _Genome
    cfg: dict
    annotator: _Annotator
    normal_layouts: dict[str, tuple[Layout, np.ndarray]] = field(default_factory=dict)
    tmb_rows: list[dict] = field(default_factory=list)
    variant_rows: list[dict] = field(default_factory=list)
    msi_rows: list[dict] = field(default_factory=list)
    site_rows: list[dict] = field(default_factory=list)

    def take_rows(self) -> dict[str, list[dict]]:
        """The samplesheet and truth rows written since the last call (a task's result); the lists emptied."""
        lists = {"samplesheet": self.trial.samplesheet_rows, "tmb": self.tmb_rows, "variants": self.variant_rows,
                 "msi": self.msi_rows, "sites": self.site_rows}
        out = {name: list(rows) for name, rows in lists.items()}
        for rows in lists.values():
            rows.clear()
        return out

    def sequencing_errors(self, layout: Layout, rng) -> None:
        errors = self.cfg["reads"]["sequencing_error"]
        apply_sequencing_errors(layout, errors["max_quality"], errors["rate"], rng)

    def read_depth(self, layout: Layout) -> np.ndarray:
        return depth(layout, self.g.length, self.cfg["callable"]["min_base_quality"])


@dataclass
class _Subject:
    """A subject's draws shared by all of their specimens (from the subject's own random stream)."""

    usubjid: str
    tmb_target: float
    msi_h: bool
    seed: int  # seeds the design of every tumour's variants
    germline: list[tuple[int, int]]
    germline_mask: np.ndarray  # bases next to a germline SNP
    normal_factor: np.ndarray  # capture efficiency of the normal (the shared one with the normal's own low stretches)
    unstable: dict[int, tuple[int, float]]  # MSI-H: microsatellite -> (shift units, tumour allele fraction)
    pool: np.ndarray  # coding positions, in the subject's order, for counted variants


def _unstable_sites(g: _Genome, mcfg: dict, rng) -> dict[int, tuple[int, float]]:
    """The microsatellites an MSI-H tumour has shifted: site -> (units, allele fraction before purity)."""
    frac = float(rng.uniform(*mcfg["unstable_fraction"]))
    n_sites = len(g.ref.microsatellites)
    chosen = np.sort(rng.choice(n_sites, size=int(round(frac * n_sites)), replace=False))
    shift_values = [int(k) for k in mcfg["shift_units"]]
    shift_p = np.array([mcfg["shift_units"][k] for k in mcfg["shift_units"]], dtype=float)
    unstable = {}
    for i in chosen.tolist():
        units = int(rng.choice(shift_values, p=shift_p / shift_p.sum()))
        if g.ref.microsatellites[i].repeats + units < 3:
            units = -1
        unstable[i] = (units, float(rng.choice(mcfg["tumour_allele_fraction"])))
    return unstable


def _draw_subject(stage: _Stage, usubjid: str, subj: pd.Series) -> _Subject:
    g, cfg = stage.g, stage.cfg
    srng = stage_rng(stage.trial.seed, f"genome:{usubjid}")
    subject_seed = int(srng.integers(2**62))
    germline = _germline_snps(g, srng)
    normal_factor = g.shared_factor.copy()
    for s, e, f in _stretches(cfg["reads"]["low_coverage"]["normal_only"], g.exon_starts, g.exon_ends, g.near_ms, srng):
        normal_factor[s:e] = f
    germline_mask = np.zeros(g.length, dtype=bool)
    for p, _ in germline:
        germline_mask[max(0, p - 2):p + 3] = True
    msi_h = subj["MSI_STATUS"] == "MSI-H"
    unstable = _unstable_sites(g, cfg["msi_h"], srng) if msi_h else {}
    pool = srng.permutation(np.flatnonzero(g.coding & ~g.near_ms))
    return _Subject(usubjid, float(subj["TMB_TARGET"]), msi_h, subject_seed, germline, germline_mask, normal_factor, unstable, pool)


def _simulate_normal(stage: _Stage, subject: _Subject, row) -> None:
    """The germline BAM of one wes_normal row (kept in memory for the subject's tumours)."""
    g, cfg = stage.g, stage.cfg
    nrng = stage_rng(stage.trial.seed, f"genome:{row.SPECIMEN_ID}")
    layout = _make_layout(g, cfg["reads"]["depth"]["normal"], subject.normal_factor, nrng)
    _microsatellite_alleles(g, layout, nrng)
    _apply_germline(layout, subject.germline, nrng)
    stage.sequencing_errors(layout, nrng)
    ndepth = stage.read_depth(layout)
    rel = _write_specimen_bam(stage.trial, g, layout, "bam", row.SPECIMEN_ID)
    stage.normal_layouts[row.SPECIMEN_ID] = (layout, ndepth)
    stage.trial.samplesheet_rows.append(_sheet_row(row, "wes_normal", rel, None))


@dataclass
class _Tumour:
    """One simulated tumour: its reads, its somatic records and the truth they imply."""

    layout: Layout
    records: list[Record]
    callable_p: np.ndarray  # callable territory after every read change (paired rule; tumour alone without a normal)
    callable_t: np.ndarray  # callable territory of the tumour alone
    purity: float
    shifts: dict[int, tuple[int, float]]  # MSI-H: microsatellite -> (units, shifted read fraction)


def _sequence_tumour(stage: _Stage, subject: _Subject, specimen: str, normal_id: str | None) -> _Tumour:
    """Reads of the tumour with microsatellite shifts, germline SNPs and the somatic variants of its TMB target."""
    g, cfg = stage.g, stage.cfg
    trng = stage_rng(stage.trial.seed, f"genome:{specimen}")
    purity = float(trng.uniform(*(cfg["msi_h"]["purity"] if subject.msi_h else cfg["mss_purity"])))
    normal_layout, ndepth = stage.normal_layouts[normal_id] if normal_id else (None, None)
    layout = _make_layout(g, cfg["reads"]["depth"]["tumour"], g.shared_factor, trng)
    shifts = {i: (u, purity * f) for i, (u, f) in subject.unstable.items()}
    _microsatellite_alleles(g, layout, trng, shifts)
    _apply_germline(layout, subject.germline, trng)
    ctx = _contexts(g, stage.read_depth(layout), ndepth, subject.germline_mask, cfg)
    callable_mb = ctx["callable_p"].sum() / 1e6
    n_counted = _tmb_target_count(subject.tmb_target, callable_mb, cfg["somatic"]["tmb_high_cutoff"])
    planned = _design(g, ctx, n_counted, subject.pool, subject.seed, purity, trng, paired=normal_id is not None)
    records = _realise(g, layout, normal_layout, planned, trng, stage.annotator, ctx["callable_p"], ctx["callable_t"])
    stage.sequencing_errors(layout, trng)
    # final depth (indels changed alignments): the truth's callable territory
    final = _contexts(g, stage.read_depth(layout), ndepth, subject.germline_mask, cfg)
    for rec in records:
        gp = g.offsets[g.ref.names.index(rec.contig)] + rec.pos - 1
        rec.callable_paired = bool(final["callable_p"][gp])
        rec.callable_tumor_only = bool(final["callable_t"][gp])
    return _Tumour(layout, records, final["callable_p"], final["callable_t"], purity, shifts)


def _write_tumour(stage: _Stage, subject: _Subject, row, normal_id: str | None, tumour: _Tumour) -> None:
    """The tumour's BAM, somatic VCF, samplesheet rows, callable BED and TMB/MSI truth rows."""
    trial, g = stage.trial, stage.g
    rel = _write_specimen_bam(trial, g, tumour.layout, "bam", row.SPECIMEN_ID)
    vcf_rel = f"vcf/{row.SPECIMEN_ID}.vcf.gz"
    (trial.outdir / "vcf").mkdir(parents=True, exist_ok=True)
    write_vcf(trial.outdir / vcf_rel, tumour.records, contigs=list(zip(g.ref.names, g.ref.lengths)), tumour=row.SPECIMEN_ID,
              normal=normal_id, reference="reference/genome.fa")
    trial.samplesheet_rows.append(_sheet_row(row, "wes_tumor", rel, normal_id))
    trial.samplesheet_rows.append(_sheet_row(row, "vcf_somatic", vcf_rel, normal_id))
    _tmb_truth(row, tumour.records, stage.cfg["counting"], int(tumour.callable_p.sum()), int(tumour.callable_t.sum()),
               normal_id is not None, stage.tmb_rows, stage.variant_rows)
    _write_callable_bed(trial, g, row.SPECIMEN_ID, tumour.callable_p)
    stage.msi_rows.append({N.USUBJID: subject.usubjid, N.SPECIMEN_ID: row.SPECIMEN_ID, N.TIMEPOINT: row.TIMEPOINT,
                           "STATUS": "MSI-H" if subject.msi_h else "MSS", "PURITY": round(tumour.purity, 4),
                           "UNSTABLE_FRACTION": round(len(subject.unstable) / len(g.ref.microsatellites), 4)})
    for i, m in enumerate(g.ref.microsatellites):
        units, fraction = tumour.shifts.get(i, (0, 0.0))
        stage.site_rows.append({N.SPECIMEN_ID: row.SPECIMEN_ID, "CHROM": g.ref.names[m.contig], "START": m.start,
                                "END": m.end, "UNIT": m.unit, "REF_REPEATS": m.repeats, "SHIFT_UNITS": units,
                                "UNSTABLE": i in subject.unstable, "SHIFTED_READ_FRACTION": round(fraction, 4)})


def _simulate_subject(stage: _Stage, usubjid: str, subj: pd.Series, normals: pd.DataFrame, tumours: pd.DataFrame) -> None:
    """Every normal, then every tumour of one subject; the normals' reads are freed at the end."""
    subject = _draw_subject(stage, usubjid, subj)
    for row in normals.itertuples(index=False):
        _simulate_normal(stage, subject, row)
    for row in tumours.itertuples(index=False):
        normal_id = row.NORMAL_SPECIMEN_ID if isinstance(row.NORMAL_SPECIMEN_ID, str) and row.NORMAL_SPECIMEN_ID else None
        if normal_id is not None and normal_id not in stage.normal_layouts:
            raise ValueError(f"tumour {row.SPECIMEN_ID}: normal specimen {normal_id} has no wes_normal row in trial.assay_plan")
        _write_tumour(stage, subject, row, normal_id, _sequence_tumour(stage, subject, row.SPECIMEN_ID, normal_id))
    for row in normals.itertuples(index=False):
        stage.normal_layouts.pop(row.SPECIMEN_ID, None)  # a subject's reads are done with: free them


def _simulate_pon(stage: _Stage, k: int) -> None:
    """pon/PON<k>.bam: an unrelated normal with its own germline SNPs."""
    g, cfg = stage.g, stage.cfg
    prng = stage_rng(stage.trial.seed, f"genome:PON{k}")
    layout = _make_layout(g, cfg["reads"]["depth"]["panel_of_normals"], g.shared_factor, prng)
    _microsatellite_alleles(g, layout, prng)
    _apply_germline(layout, _germline_snps(g, prng), prng)
    stage.sequencing_errors(layout, prng)
    _write_specimen_bam(stage.trial, g, layout, "pon", f"PON{k}")


# The stage as a worker process holds it: the genome and the model arrive once per worker
# (map_in_order's initializer), not once per task.
_WORKER: _Stage | None = None


def _start_worker(outdir: str, seed: int, g: _Genome, cfg: dict) -> None:
    global _WORKER
    _WORKER = _Stage(SimulatedTrial(outdir=Path(outdir), seed=seed, n_subjects=0), g, cfg, _Annotator(g))


def _task(bams: int, subject: tuple | None = None, pon: int | None = None) -> dict:
    """One subject's BAMs and VCFs (``subject``: the arguments of _simulate_subject) or one
    panel-of-normals BAM; returns the rows they add to the samplesheet and the truth."""
    if subject is not None:
        _simulate_subject(_WORKER, *subject)
    else:
        _simulate_pon(_WORKER, pon)
    return {"bams": bams, **_WORKER.take_rows()}


def _sequencing_plan(plan: pd.DataFrame | None) -> pd.DataFrame:
    if plan is None or plan.empty or N.ASSAY not in plan.columns:
        raise ValueError("the genome stage needs trial.assay_plan (wes_tumor/wes_normal rows from the custody stage); it is empty")
    plan = plan[plan[N.ASSAY].isin(["wes_tumor", "wes_normal"])].copy()
    if plan.empty:
        raise ValueError("trial.assay_plan has no wes_tumor or wes_normal rows")
    return plan


def simulate_genome(trial: SimulatedTrial, protocol: Protocol, rng: np.random.Generator, *, model: dict | None = None) -> None:
    """Write the sequencing files and their truth for every wes_tumor/wes_normal row of ``trial.assay_plan``.

    ``model`` replaces the ``genome`` section of ``assets/simulation.yaml`` (tests use a smaller one).
    The reference comes from ``rng``; each subject and each specimen has its own random
    stream (``genome:<USUBJID>``, ``genome:<SPECIMEN_ID>``), so one specimen's draws do
    not depend on the others.
    """
    plan = _sequencing_plan(trial.assay_plan)
    cfg = model or load_model()["genome"]
    g = _prepare(cfg, rng)
    ref_paths = g.ref.write(trial.outdir / "reference")
    subjects = trial.subjects.set_index(N.USUBJID)
    tumours = plan[plan[N.ASSAY] == "wes_tumor"].sort_values([N.USUBJID, N.SPECIMEN_ID])
    normals = plan[plan[N.ASSAY] == "wes_normal"].sort_values([N.USUBJID, N.SPECIMEN_ID])
    tasks = []
    for usubjid in sorted(set(plan[N.USUBJID])):
        if usubjid not in subjects.index:
            raise ValueError(f"assay_plan names subject {usubjid}, which is not in trial.subjects")
        mine = normals[normals[N.USUBJID] == usubjid], tumours[tumours[N.USUBJID] == usubjid]
        tasks.append({"bams": len(mine[0]) + len(mine[1]), "subject": (usubjid, subjects.loc[usubjid], *mine)})
    tasks += [{"bams": 1, "pon": k} for k in range(1, cfg["panel_of_normals"] + 1)]
    n_bams = sum(task["bams"] for task in tasks)
    stage = _Stage(trial, g, cfg, _Annotator(g))
    with Progress("simulate genome: BAM files", n_bams, logger=log) as progress:
        # each task draws from its own streams and writes its own files; its rows are
        # added in task order, so the files are the same for any number of workers
        results = map_in_order(_task, tasks, workers=trial.cpus, initializer=_start_worker,
                               initargs=(str(trial.outdir), trial.seed, g, cfg),
                               on_done=lambda i, done, result: progress.update(result["bams"]))
    for result in results:
        trial.samplesheet_rows += result["samplesheet"]
        for name, rows in (("tmb", stage.tmb_rows), ("variants", stage.variant_rows), ("msi", stage.msi_rows),
                           ("sites", stage.site_rows)):
            rows += result[name]
    _write_truth(trial, g, cfg, stage.tmb_rows, stage.variant_rows, stage.msi_rows, stage.site_rows)
    trial.params.update({**ref_paths, "pon": "pon/PON*.bam"})
    log.info("simulate genome: %d BAM files, %d VCF files", n_bams, len(tumours))


def _contexts(g: _Genome, tdepth: np.ndarray, ndepth: np.ndarray | None, germline_mask: np.ndarray, cfg: dict) -> dict:
    min_depth = cfg["callable"]["min_depth"]
    callable_t = g.target & (tdepth >= min_depth)
    callable_p = callable_t & (ndepth >= min_depth) if ndepth is not None else callable_t
    nd = ndepth if ndepth is not None else np.full(g.length, 10**6)
    interior = g.interior & ~germline_mask
    som = cfg["somatic"]
    good = interior & callable_p & (tdepth >= som["min_depth"]) & (nd >= min_depth + 5)
    return {
        "callable_p": callable_p, "callable_t": callable_t, "good": good,
        "low_depth": interior & (tdepth >= 10) & (tdepth <= 22),
        "high_depth": good & (tdepth >= 70),
        "padding": g.padding & ~germline_mask & callable_p & (tdepth >= som["min_depth"]),
        "normal_shallow": interior & (tdepth >= som["min_depth"]) & (nd < min_depth - 4) & g.target,
    }


def _sheet_row(row, assay: str, rel: str, normal_id: str | None) -> dict:
    out = {N.SS_SUBJECT: row.USUBJID, N.SS_SPECIMEN: row.SPECIMEN_ID, N.SS_TIMEPOINT: row.TIMEPOINT,
           N.SS_SPECIMEN_TYPE: row.SPECIMEN_TYPE, N.SS_ASSAY: assay, N.SS_FILE: rel,
           N.SS_INDEX: rel + (".bai" if rel.endswith(".bam") else ".tbi"), "sample_name": row.SPECIMEN_ID}
    if normal_id:
        out[N.SS_NORMAL] = normal_id
    return out


def _write_callable_bed(trial: SimulatedTrial, g: _Genome, specimen: str, mask: np.ndarray) -> None:
    """truth/callable/<SPECIMEN_ID>.bed: the callable territory (paired rule; tumour alone without a normal)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    lines = []
    for start, end in zip(edges[0::2].tolist(), edges[1::2].tolist()):
        # intervals never cross contigs: targets do not
        chrom, pos = g.locate(start)
        lines.append(f"{chrom}\t{pos}\t{pos + end - start}\n")
    path = trial.truth_dir / "callable" / f"{specimen}.bed"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))


def _tmb_truth(row, records: list[Record], counting: dict, callable_p: int, callable_t: int, paired: bool,
               tmb_rows: list, variant_rows: list) -> None:
    fates = evaluate(records, counting, tumor_only=not paired)
    fates_to = evaluate(records, counting, tumor_only=True)
    n_counted = sum(1 for *_, f in fates if not f)
    n_counted_to = sum(1 for *_, f in fates_to if not f)
    out = {N.USUBJID: row.USUBJID, N.SPECIMEN_ID: row.SPECIMEN_ID, N.TIMEPOINT: row.TIMEPOINT,
           "CALLABLE_BASES": callable_p, "N_COUNTED": n_counted,
           "TMB": round(n_counted / (callable_p / 1e6), 6) if callable_p else float("nan")}
    for name in FILTERS:
        out[f"N_{name}"] = sum(1 for *_, f in fates if f == name)
    out.update({"MODE": "paired" if paired else "tumor_only", "N_VARIANTS": len(fates),
                "CALLABLE_BASES_TUMOR_ONLY": callable_t, "N_COUNTED_TUMOR_ONLY": n_counted_to,
                "TMB_TUMOR_ONLY": round(n_counted_to / (callable_t / 1e6), 6) if callable_t else float("nan")})
    tmb_rows.append(out)
    for (rec, allele, fate), (_, _, fate_to) in zip(fates, fates_to):
        pos, ref, alt = rec.normalised[rec.alleles.index(allele)]
        variant_rows.append({N.SPECIMEN_ID: row.SPECIMEN_ID, "CHROM": rec.contig, "POS": pos, "REF": ref, "ALT": alt,
                             "COUNTED": not fate, "FIRST_FAILED_FILTER": fate,
                             "COUNTED_TUMOR_ONLY": not fate_to, "FIRST_FAILED_FILTER_TUMOR_ONLY": fate_to,
                             "VCF_POS": rec.pos, "DESIGN": allele.design})


def _write_truth(trial: SimulatedTrial, g: _Genome, cfg: dict, tmb_rows, variant_rows, msi_rows, site_rows) -> None:
    truth = trial.truth_dir
    truth.mkdir(parents=True, exist_ok=True)
    tables = {
        "tmb": pd.DataFrame(tmb_rows),
        "tmb_variants": pd.DataFrame(variant_rows, columns=[N.SPECIMEN_ID, "CHROM", "POS", "REF", "ALT", "COUNTED",
                                                            "FIRST_FAILED_FILTER", "COUNTED_TUMOR_ONLY",
                                                            "FIRST_FAILED_FILTER_TUMOR_ONLY", "VCF_POS", "DESIGN"]),
        "msi": pd.DataFrame(msi_rows),
        "msi_sites": pd.DataFrame(site_rows),
    }
    for name, frame in tables.items():
        frame.to_csv(truth / f"{name}.csv", index=False)
        trial.truth[name] = frame
    model = {
        "read_length": cfg["reads"]["read_length"],
        "depth": cfg["reads"]["depth"],
        "stutter_rate": cfg["stutter"]["rate"],
        "stutter_deletion_fraction": cfg["stutter"]["deletion_fraction"],
        "callable": {**cfg["callable"], "rule": "tumour depth >= min_depth and normal depth >= min_depth (paired); "
                     "flags 0xF04 excluded; overlapping mates counted once (samtools depth -s)"},
        "counting": cfg["counting"],
        "filters": FILTERS,
        "microsatellites": len(g.ref.microsatellites),
        "merged_target_bases": int(g.target.sum()),
        "coding_bases": int(g.coding.sum()),
    }
    (truth / "genome_model.json").write_text(json.dumps(model, indent=2, sort_keys=True) + "\n")
