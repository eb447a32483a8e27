#!/usr/bin/env python3
"""Signature scoring speed and memory: biomarkers.tme against a plain pandas/numpy computation.

Builds (seeded) a counts matrix of 60,000 genes x 1,000 samples (the shipped signature
genes under their Ensembl IDs, the rest synthetic) with gene lengths, then scores every
shipped signature twice per round, alternating the two implementations in the same
process: ``score_signatures`` on the AnnData, and the same scores written the way an
analyst would in plain pandas (normalise the whole frame, then select genes). Both run
with lengths (TPM) and without (CPM); their scores must agree to 1e-9. Reported: wall
and CPU seconds (best of the rounds) and the peak memory each allocates on top of the
matrix (tracemalloc, which sees numpy's buffers).

    python benchmarks/bench_tme.py [--genes 60000] [--samples 1000] [--rounds 3]

The matrix takes 480 MB (float64); each implementation adds its own temporaries.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from biomarkers.tme import load_gene_map, load_signatures, score_signatures  # noqa: E402


def make_matrix(n_genes: int, n_samples: int, seed: int = 11):
    import anndata as ad

    rng = np.random.default_rng(seed)
    gene_map = load_gene_map()
    ensembl = sorted(gene_map.by_ensembl)
    ids = ensembl + [f"SIMGENE{i:06d}" for i in range(n_genes - len(ensembl))]
    mean = np.exp(rng.normal(3.0, 2.0, n_genes))
    counts = np.empty((n_genes, n_samples))
    for start in range(0, n_samples, 100):  # in blocks: the Poisson draws need their own memory
        stop = min(start + 100, n_samples)
        counts[:, start:stop] = rng.poisson(mean[:, None] * rng.uniform(0.5, 2.0, stop - start)[None, :])
    lengths = np.maximum(300, np.round(np.exp(rng.normal(7.8, 0.6, n_genes))))
    samples = [f"S{i:04d}" for i in range(n_samples)]
    adata = ad.AnnData(X=counts.T, obs=pd.DataFrame(index=samples), var=pd.DataFrame(index=ids))
    adata.uns["expression"] = {"values": "counts", "file": "benchmark", "format": "memory"}
    frame = pd.DataFrame(counts, index=ids, columns=samples, copy=False)
    return adata, frame, pd.Series(lengths, index=ids), gene_map


def plain_pandas(frame: pd.DataFrame, lengths: pd.Series | None, signatures, symbol_of: dict[str, str]) -> pd.DataFrame:
    """The same scores as an analyst writes them: normalise everything, then pick genes."""
    if lengths is not None:
        rate = frame.div(lengths, axis=0)
        linear = rate.div(rate.sum(axis=0), axis=1) * 1e6
    else:
        linear = frame.div(frame.sum(axis=0), axis=1) * 1e6
    picked = linear.loc[[i for i in linear.index if i in symbol_of]]
    picked.index = [symbol_of[i] for i in picked.index]
    out = {}
    for sig in signatures:
        if sig.method == "geometric_mean":
            out[sig.id] = np.exp(np.log(picked.loc[list(sig.genes)] + sig.pseudocount).mean(axis=0))
            continue
        logged = np.log(picked.loc[list(sig.all_genes)] + sig.pseudocount) / np.log(sig.log_base)
        if sig.method == "mean":
            out[sig.id] = logged.loc[list(sig.genes)].mean(axis=0)
        else:
            centred = logged.loc[list(sig.genes)] - logged.loc[list(sig.housekeeping)].mean(axis=0)
            out[sig.id] = centred.mul(pd.Series(sig.weights, index=sig.genes), axis=0).sum(axis=0)
    return pd.DataFrame(out)


def measure(fn):
    tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, wall, cpu, peak


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=60_000)
    parser.add_argument("--samples", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    signatures = load_signatures()
    t0 = time.perf_counter()
    adata, frame, lengths, gene_map = make_matrix(args.genes, args.samples)
    symbol_of = gene_map.by_ensembl
    print(f"matrix: {args.genes:,} genes x {args.samples:,} samples ({frame.to_numpy().nbytes / 1e6:,.0f} MB), "
          f"{len(signatures)} signatures; built in {time.perf_counter() - t0:.1f} s; load {os.getloadavg()[0]:.2f}")
    status = 0
    for label, with_lengths in (("counts + lengths -> TPM", True), ("counts -> CPM", False)):
        if with_lengths:
            adata.var["length"] = lengths.to_numpy()
        elif "length" in adata.var:
            del adata.var["length"]
        best = {"ours": None, "pandas": None}
        for _ in range(args.rounds):
            ours, w1, c1, m1 = measure(lambda: score_signatures(adata, signatures, gene_map=gene_map))
            peer, w2, c2, m2 = measure(lambda: plain_pandas(frame, lengths if with_lengths else None, signatures, symbol_of))
            for key, figures in (("ours", (w1, c1, m1)), ("pandas", (w2, c2, m2))):
                if best[key] is None or figures[1] < best[key][1]:
                    best[key] = figures
        wide = ours.pivot(index="SAMPLE", columns="SIGNATURE", values="SCORE").loc[peer.index, peer.columns]
        agree = np.allclose(wide.to_numpy(), peer.to_numpy(), rtol=1e-9, atol=1e-9)
        status |= 0 if agree else 1
        (w1, c1, m1), (w2, c2, m2) = best["ours"], best["pandas"]
        print(f"\n{label} (best of {args.rounds}; scores agree: {agree})")
        print(f"  biomarkers.tme  {w1:6.2f} s wall  {c1:6.2f} s CPU  peak +{m1 / 1e6:7.1f} MB")
        print(f"  plain pandas    {w2:6.2f} s wall  {c2:6.2f} s CPU  peak +{m2 / 1e6:7.1f} MB")
        print(f"  ratio ours/pandas: {w1 / w2:.2f}x wall, {c1 / c2:.2f}x CPU, {m1 / m2:.2f}x memory")
    return status


if __name__ == "__main__":
    sys.exit(main())
