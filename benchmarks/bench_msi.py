#!/usr/bin/env python3
"""MSI speed and memory per command line, process start included, against issue #14's targets.

Three measurements, each command in its own child process (as a Nextflow task runs
it), which reports its CPU time (``resource.getrusage``) and peak resident set size
(``VmHWM``), so the generators' memory is not counted; rates are per CPU-second (the
machine is shared):

1. a paired call on ~1,000 sites at 40x (target: < 1.5 CPU-s and < 120 MB);
2. 20,000 sites at 100x (``--sites``, ``--depth``): ``msi scan``, paired ``msi call``
   (target: >= 3,000 sites per CPU-second), ``msi baseline`` of 2 normals and a
   tumour-only call;
3. ``msi scan`` of simulated chromosome-sized sequences (``--genome-mb``, random
   bases with a microsatellite every 400 bases), extrapolated to 3.1 Gb; peak memory
   at each size shows whether it depends on the genome's size (target: minutes for a
   3 Gb genome, memory independent of its size).

The reads are generated (seeded) with PCR stutter on every read, the tumour MSI-H
with a third of its sites shifted by two units in 30 % of fragments.

    python benchmarks/bench_msi.py [--sites 20000] [--depth 100] [--genome-mb 25 100] [--keep DIR]

About 10 minutes at the defaults on a quiet 2-core machine (generating 6 M reads
takes about half of it); ``--sites 2000 --genome-mb 5 20`` is a smoke run.

MSIsensor-pro is not installable here (no binary in Debian or PyPI, and nothing else
is reachable): issue #14 recorded its figures on its own simulation, which
docs/benchmarks.md quotes beside these.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
UNITS = ["A", "T", "C", "G", "AC", "CA", "TG", "AG", "CAG", "AAAG", "TTTTG"]


def background(rng, n):
    """Random bases without homopolymers of 2 or tandem repeats of 2-5 base units, so only designed sites are microsatellites."""
    draws = rng.integers(0, 4, size=2 * n + 16).tolist()
    out: list[str] = []
    for d in draws:
        if len(out) == n:
            break
        b = "ACGT"[d]
        if out and out[-1] == b:
            continue
        tail = "".join(out[-9:]) + b
        if any(len(tail) >= 2 * k and tail[-k:] == tail[-2 * k:-k] for k in (2, 3, 4, 5)):
            continue
        out.append(b)
    while len(out) < n:  # rare: ran out of draws
        out.append(next(b for b in "ACGT" if b != out[-1] and not ("".join(out[-3:]) + b)[-2:] == "".join(out[-3:])[-4:-2]))
    return "".join(out)


def generate(outdir: Path, n_sites: int, depth: int, seed: int = 7) -> dict:
    """Reference with ``n_sites`` microsatellites and three BAMs (normal, MSI-H tumour, second normal) at ``depth``."""
    rng = np.random.default_rng(seed)
    spacing, read_len = 300, 100
    seq_parts, sites = [], []
    pos = 0
    pool = [background(rng, spacing) for _ in range(400)]  # clean spacers, reused: generation stays fast
    for i in range(n_sites):
        unit = UNITS[i % len(UNITS)]
        repeats = (8 + i % 12) if len(unit) == 1 else (4 + i % 6)
        # the spacer must not extend the tract on either side
        prev_first = sites[-1][2][0] if sites else ""
        while True:
            spacer = pool[int(rng.integers(len(pool)))][:spacing - len(unit) * repeats]
            if spacer[-1] != unit[-1] and spacer[0] != prev_first:
                break
        seq_parts.append(spacer)
        pos += len(spacer)
        sites.append((pos, pos + len(unit) * repeats, unit))
        seq_parts.append(unit * repeats)
        pos += len(unit) * repeats
    seq_parts.append(background(rng, 400))
    seq = "".join(seq_parts)
    fasta = outdir / "genome.fa"
    fasta.write_text(">chr1\n" + "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60)) + "\n")
    subprocess.run(["samtools", "faidx", str(fasta)], check=True)
    bams = {}
    shifted = set(range(0, n_sites, 3))
    for sample in ("normal", "tumour", "pon1"):
        lines = [f"@HD\tVN:1.6\tSO:unsorted\n@SQ\tSN:chr1\tLN:{len(seq)}\n@RG\tID:1\tSM:{sample}\n"]
        for s_i, (start, end, unit) in enumerate(sites):
            k, ref_len = len(unit), end - start
            stutter = rng.random(depth)
            lengths = np.full(depth, ref_len)
            lengths[stutter < 0.06] -= k
            lengths[(stutter >= 0.06) & (stutter < 0.08)] += k
            if sample == "tumour" and s_i in shifted:
                lengths[rng.random(depth) < 0.3] -= 2 * k  # MSI-H: 30 % of fragments (purity 60 %, one allele) lose 2 units
            lefts = rng.integers(10, read_len - ref_len - 12, size=depth)
            for j in range(depth):
                length, left = int(lengths[j]), int(lefts[j])
                right = read_len - left - length
                tract = (unit * (length // k + 1))[:length]
                query = seq[start - left:start] + tract + seq[end:end + right]
                d = length - ref_len
                cigar = f"{left}M{d}I{read_len - left - d}M" if d > 0 else (f"{left}M{-d}D{read_len - left}M" if d < 0 else f"{read_len}M")
                lines.append(f"{sample}{s_i}_{j}\t0\tchr1\t{start - left + 1}\t60\t{cigar}\t*\t0\t0\t{query}\t*\tRG:Z:1\n")
        sam = outdir / f"{sample}.sam"
        sam.write_text("".join(lines))
        bam = outdir / f"{sample}.bam"
        subprocess.run(["samtools", "sort", "-o", str(bam), str(sam)], check=True, capture_output=True)
        subprocess.run(["samtools", "index", str(bam)], check=True)
        sam.unlink()
        bams[sample] = bam
    return {"fasta": fasta, **bams, "n_sites": n_sites, "bases": len(seq)}


# Runs one `biomarkers` command in this child and reports its own peak RSS and CPU time.
_WRAPPER = """
import json, resource, sys
from biomarkers.cli import main
code = main(sys.argv[2:])
use = resource.getrusage(resource.RUSAGE_SELF)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked parent's footprint
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
open(sys.argv[1], "w").write(json.dumps({"code": code, "maxrss_kb": hwm, "cpu": use.ru_utime + use.ru_stime}))
"""


def timed(args: list[str], *, loop: str = "compiled") -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of one ``biomarkers`` command, including interpreter start.

    ``loop="python"`` runs the caller's Python read loop instead of the compiled one (the peer in this process).
    """
    import json

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "BIOMARKERS_MSI_KERNEL": loop}
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", _WRAPPER, report.name, "--log-level", "WARNING", *args], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        usage = json.loads(Path(report.name).read_text())
    if usage["code"]:
        raise SystemExit(f"biomarkers {' '.join(args[:2])} failed")
    return seconds, usage["cpu"], usage["maxrss_kb"] / 1024


def genome(path: Path, megabases: int, seed: int = 11) -> int:
    """A chromosome-sized FASTA: random bases (41 % GC) with a microsatellite every 400 bases; returns its length."""
    rng = np.random.default_rng(seed)
    n = megabases * 1_000_000
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.choice(4, size=n, p=[0.295, 0.205, 0.205, 0.295])]
    for offset in range(200, n - 100, 400):
        unit = UNITS[(offset // 400) % len(UNITS)]
        tract = (unit * 20)[:(8 + offset % 12) if len(unit) == 1 else len(unit) * (4 + offset % 6)]
        bases[offset:offset + len(tract)] = np.frombuffer(tract.encode(), dtype=np.uint8)
    text = bases.tobytes()
    with open(path, "wb") as out:
        out.write(b">chrS\n")
        for i in range(0, n, 6_000_000):  # 60-base lines, written in large blocks
            block = text[i:i + 6_000_000]
            out.write(b"\n".join(block[j:j + 60] for j in range(0, len(block), 60)) + b"\n")
    subprocess.run(["samtools", "faidx", str(path)], check=True)
    return n


def small_paired(work: Path) -> tuple:
    """Target 1: a paired call on 1,000 sites at 40x, with the compiled and the Python read loop."""
    small = work / "small"
    small.mkdir(exist_ok=True)
    data = generate(small, 1_000, 40, seed=8)
    sites = small / "sites.tsv.gz"
    timed(["msi", "scan", "--fasta", str(data["fasta"]), "--output", str(sites)])
    rows = []
    for loop in ("compiled", "python"):
        s, cpu, mem = timed(["msi", "call", "--sites", str(sites), "--fasta", str(data["fasta"]), "--tumor-bam",
                             str(data["tumour"]), "--normal-bam", str(data["normal"]), "--subject", "NCT07007182-01-001",
                             "--specimen", f"T-SMALL-{loop.upper()}", "--timepoint", "BASELINE", "--outdir",
                             str(small / "parts")], loop=loop)
        rows.append((f"msi call, paired, 1,000 sites at 40x ({loop} loop)", s, cpu, mem, "target < 1.5 CPU-s, < 120 MB"))
    return rows


def genome_scans(work: Path, sizes: list[int]) -> list[tuple]:
    """Target 3: scans of chromosome-sized sequences, extrapolated to 3.1 Gb."""
    rows = []
    for mb in sizes:
        fasta = work / f"genome{mb}.fa"
        genome(fasta, mb)
        s, cpu, mem = timed(["msi", "scan", "--fasta", str(fasta), "--output", str(work / f"genome{mb}.sites.tsv.gz")])
        rows.append((f"msi scan, {mb} Mb sequence", s, cpu, mem,
                     f"{mb / cpu:.2f} Mb per CPU-second: 3.1 Gb in {3100 / (mb / cpu) / 60:.0f} CPU-minutes"))
        fasta.unlink()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=20_000)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--genome-mb", type=int, nargs="*", default=[25, 100], help="sizes of the simulated sequences scanned")
    parser.add_argument("--keep", help="keep the generated data in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_msi.") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        first = small_paired(work)
        first += genome_scans(work, args.genome_mb)
        t0 = time.perf_counter()
        data = generate(work, args.sites, args.depth)
        print(f"generated {data['n_sites']:,} microsatellites on {data['bases'] / 1e6:.1f} Mb, 3 BAMs at {args.depth}x "
              f"in {time.perf_counter() - t0:.0f}s", flush=True)
        sites = work / "sites.tsv.gz"
        rows = []
        s, cpu, mem = timed(["msi", "scan", "--fasta", str(data["fasta"]), "--output", str(sites)])
        rows.append((f"msi scan ({data['bases'] / 1e6:.1f} Mb)", s, cpu, mem, f"{data['bases'] / 1e6 / cpu:.2f} Mb per CPU-second"))
        common = ["--sites", str(sites), "--fasta", str(data["fasta"]), "--tumor-bam", str(data["tumour"]),
                  "--subject", "NCT07007182-01-001", "--timepoint", "BASELINE", "--outdir", str(work / "parts")]
        s, cpu, mem = timed(["msi", "call", *common, "--specimen", "T-PAIRED", "--normal-bam", str(data["normal"])])
        rows.append(("msi call (paired: 2 BAMs)", s, cpu, mem, f"{data['n_sites'] / cpu:,.0f} sites per CPU-second"))
        s, cpu, mem = timed(["msi", "baseline", "--sites", str(sites), "--fasta", str(data["fasta"]), "--output",
                             str(work / "baseline.tsv.gz"), str(data["normal"]), str(data["pon1"])])
        rows.append(("msi baseline (2 normals)", s, cpu, mem, f"{2 * data['n_sites'] / cpu:,.0f} site-samples per CPU-second"))
        s, cpu, mem = timed(["msi", "call", *common, "--specimen", "T-TONLY", "--baseline", str(work / "baseline.tsv.gz")])
        rows.append(("msi call (tumour-only)", s, cpu, mem, f"{data['n_sites'] / cpu:,.0f} sites per CPU-second"))
        # the peer: the same calls with the Python read loop (the compiled one's reference)
        for label, extra in (("paired", ["--normal-bam", str(data["normal"])]),
                             ("tumour-only", ["--baseline", str(work / "baseline.tsv.gz")])):
            compiled_cpu = next(r[2] for r in rows if label in r[0])
            s, cpu, mem = timed(["msi", "call", *common, "--specimen", f"T-PY-{label.upper()}", *extra], loop="python")
            rows.append((f"  same, Python read loop ({label})", s, cpu, mem,
                         f"{data['n_sites'] / cpu:,.0f} sites per CPU-second; compiled/Python CPU {compiled_cpu / cpu:.2f}"))
        import pandas as pd

        calls = pd.concat([pd.read_parquet(p) for p in sorted((work / "parts").glob("*.msi.parquet"))])
        print(f"\n{'command':<40} {'wall s':>7} {'CPU s':>7} {'peak MB':>8}  rate")
        for name, sec, cpu, peak, rate in first + rows:
            print(f"{name:<40} {sec:7.1f} {cpu:7.2f} {peak:8.0f}  {rate}")
        print("\nresults: " + "; ".join(f"{r.SPECIMEN_ID} {r.MSI_STATUS} score {r.MSI_SCORE:.1f}% "
                                         f"({r.SCORE_UNSTABLE:,}/{r.SCORE_SITES:,} scored sites; "
                                         f"{r.SITES_UNSTABLE:,}/{r.SITES_EVALUATED:,} of all)" for r in calls.itertuples()))
        print(f"truth: MSI-H, {len(range(0, args.sites, 3)):,} shifted sites ({100 / 3:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
