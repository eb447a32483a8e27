"""Stage "expression" of the simulated trial: bulk RNA-seq counts of tumour specimens.

The custody stage extracts RNA from each subject's fresh-frozen tumour (BASELINE biopsy,
SURGERY resection: ``assay_plan`` in ``assets/simulation.yaml``) and has it consumed by
RNA-seq at the sequencing lab; this stage writes what the sequencing gives back for
those RNA specimens (``trial.assay_plan`` rows of assay ``rnaseq_tumor``).

Each specimen has an immune-inflamed component ``IMMUNE_COMPONENT`` = the subject's
``IMMUNE_SCORE`` (trial stage; a standard-normal stand-in when the trial stage has none)
+ specimen noise. Immune genes follow it (log2 loadings drawn per gene, parameters in
``assets/simulation_tme.yaml``), the housekeeping and background genes do not; counts are
negative binomial around length x TPM, scaled to a library size. Outputs:
``rnaseq/counts.tsv.gz`` (genes x specimens, Ensembl IDs for the signature genes),
``rnaseq/gene_lengths.tsv``, ``truth/expression.csv`` (component per specimen) and
``truth/expression_model.json``; samplesheet rows (assay ``rnaseq_tumor``, the column as
``sample_name``).
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd

from .. import names as N
from ..assets import asset_path, load_config
from ..protocol import Protocol
from ._container import SimulatedTrial, stage_rng

__all__ = ["simulate_expression", "load_tme_model", "immune_scores", "root_specimens"]


def load_tme_model() -> dict:
    return load_config("simulation_tme.yaml", "simulation_tme.schema.json")


def immune_scores(trial: SimulatedTrial) -> tuple[pd.Series, str]:
    """Per-subject IMMUNE_SCORE from the trial stage, else a standard-normal stand-in (and which).

    The stand-in has its own random stream (not a stage's), so the expression and the
    pathology stages see the same latent score and tell one story.
    """
    subjects = trial.truth.get("subjects", trial.subjects)
    if "IMMUNE_SCORE" in subjects.columns:
        return pd.Series(subjects["IMMUNE_SCORE"].to_numpy(dtype=float), index=subjects[N.USUBJID].to_numpy()), "trial"
    rng = stage_rng(trial.seed, "immune-score-stand-in")
    return pd.Series(rng.standard_normal(len(subjects)), index=subjects[N.USUBJID].to_numpy()), "stand-in"


def root_specimens(trial: SimulatedTrial, wanted: dict[str, str]) -> pd.DataFrame:
    """Primary specimens of the wanted timepoint -> specimen type pairs (custody stage truth)."""
    specimens = pd.read_csv(trial.truth_dir / "custody_specimens.csv", dtype=str)
    keep = specimens[specimens[N.PARENT_SPECIMEN_ID].isna()
                     & np.array([wanted.get(tp) == st for tp, st in zip(specimens[N.TIMEPOINT], specimens[N.SPECIMEN_TYPE])], dtype=bool)]
    return keep.sort_values([N.USUBJID, N.SPECIMEN_ID]).reset_index(drop=True)


def _gene_table(model: dict, rng: np.random.Generator) -> pd.DataFrame:
    """Every simulated gene: ID, symbol, length, baseline log2 TPM, immune loading, cell-type group."""
    from ..tme import load_signatures

    cfg = model["expression"]
    signatures = {s.id: s for s in load_signatures()}
    gene_map = pd.read_csv(asset_path("signature_genes.tsv"), sep="\t", comment="#", dtype=str)
    housekeeping = set(signatures["GEP"].housekeeping)
    loose = {g: sid for sid in cfg["loosely_coupled"] for g in signatures[sid].genes}
    tight = {g for s in signatures.values() if s.id not in cfg["loosely_coupled"] for g in s.genes}
    rows = []
    for symbol, ensembl in zip(gene_map["symbol"], gene_map["ensembl_id"]):
        if symbol in housekeeping:
            group, base, loading = "housekeeping", cfg["baseline_log2_tpm"]["housekeeping"], 0.0
        elif symbol in cfg["tumour_intrinsic"]:
            group, base, loading = "tumour", cfg["baseline_log2_tpm"]["immune"], 0.0
        elif symbol in loose and symbol not in tight:
            group, base = loose[symbol], cfg["baseline_log2_tpm"]["immune"]
            loading = rng.uniform(*cfg["loadings"]["myeloid_b_cell"])
        else:
            group, base = "t_cell_inflamed", cfg["baseline_log2_tpm"]["immune"]
            loading = rng.uniform(*cfg["loadings"]["t_cell_inflamed"])
        if symbol in cfg["high_baseline"]:
            base = cfg["baseline_log2_tpm"]["hla"]
        rows.append({"gene_id": ensembl, "symbol": symbol, "group": group,
                     "baseline": rng.normal(*base), "loading": loading})
    n_bg = cfg["background_genes"]
    background = pd.DataFrame({"gene_id": [f"SIMGENE{i:05d}" for i in range(1, n_bg + 1)], "symbol": None,
                               "group": "background", "baseline": rng.normal(*cfg["baseline_log2_tpm"]["background"], size=n_bg),
                               "loading": 0.0})
    genes = pd.concat([pd.DataFrame(rows), background], ignore_index=True)
    length = cfg["gene_length"]
    genes["length"] = np.maximum(length["min"], np.round(np.exp(rng.normal(length["log_median"], length["log_sd"], len(genes)))))
    return genes


def simulate_expression(trial: SimulatedTrial, protocol: Protocol, rng: np.random.Generator) -> None:
    model = load_tme_model()
    cfg = model["expression"]
    genes = _gene_table(model, rng)
    scores, score_source = immune_scores(trial)
    plan = trial.assay_plan
    sources = plan[plan[N.ASSAY] == N.ASSAY_RNASEQ_TUMOR].sort_values([N.USUBJID, N.SPECIMEN_ID]).reset_index(drop=True)
    parents = pd.read_csv(trial.truth_dir / "custody_specimens.csv", dtype=str).set_index(N.SPECIMEN_ID)[N.PARENT_SPECIMEN_ID]
    n_genes, n_samples = len(genes), len(sources)

    # immune component per specimen and the loosely coupled cell types' own variation
    component = scores.reindex(sources[N.USUBJID]).to_numpy() + rng.normal(0, cfg["component_specimen_sd"], n_samples)
    groups = sorted(set(genes["group"]) - {"housekeeping", "tumour", "t_cell_inflamed", "background"})
    cell_type = {g: rng.normal(0, cfg["cell_type_sd"], n_samples) for g in groups}
    log2_tpm = (genes["baseline"].to_numpy()[:, None] + genes["loading"].to_numpy()[:, None] * component[None, :]
                + rng.normal(0, cfg["gene_sd"], (n_genes, n_samples)))
    for group, shift in cell_type.items():
        log2_tpm[(genes["group"] == group).to_numpy()] += shift[None, :]
    abundance = genes["length"].to_numpy()[:, None] * np.exp2(log2_tpm)
    library = rng.uniform(*cfg["library_size"], n_samples)
    mu = abundance / abundance.sum(axis=0, keepdims=True) * library[None, :]
    shape = 1.0 / cfg["dispersion"]
    counts = rng.poisson(rng.gamma(shape, mu / shape)).astype(np.int64)

    rna_ids = list(sources[N.SPECIMEN_ID])
    folder = trial.outdir / "rnaseq"
    folder.mkdir(parents=True, exist_ok=True)
    matrix = pd.DataFrame(counts, index=pd.Index(genes["gene_id"], name="gene_id"), columns=rna_ids)
    _write_tsv_gz(matrix, folder / "counts.tsv.gz")
    genes[["gene_id", "length"]].astype({"length": int}).to_csv(folder / "gene_lengths.tsv", sep="\t", index=False)

    truth = pd.DataFrame({
        N.USUBJID: sources[N.USUBJID], N.SPECIMEN_ID: rna_ids, N.PARENT_SPECIMEN_ID: parents.reindex(rna_ids).to_numpy(),
        N.TIMEPOINT: sources[N.TIMEPOINT], "SAMPLE_NAME": rna_ids,
        "IMMUNE_SCORE": scores.reindex(sources[N.USUBJID]).to_numpy().round(6), "IMMUNE_COMPONENT": component.round(6),
        "LIBRARY_SIZE": counts.sum(axis=0),
    })
    trial.truth_dir.mkdir(parents=True, exist_ok=True)
    truth.to_csv(trial.truth_dir / "expression.csv", index=False)
    (trial.truth_dir / "expression_model.json").write_text(json.dumps({
        "immune_score_source": score_source,
        "component": "IMMUNE_COMPONENT = IMMUNE_SCORE + normal(0, component_specimen_sd)",
        "component_specimen_sd": cfg["component_specimen_sd"],
        "pfs_relation": ("through IMMUNE_SCORE: truth/immune_model.json" if score_source == "trial"
                         else "none: IMMUNE_SCORE is a stand-in drawn by this stage, independent of PFS"),
        "genes": {g: int(n) for g, n in genes["group"].value_counts().sort_index().items()},
        "values": "counts", "gene_lengths": "rnaseq/gene_lengths.tsv",
    }, indent=2, sort_keys=True) + "\n")
    trial.truth["expression"] = truth
    for row in truth.to_dict("records"):
        trial.samplesheet_rows.append({
            N.SS_SUBJECT: row[N.USUBJID], N.SS_SPECIMEN: row[N.SPECIMEN_ID], N.SS_TIMEPOINT: row[N.TIMEPOINT],
            N.SS_SPECIMEN_TYPE: "RNA", N.SS_ASSAY: N.ASSAY_RNASEQ_TUMOR, N.SS_FILE: "rnaseq/counts.tsv.gz",
            "sample_name": row["SAMPLE_NAME"]})
    trial.params.update({"expression_values": "counts", "gene_lengths": "rnaseq/gene_lengths.tsv"})


def _write_tsv_gz(matrix: pd.DataFrame, path) -> None:
    # a fixed gzip header time keeps the file byte-identical for a seed
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0, filename="") as handle:
        handle.write(matrix.to_csv(sep="\t").encode())
