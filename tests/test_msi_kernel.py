"""The compiled MSI read loop (genomics/msi/_kernel.pyx) counts exactly what the Python loop counts.

The Python loop (`_reads._count_region`) is the reference: the other MSI tests check its
lengths against simulated truth and real data. Here both loops read the same alignments,
made to hit every branch (indels placed inside, before and after the tract and in the
flanks, soft and hard clips, N bases, substitutions in the flanks, mates spanning the same
site, skipped flags, low MAPQ, reads ending inside a flank, the per-site read cap), as BAM
and CRAM, and a real tumour/normal pair; the per-site counts must be identical.
"""

from __future__ import annotations

import os

import numpy as np
import pysam
import pytest
from msi_helpers import design, write_bam, write_fasta

from biomarkers.genomics import msi
from biomarkers.genomics.msi import _reads

SPECS = [("A", 12), ("T", 9), ("AC", 10), ("CAG", 6), ("AAAG", 4), ("ACGTT", 3), ("G", 8), ("TG", 7)] * 4


def _counts(alignments_path, sites, fasta, *, kernel: str, max_reads: int = 1000):
    old = os.environ.get(_reads.KERNEL_ENV)
    os.environ[_reads.KERNEL_ENV] = kernel
    try:
        assert _reads.kernel_name() == kernel
        with pysam.AlignmentFile(str(alignments_path), reference_filename=str(fasta)) as alignments:
            return msi.count_lengths(alignments, sites, max_reads=max_reads)
    finally:
        if old is None:
            del os.environ[_reads.KERNEL_ENV]
        else:
            os.environ[_reads.KERNEL_ENV] = old


def _mutated_read(rng: np.random.Generator, seq: str, site: dict, name: str) -> dict:
    """One alignment near ``site``: the reference with an indel somewhere, clips, substitutions."""
    read_len = int(rng.integers(40, 130))
    pos = max(0, site["START"] - int(rng.integers(-10, read_len)))
    ref_bases = seq[pos:pos + read_len]
    query, cigar = [], []

    def add(op: int, n: int) -> None:
        if n <= 0:
            return
        if cigar and cigar[-1][0] == op:
            cigar[-1] = (op, cigar[-1][1] + n)
        else:
            cigar.append((op, n))

    if rng.random() < 0.1:
        add(5, int(rng.integers(1, 20)))  # hard clip: no bases
    if rng.random() < 0.25:
        clip = "".join(rng.choice(list("ACGT"), int(rng.integers(1, 12))))
        query.append(clip)
        add(4, len(clip))
    # one indel, most often in or next to the tract, sometimes in a flank or far away
    where = site["START"] + int(rng.integers(-12, site["END"] - site["START"] + 12)) - pos
    kind = rng.choice(["none", "ins", "del", "unit_ins", "unit_del"], p=[0.3, 0.15, 0.15, 0.2, 0.2])
    cut = min(max(where, 1), len(ref_bases) - 1)
    unit = site["UNIT"]
    if kind == "none" or len(ref_bases) < 2:
        query.append(ref_bases)
        add(0, len(ref_bases))
    else:
        query.append(ref_bases[:cut])
        add(0, cut)
        if kind in ("ins", "unit_ins"):
            extra = unit * int(rng.integers(1, 3)) if kind == "unit_ins" else "".join(rng.choice(list("ACGT"), int(rng.integers(1, 5))))
            query.append(extra)
            add(1, len(extra))
            query.append(ref_bases[cut:])
            add(0, len(ref_bases) - cut)
        else:
            gone = len(unit) * int(rng.integers(1, 3)) if kind == "unit_del" else int(rng.integers(1, 5))
            rest = ref_bases[cut + gone:]
            if rest:
                add(2, gone)
                query.append(rest)
                add(0, len(rest))
    if rng.random() < 0.2:
        clip = "".join(rng.choice(list("ACGT"), int(rng.integers(1, 10))))
        query.append(clip)
        add(4, len(clip))
    text = list("".join(query))
    for _ in range(rng.poisson(1.0)):  # sequencing errors and N calls, flanks included
        text[int(rng.integers(len(text)))] = str(rng.choice(list("ACGTN")))
    flag = int(rng.choice([0, 0, 1, 1, 1 | 0x10, 0x400, 0x100, 0x800, 0x200, 0x10]))
    mapq = int(rng.choice([60, 60, 60, 30, 10, 0]))
    return {"name": name, "chrom": site["CHROM"], "pos": pos, "seq": "".join(text), "cigar": cigar, "flag": flag,
            "mapq": mapq}


@pytest.fixture(scope="module")
def tricky(tmp_path_factory):
    rng = np.random.default_rng(7)
    seq, sites = design(rng, SPECS, spacing=300)
    d = tmp_path_factory.mktemp("msi_kernel")
    fasta = write_fasta(d / "ref.fa", {"chr1": seq})
    table = msi.scan_sites(fasta)
    reads = []
    for s, site in enumerate(sites):
        for i in range(int(rng.integers(20, 90))):
            read = _mutated_read(rng, seq, site, f"f{s}_{i}")
            reads.append(read)
            if read["flag"] & 1 and rng.random() < 0.6:  # its mate, often over the same site
                mate = _mutated_read(rng, seq, site, read["name"])
                mate["flag"] = 1 | 0x80 | (mate["flag"] & 0x10)
                reads.append(mate)
    bam = write_bam(d / "tricky.bam", {"chr1": len(seq)}, reads)
    cram = d / "tricky.cram"
    pysam.view("-C", "-T", str(fasta), "-o", str(cram), str(bam), catch_stdout=False)
    pysam.index(str(cram))
    return {"fasta": fasta, "sites": table, "bam": bam, "cram": cram, "reads": len(reads)}


def test_the_compiled_loop_is_built_for_the_installed_pysam():
    if os.environ.get("BIOMARKERS_REQUIRE_TOOLS") != "1":
        pytest.skip("BIOMARKERS_REQUIRE_TOOLS=1 requires the compiled MSI loop (CI builds it)")
    from biomarkers.genomics.msi import _kernel

    assert _kernel.BUILT_WITH_PYSAM == pysam.__version__
    assert _reads.kernel_name() == "compiled"


@pytest.mark.parametrize("kind", ["bam", "cram"])
def test_compiled_and_python_loops_count_the_same_on_every_branch(tricky, kind):
    python = _counts(tricky[kind], tricky["sites"], tricky["fasta"], kernel="python")
    compiled = _counts(tricky[kind], tricky["sites"], tricky["fasta"], kernel="compiled")
    assert compiled == python
    # the reads reach the sites in many shapes: most sites counted, lengths other than the reference's seen
    counted = [c for c in python if c]
    assert len(counted) >= 0.8 * len(SPECS)
    reference = dict(zip(tricky["sites"]["SITE_ID"], tricky["sites"]["END"] - tricky["sites"]["START"]))
    shifted = sum(n for c, ref_len in zip(python, reference.values()) for length, n in c.items() if length != ref_len)
    assert shifted > 50


def test_the_read_cap_and_mate_rules_are_the_same(tricky):
    python = _counts(tricky["bam"], tricky["sites"], tricky["fasta"], kernel="python", max_reads=5)
    compiled = _counts(tricky["bam"], tricky["sites"], tricky["fasta"], kernel="compiled", max_reads=5)
    assert compiled == python
    assert max(sum(c.values()) for c in python) <= 5


@pytest.mark.real_data
def test_compiled_and_python_loops_count_the_same_on_a_real_pair(real_data, tmp_path):
    bed = tmp_path / "hcc.bed"
    bed.write_text("8\t107652800\t107654200\n11\t94975000\t94988500\n")
    fasta = real_data("ref/grch37_COST16011_region.fa.gz")
    sites = msi.scan_sites(fasta, bed)
    for name in ("bam/hcc1954_tumor.COST16011_region.bam", "bam/hcc1954_normal.COST16011_region.bam"):
        path = real_data(name)
        python = _counts(path, sites, fasta, kernel="python")
        compiled = _counts(path, sites, fasta, kernel="compiled")
        assert compiled == python
        assert sum(map(len, python)) > 10
