#!/usr/bin/env python3
"""Speed of the simulator's genome stage, and of its BAM writer against samtools.

    PYTHONPATH=src python benchmarks/bench_simulate_genome.py [--subjects 54]

1. One tumour BAM (~80x over ~0.22 Mb of targets): the numpy/libdeflate writer with its
   own BAI index, against ``samtools view -1 --write-index`` re-encoding the same
   records (same compression level, index included), run in the same shell.
2. The whole genome stage for a trial of ``--subjects`` subjects (every subject with
   germline and BASELINE tumour DNA, every other one with a SURGERY tumour, 8 panel-of-
   normals BAMs), CPU seconds and peak memory.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from biomarkers.protocol import load_protocol
from biomarkers.simulate import SimulatedTrial, stage_rng
from biomarkers.simulate import _genome as G
from biomarkers.simulate._trial import load_model, simulate_subjects


def _best_of(n: int, run) -> float:
    """Fastest of ``n`` wall-clock runs (the machine may be shared)."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times)


def one_bam(tmp: Path) -> None:
    cfg = load_model()["genome"]
    rng = np.random.default_rng(1)
    g = G._prepare(cfg, rng)
    layout = G._make_layout(g, cfg["reads"]["depth"]["tumour"], g.shared_factor, rng)
    G._microsatellite_alleles(g, layout, rng)

    class _Trial:
        outdir = tmp

    ours = _best_of(3, lambda: G._write_specimen_bam(_Trial, g, layout, "bam", "BENCH-T1"))
    bam = tmp / "bam/BENCH-T1.bam"
    samtools = shutil.which("samtools")
    print(f"one tumour BAM: {layout.n:,} records, {bam.stat().st_size / 1e6:.1f} MB")
    print(f"  biomarkers writer (encode + BGZF level 1 + BAI), best of 3: {ours:.2f} s")
    if samtools:
        peer = _best_of(3, lambda: subprocess.run(
            [samtools, "view", "-1", "--write-index", "-o", f"{tmp}/re.bam##idx##{tmp}/re.bam.bai", str(bam)], check=True))
        print(f"  samtools view -1 --write-index (decode + re-encode + index), best of 3: {peer:.2f} s")
        print(f"  ratio biomarkers / samtools: {ours / peer:.2f}")
    else:
        print("  samtools not installed: no peer figure")


def whole_stage(tmp: Path, n_subjects: int) -> None:
    protocol = load_protocol()
    trial = SimulatedTrial(outdir=tmp / "trial", seed=1, n_subjects=n_subjects)
    simulate_subjects(trial, protocol, stage_rng(1, "trial"))
    rows = []
    for i, subj in enumerate(trial.subjects.itertuples(index=False)):
        normal = f"BENCH{i:03d}-GL"
        rows.append({"USUBJID": subj.USUBJID, "SPECIMEN_ID": normal, "TIMEPOINT": "BASELINE", "SPECIMEN_TYPE": "DNA",
                     "ASSAY": "wes_normal", "NORMAL_SPECIMEN_ID": None})
        for tp, suffix in (("BASELINE", "BX"), ("SURGERY", "SX"))[: 1 + (i % 2 == 0)]:
            rows.append({"USUBJID": subj.USUBJID, "SPECIMEN_ID": f"BENCH{i:03d}-{suffix}", "TIMEPOINT": tp,
                         "SPECIMEN_TYPE": "DNA", "ASSAY": "wes_tumor", "NORMAL_SPECIMEN_ID": normal})
    trial.assay_plan = pd.DataFrame(rows)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    G.simulate_genome(trial, protocol, stage_rng(1, "genome"))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    n_bams = len(list((tmp / "trial").rglob("*.bam")))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"genome stage, {n_subjects} subjects: {n_bams} BAM files, {len(rows) - n_subjects} VCF files")
    print(f"  CPU {cpu:.1f} s ({cpu / n_bams:.2f} s per BAM), wall {wall:.1f} s, peak RSS {peak:.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=54)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one_bam(Path(tmp))
        whole_stage(Path(tmp), args.subjects)
    return 0


if __name__ == "__main__":
    sys.exit(main())
