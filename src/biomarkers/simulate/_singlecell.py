"""Stage of the simulated trial: single-cell RNA count matrices of blood and tumour specimens.

The PBMC and fresh-frozen tumour specimens that the custody stage sent to single-cell
sequencing (``assay_plan`` of ``assets/simulation.yaml``: assays ``scrna_pbmc`` and
``scrna_tumor``, a few subjects of both arms) get a 10x Cell Ranger 3
``filtered_feature_bc_matrix.h5``.
Each cell type's expression programme is its marker set in
``assets/singlecell/markers.yaml`` (positive genes ``marker_fold`` times their
background) plus type-specific changes of a few background genes; counts are
negative binomial around a log-normal library size, with mitochondrial genes, a
known fraction of damaged cells (few counts, high mitochondrial fraction) and of
doublets (the sum of two cells' counts). Exhausted CD8 T cells carry the exhaustion
programme on top of CD8 T.

A specimen's composition is drawn around the expected fractions shifted (as log
ratios) by the subject's latent ``IMMUNE_SCORE`` (trial truth; a standard-normal
stand-in drawn here when the trial stage did not record one) and by being on
treatment; the exhausted fraction of CD8 T cells rises with ``IMMUNE_SCORE``. The
model is written to ``truth/singlecell/model.json``.

Outputs: ``scrna/<SPECIMEN_ID>/filtered_feature_bc_matrix.h5``; samplesheet rows
(assays ``scrna_pbmc``, ``scrna_tumor``); ``truth/singlecell/cells/<SPECIMEN_ID>.csv.gz``
(barcode, cell type, state, doublet, damaged) and ``truth/singlecell/compositions.csv``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .. import names as N
from ..assets import asset_path, load_yaml, validate
from ..protocol import Protocol
from ..singlecell import MarkerPanel, load_markers
from ._container import SimulatedTrial

__all__ = ["simulate_singlecell", "load_singlecell_model", "GeneSpace", "gene_space", "simulate_counts", "write_10x_h5",
           "ASSAY_OF", "DOUBLET", "MITO_GENES"]

ASSAY_OF = {"pbmc": "scrna_pbmc", "tumor": "scrna_tumor"}
DOUBLET = "DOUBLET"
MITO_GENES = ("MT-ND1", "MT-ND2", "MT-CO1", "MT-CO2", "MT-ATP8", "MT-ATP6", "MT-CO3", "MT-ND3", "MT-ND4L", "MT-ND4",
              "MT-ND5", "MT-ND6", "MT-CYB")
CHUNK = 2000  # cells drawn at once (bounds the dense working set)


def load_singlecell_model(path: str | Path | None = None) -> dict:
    file = Path(path) if path else asset_path("singlecell/simulation.yaml")
    model = load_yaml(file)
    validate(model, "singlecell/simulation.schema.json", file=file)
    return model


@dataclass(frozen=True)
class GeneSpace:
    """The simulated genes and the expression programme of every cell type and state."""

    symbols: np.ndarray
    gene_ids: np.ndarray
    is_mito: np.ndarray
    programmes: dict[str, np.ndarray]  # type or state id -> relative expression of non-mitochondrial genes (sums to 1)
    mito: np.ndarray                   # relative expression among mitochondrial genes (sums to 1)


def gene_space(panels: dict[str, MarkerPanel], model: dict, rng: np.random.Generator, *, n_genes: int | None = None) -> GeneSpace:
    n_genes = n_genes or model["n_genes"]
    markers = sorted({g for p in panels.values() for item in (*p.cell_types, *p.states)
                      for g in (*item.positive, *getattr(item, "negative", ()))})
    n_background = n_genes - len(markers) - len(MITO_GENES)
    if n_background < 100:
        raise ValueError(f"n_genes={n_genes} leaves too few background genes")
    symbols = np.array(markers + list(MITO_GENES) + [f"SIMG{i:05d}" for i in range(1, n_background + 1)], dtype=object)
    gene_ids = np.array([f"ENSGSIM{i:08d}" for i in range(1, len(symbols) + 1)], dtype=object)
    is_mito = np.zeros(len(symbols), dtype=bool)
    is_mito[len(markers):len(markers) + len(MITO_GENES)] = True
    background = np.flatnonzero(~is_mito)[len(markers):]
    index = {g: i for i, g in enumerate(symbols)}

    base = np.zeros(len(symbols))
    base[background] = rng.lognormal(0.0, 1.2, size=len(background))
    median = float(np.median(base[background]))
    base[:len(markers)] = 0.05 * median  # markers are near silent outside their types
    lo, hi = model["marker_fold"]
    programmes: dict[str, np.ndarray] = {}
    for comp in ("pbmc", "tumor"):
        for ct in panels[comp].cell_types:
            if ct.id in programmes:
                continue
            w = base.copy()
            for g in ct.positive:
                w[index[g]] = median * rng.uniform(lo, hi)
            picked = rng.choice(background, size=int(model["program_genes"] * len(background)), replace=False)
            w[picked] *= np.exp(rng.normal(0.0, 1.0, size=len(picked)))
            programmes[ct.id] = w
        for st in panels[comp].states:
            if st.id in programmes:
                continue
            w = programmes[st.parent].copy()
            for g in st.positive:
                w[index[g]] = max(w[index[g]], median * rng.uniform(lo, hi))
            programmes[st.id] = w
    programmes = {k: v / v.sum() for k, v in programmes.items()}
    mito = np.where(is_mito, rng.uniform(0.5, 2.0, size=len(symbols)), 0.0)
    return GeneSpace(symbols=symbols, gene_ids=gene_ids, is_mito=is_mito, programmes=programmes, mito=mito / mito.sum())


def simulate_counts(space: GeneSpace, fractions: dict[str, float], n_cells: int, *, compartment: str, model: dict,
                    rng: np.random.Generator, exhausted_fraction: float = 0.0,
                    exhausted: tuple[str, str] = ("CD8_T", "CD8_T_EXHAUSTED")) -> tuple[sp.csr_matrix, pd.DataFrame]:
    """Counts (cells x genes, CSR int32) of ``n_cells`` droplets and their per-droplet truth."""
    types = np.array(list(fractions), dtype=object)
    p = np.array([fractions[t] for t in types], dtype=float)
    p /= p.sum()
    first = rng.choice(len(types), size=n_cells, p=p)
    partner = rng.choice(len(types), size=n_cells, p=p)
    doublet = rng.random(n_cells) < model["doublet_fraction"]
    damaged = ~doublet & (rng.random(n_cells) < model["low_quality_fraction"])
    parent, state_id = exhausted
    state = np.where((types[first] == parent) & (rng.random(n_cells) < exhausted_fraction), state_id, "")
    partner_state = np.where((types[partner] == parent) & (rng.random(n_cells) < exhausted_fraction), state_id, "")
    median, sdlog = model["library_size"][compartment]
    lib = rng.lognormal(np.log(median), sdlog, size=(n_cells, 2))
    mito_mean = model["mito_fraction"][compartment]
    mito = rng.beta(20 * mito_mean, 20 * (1 - mito_mean), size=(n_cells, 2))
    lib[damaged, 0] *= 0.2
    mito[damaged, 0] = rng.uniform(0.3, 0.6, size=int(damaged.sum()))
    theta = model["dispersion"]
    keys = {k: i for i, k in enumerate(space.programmes)}
    P = np.vstack(list(space.programmes.values()))
    prog_first = np.array([keys[s] if s else keys[t] for t, s in zip(types[first], state)])
    prog_partner = np.array([keys[s] if s else keys[t] for t, s in zip(types[partner], partner_state)])
    blocks = []
    for start in range(0, n_cells, CHUNK):
        sl = slice(start, min(n_cells, start + CHUNK))
        mu = (lib[sl, 0] * (1 - mito[sl, 0]))[:, None] * P[prog_first[sl]] + (lib[sl, 0] * mito[sl, 0])[:, None] * space.mito
        d = doublet[sl]
        if d.any():
            rows = np.flatnonzero(d)
            mu[rows] += ((lib[sl, 1][rows] * (1 - mito[sl, 1][rows]))[:, None] * P[prog_partner[sl][rows]]
                         + (lib[sl, 1][rows] * mito[sl, 1][rows])[:, None] * space.mito)
        counts = rng.poisson(mu * rng.gamma(theta, 1.0 / theta, size=mu.shape))
        blocks.append(sp.csr_matrix(counts.astype(np.int32)))
    X = sp.vstack(blocks, format="csr")
    barcodes = _barcodes(n_cells, rng)
    truth = pd.DataFrame({
        "barcode": barcodes, "cell_type": np.where(doublet, DOUBLET, types[first]), "state": np.where(doublet, "", state),
        "first_type": types[first], "partner_type": np.where(doublet, types[partner], ""), "doublet": doublet,
        "damaged": damaged, "n_counts": np.asarray(X.sum(axis=1)).ravel(),
    })
    return X, truth


def _barcodes(n: int, rng: np.random.Generator) -> np.ndarray:
    letters = np.array(list("ACGT"))
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        for code in ("".join(r) for r in letters[rng.integers(0, 4, size=(n, 16))]):
            if code not in seen and len(out) < n:
                seen.add(code)
                out.append(f"{code}-1")
    return np.array(out, dtype=object)


def write_10x_h5(path: str | Path, X: sp.csr_matrix, barcodes: np.ndarray, gene_ids: np.ndarray, symbols: np.ndarray,
                 *, genome: str = "GRCh38-sim") -> Path:
    """Write cells x genes counts as a Cell Ranger 3 ``filtered_feature_bc_matrix.h5``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    X = sp.csr_matrix(X)
    n_cells, n_genes = X.shape
    with h5py.File(path, "w") as h5:
        m = h5.create_group("matrix")
        # cells x genes CSR is the genes x cells CSC that Cell Ranger stores
        m.create_dataset("data", data=X.data.astype(np.int32), compression="gzip", compression_opts=4)
        m.create_dataset("indices", data=X.indices.astype(np.int64), compression="gzip", compression_opts=4)
        m.create_dataset("indptr", data=X.indptr.astype(np.int64))
        m.create_dataset("shape", data=np.array([n_genes, n_cells], dtype=np.int32))
        m.create_dataset("barcodes", data=np.array(barcodes, dtype="S"))
        f = m.create_group("features")
        f.create_dataset("id", data=np.array(gene_ids, dtype="S"))
        f.create_dataset("name", data=np.array(symbols, dtype="S"))
        f.create_dataset("feature_type", data=np.array([b"Gene Expression"] * n_genes))
        f.create_dataset("genome", data=np.array([genome.encode()] * n_genes))
        f.create_dataset("_all_tag_keys", data=np.array([b"genome"]))
    return path


# --- the stage ------------------------------------------------------------------

def _expected(model: dict, compartment: str, immune: float, on_treatment: bool) -> dict[str, float]:
    base = model["composition"][compartment]
    shift_i = model["effects"]["immune_score"][compartment]
    shift_t = model["effects"]["on_treatment"][compartment]
    logw = {t: np.log(w) + shift_i.get(t, 0.0) * immune + shift_t.get(t, 0.0) * on_treatment for t, w in base.items()}
    total = sum(np.exp(v) for v in logw.values())
    return {t: float(np.exp(v) / total) for t, v in logw.items()}


def _exhausted(model: dict, compartment: str, immune: float) -> float:
    base = model["exhausted_fraction"][compartment]
    logit = np.log(base / (1 - base)) + model["effects"]["exhausted_logit_immune_score"] * immune
    return float(1 / (1 + np.exp(-logit)))


def _chosen_specimens(trial: SimulatedTrial) -> pd.DataFrame:
    """The custody stage's single-cell specimens (``assay_plan`` rows of the scRNA assays), with compartment and arm."""
    plan = trial.assay_plan
    compartment_of = {assay: compartment for compartment, assay in ASSAY_OF.items()}
    out = plan[plan[N.ASSAY].isin(list(compartment_of))].copy() if len(plan) else pd.DataFrame(columns=[N.ASSAY])
    out["COMPARTMENT"] = out[N.ASSAY].map(compartment_of)
    out[N.ARMCD] = out[N.USUBJID].map(trial.subjects.set_index(N.USUBJID)[N.ARMCD])
    return out.sort_values([N.USUBJID, N.SPECIMEN_ID]).reset_index(drop=True)


def _immune_scores(trial: SimulatedTrial, rng: np.random.Generator) -> tuple[pd.Series, str]:
    subjects = trial.truth.get("subjects", trial.subjects)
    if "IMMUNE_SCORE" in subjects:
        return subjects.set_index(N.USUBJID)["IMMUNE_SCORE"].astype(float), "trial truth (IMMUNE_SCORE)"
    # Stand-in until the trial stage records the latent score: one standard-normal draw per subject.
    ids = sorted(subjects[N.USUBJID])
    return pd.Series(rng.standard_normal(len(ids)), index=ids), "stand-in drawn by the single-cell stage"


def simulate_singlecell(trial: SimulatedTrial, protocol: Protocol, rng: np.random.Generator, *,
                        model: dict | None = None) -> None:
    """Add single-cell specimens to ``trial`` (``model``: a validated model dict, by default the bundled one)."""
    model = model or load_singlecell_model()
    panels = load_markers()
    immune, immune_source = _immune_scores(trial, rng)
    space = gene_space(panels, model, rng)
    chosen = _chosen_specimens(trial)
    cells_dir = trial.truth_dir / "singlecell" / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    comp_rows = []
    for row in chosen.itertuples(index=False):
        compartment = row.COMPARTMENT
        score = float(immune[row.USUBJID])
        on_treatment = row.TIMEPOINT != "BASELINE"
        expected = _expected(model, compartment, score, on_treatment)
        alpha = np.array([expected[t] for t in expected]) * model["concentration"]
        drawn = dict(zip(expected, rng.dirichlet(alpha)))
        exhausted = _exhausted(model, compartment, score)
        n_cells = int(rng.integers(model["cells"][0], model["cells"][1] + 1))
        X, truth = simulate_counts(space, drawn, n_cells, compartment=compartment, model=model, rng=rng,
                                   exhausted_fraction=exhausted)
        rel = f"scrna/{row.SPECIMEN_ID}/filtered_feature_bc_matrix.h5"
        write_10x_h5(trial.outdir / rel, X, truth["barcode"].to_numpy(), space.gene_ids, space.symbols)
        # a fixed gzip header time keeps the file byte-identical for a seed
        truth.to_csv(cells_dir / f"{row.SPECIMEN_ID}.csv.gz", index=False, compression={"method": "gzip", "mtime": 0})
        singlets = truth[~truth["doublet"] & ~truth["damaged"]]
        counts = singlets["cell_type"].value_counts()
        n_cd8 = int(counts.get("CD8_T", 0))
        for cell_type in expected:
            comp_rows.append({
                N.USUBJID: row.USUBJID, N.SPECIMEN_ID: row.SPECIMEN_ID, N.TIMEPOINT: row.TIMEPOINT, N.ARMCD: row.ARMCD,
                "COMPARTMENT": compartment, "CELL_TYPE": cell_type, "EXPECTED_FRACTION": round(expected[cell_type], 6),
                "DRAWN_FRACTION": round(drawn[cell_type], 6), "CELLS": int(counts.get(cell_type, 0)),
                "FRACTION": round(int(counts.get(cell_type, 0)) / max(len(singlets), 1), 6),
                "EXHAUSTED_FRACTION_OF_CD8": (round(float((singlets["state"] == "CD8_T_EXHAUSTED").sum()) / n_cd8, 6)
                                              if cell_type == "CD8_T" and n_cd8 else None),
                "IMMUNE_SCORE": round(score, 6), "N_DROPLETS": n_cells, "N_DOUBLETS": int(truth["doublet"].sum()),
                "N_DAMAGED": int(truth["damaged"].sum()),
            })
        trial.samplesheet_rows.append({N.SS_SUBJECT: row.USUBJID, N.SS_SPECIMEN: row.SPECIMEN_ID,
                                       N.SS_TIMEPOINT: row.TIMEPOINT, N.SS_SPECIMEN_TYPE: row.SPECIMEN_TYPE,
                                       N.SS_ASSAY: ASSAY_OF[compartment], N.SS_FILE: rel})
    compositions = pd.DataFrame(comp_rows)
    compositions.to_csv(trial.truth_dir / "singlecell" / "compositions.csv", index=False)
    (trial.truth_dir / "singlecell" / "model.json").write_text(json.dumps({
        "immune_score_source": immune_source,
        "composition": model["composition"], "effects": model["effects"],
        "exhausted_fraction": model["exhausted_fraction"], "doublet_fraction": model["doublet_fraction"],
        "low_quality_fraction": model["low_quality_fraction"], "concentration": model["concentration"],
        "truth_fraction": "FRACTION in compositions.csv is among singlet, undamaged cells",
    }, indent=2, sort_keys=True) + "\n")
    trial.truth["singlecell_compositions"] = compositions
