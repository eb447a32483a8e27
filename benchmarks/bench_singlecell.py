#!/usr/bin/env python3
"""Single-cell step speed and memory against a plain scanpy script doing the same operations.

Simulates one specimen (default 20,000 cells x 20,000 genes, tumour composition,
with doublets and damaged cells; the simulator of the trial, seeded), writes it as a
10x ``filtered_feature_bc_matrix.h5``, then times, each in its own child process:

- ours: ``biomarkers.singlecell.annotate_specimen`` + ``write_h5ad`` (read, QC, Scrublet,
  normalize, HVG, PCA, neighbours, Leiden, UMAP, marker annotation, composition, write);
- peer: a plain scanpy script with the same operations and parameters (``sc.read_10x_h5``,
  ``calculate_qc_metrics`` and the same filters, ``sc.pp.scrublet`` (exact neighbours, as
  ours: its approximate path fails with pynndescent 0.7), ``filter_genes``,
  counts layer, ``normalize_total``, ``log1p``, ``highly_variable_genes``, ``pca``,
  ``neighbors`` (exact, ``transformer="sklearn"``, as ours: the default above 8,192 cells
  fails the same way), ``leiden``, ``umap``, ``score_genes`` per marker set with cluster means,
  ``write_h5ad``).

Each child reports wall time, CPU time (``resource.getrusage``) and peak resident set
size (``VmHWM``); the generator's memory is not counted. Runs alternate (ours, peer)
``--repeats`` times; the ratios are ours / peer from the same run.

    python benchmarks/bench_singlecell.py [--cells 20000] [--genes 20000] [--repeats 1] [--keep DIR]

Targets (issue 10): wall time within 1.3x of the peer, peak memory not above 1.5x.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD_PREAMBLE = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
"""

CHILD_FOOTER = r"""
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "peak_mb": hwm / 1024, "cells": CELLS}))
"""

OURS = r"""
from biomarkers.singlecell import annotate_specimen, write_h5ad
res = annotate_specimen(sys.argv[1], compartment="tumor", subject="BENCH-001", specimen="BENCH-0001", studyid="BENCH")
write_h5ad(res, sys.argv[2])
CELLS = int(res.adata.n_obs)
"""

PEER = r"""
import numpy as np, pandas as pd, scanpy as sc
from biomarkers.singlecell import load_markers, load_settings
s = load_settings(); q = s.qc["tumor"]; p = s.processing; d = s.doublets
panel = load_markers()["tumor"]
adata = sc.read_10x_h5(sys.argv[1])
adata.var_names_make_unique()
adata.var["mt"] = adata.var_names.str.startswith("MT-")
sc.pp.calculate_qc_metrics(adata, qc_vars=["mt"], percent_top=None, log1p=False, inplace=True)
keep = ((adata.obs.n_genes_by_counts >= q.min_genes) & (adata.obs.n_genes_by_counts <= q.max_genes)
        & (adata.obs.total_counts >= q.min_counts) & (adata.obs.pct_counts_mt <= 100 * q.max_mito_fraction))
adata = adata[keep.to_numpy()].copy()
sc.pp.scrublet(adata, expected_doublet_rate=d.expected_doublet_rate, sim_doublet_ratio=d.sim_doublet_ratio,
               n_prin_comps=d.n_prin_comps, use_approx_neighbors=False, random_state=p.seed, verbose=False)
adata = adata[~adata.obs["predicted_doublet"].to_numpy()].copy()
sc.pp.filter_genes(adata, min_cells=p.min_cells_per_gene)
adata.layers["counts"] = adata.X.copy()
sc.pp.normalize_total(adata, target_sum=p.target_sum)
sc.pp.log1p(adata)
sc.pp.highly_variable_genes(adata, n_top_genes=p.n_top_genes, flavor="seurat")
sc.pp.pca(adata, n_comps=p.n_pcs, mask_var="highly_variable", svd_solver="arpack", random_state=p.seed)
sc.pp.neighbors(adata, n_neighbors=p.n_neighbors, n_pcs=p.n_pcs, transformer="sklearn", random_state=p.seed)
sc.tl.leiden(adata, resolution=p.leiden_resolution, flavor="igraph", n_iterations=p.leiden_iterations, directed=False,
             random_state=p.seed)
sc.tl.umap(adata, min_dist=p.umap_min_dist, random_state=p.seed)
for ct in panel.cell_types:
    genes = [g for g in ct.positive if g in adata.var_names]
    if len(genes) >= 3:
        sc.tl.score_genes(adata, genes, score_name=f"score_{ct.id}", random_state=p.seed)
scores = adata.obs[[c for c in adata.obs if c.startswith("score_")]]
best = scores.groupby(adata.obs["leiden"], observed=True).mean().idxmax(axis=1)
adata.obs["cell_type"] = adata.obs["leiden"].map(best).astype("category")
adata.write_h5ad(sys.argv[2], compression="gzip")
CELLS = int(adata.n_obs)
"""


def generate(path: Path, n_cells: int, n_genes: int, seed: int) -> float:
    import numpy as np

    sys.path.insert(0, str(ROOT / "src"))
    from biomarkers.simulate._singlecell import gene_space, load_singlecell_model, simulate_counts, write_10x_h5
    from biomarkers.singlecell import load_markers

    t = time.perf_counter()
    rng = np.random.default_rng(seed)
    model = load_singlecell_model()
    space = gene_space(load_markers(), model, rng, n_genes=n_genes)
    fractions = model["composition"]["tumor"]
    X, truth = simulate_counts(space, fractions, n_cells, compartment="tumor", model=model, rng=rng,
                               exhausted_fraction=model["exhausted_fraction"]["tumor"])
    write_10x_h5(path, X, truth["barcode"].to_numpy(), space.gene_ids, space.symbols)
    print(f"generated {n_cells:,} cells x {n_genes:,} genes, {X.nnz:,} non-zero counts in {time.perf_counter() - t:.0f} s")
    return time.perf_counter() - t


def run_child(code: str, matrix: Path, out: Path) -> dict:
    script = CHILD_PREAMBLE + code + CHILD_FOOTER
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", script, str(matrix), str(out)], capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"child failed ({proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=20000)
    ap.add_argument("--genes", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--keep", type=Path, help="keep the generated matrix and outputs in this folder")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        matrix = folder / "filtered_feature_bc_matrix.h5"
        if not matrix.exists():
            generate(matrix, args.cells, args.genes, args.seed)
        print(f"load: {os.getloadavg()[0]:.2f} (1-min average) on {os.cpu_count()} cores")
        results: dict[str, list[dict]] = {"ours": [], "peer": []}
        for i in range(args.repeats):
            for name, code in (("ours", OURS), ("peer", PEER)):
                r = run_child(code, matrix, folder / f"{name}.h5ad")
                results[name].append(r)
                print(f"run {i + 1} {name:4s}: wall {r['wall']:6.1f} s  cpu {r['cpu']:6.1f} s  peak {r['peak_mb']:7.0f} MB  "
                      f"cells kept {r['cells']:,}", flush=True)
        best = {k: min(v, key=lambda r: r["wall"]) for k, v in results.items()}
        peak = {k: max(r["peak_mb"] for r in v) for k, v in results.items()}
        wall_ratio = best["ours"]["wall"] / best["peer"]["wall"]
        cpu_ratio = best["ours"]["cpu"] / best["peer"]["cpu"]
        mem_ratio = peak["ours"] / peak["peer"]
        print(f"ratio ours/peer: wall {wall_ratio:.2f}x (target <= 1.3), cpu {cpu_ratio:.2f}x, "
              f"peak memory {mem_ratio:.2f}x (target <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
