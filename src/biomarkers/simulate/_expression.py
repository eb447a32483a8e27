"""Stage "expression" of the simulated trial: bulk RNA-seq counts of tumour specimens.

RNA is extracted at the biobank from each subject's fresh-frozen tumour (BASELINE
biopsy, SURGERY resection; ``assets/simulation_tme.yaml``), shipped to the sequencing
lab and consumed by RNA-seq; those custody events are an extra LIMS export
(``custody/export_RNASEQ.csv``), so the custody stage's own files stay as they were.
Specimens touched by an injected custody violation, and subjects who withdrew consent,
are left out (an RNA extraction there would add custody findings the truth does not list).

Each specimen has an immune-inflamed component ``IMMUNE_COMPONENT`` = the subject's
``IMMUNE_SCORE`` (trial stage; a standard-normal stand-in drawn here when the trial stage
has none) + specimen noise. Immune genes follow it (log2 loadings drawn per gene), the
housekeeping and background genes do not; counts are negative binomial around
length x TPM, scaled to a library size. Outputs: ``rnaseq/counts.tsv.gz`` (genes x
specimens, Ensembl IDs for the signature genes), ``rnaseq/gene_lengths.tsv``,
``truth/expression.csv`` (component per specimen) and ``truth/expression_model.json``.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json

import numpy as np
import pandas as pd

from .. import names as N
from ..assets import asset_path, load_config
from ..custody import export_columns
from ..protocol import Protocol
from ._container import SimulatedTrial, stage_rng

__all__ = ["simulate_expression", "load_tme_model", "immune_scores", "root_specimens"]

SEQ_LAB = "SEQLAB"
_SITE_OFFSET = {"BIOBANK": 8, "SEQLAB": 1}


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


def _usable_specimens(trial: SimulatedTrial, wanted: dict[str, str]) -> pd.DataFrame:
    """Root specimens of the wanted (timepoint, type) pairs, minus those a violation touched."""
    specimens = pd.read_csv(trial.truth_dir / "custody_specimens.csv", dtype=str)
    violations = trial.truth.get("custody_violations", pd.DataFrame(columns=["RULE", N.USUBJID, N.SPECIMEN_ID]))
    withdrawn = set(violations.loc[violations["RULE"] == "USE_AFTER_CONSENT_WITHDRAWAL", N.USUBJID])
    touched = set(violations[N.SPECIMEN_ID].dropna())
    parent_of = dict(zip(specimens[N.SPECIMEN_ID], specimens[N.PARENT_SPECIMEN_ID]))
    for sid in list(parent_of):  # a violation on a descendant touches its root too
        node = sid
        while isinstance(node, str) and node in parent_of:
            if node in touched:
                touched.add(sid)
            node = parent_of[node]
    keep = specimens[specimens[N.PARENT_SPECIMEN_ID].isna()
                     & np.array([wanted.get(tp) == st for tp, st in zip(specimens[N.TIMEPOINT], specimens[N.SPECIMEN_TYPE])], dtype=bool)
                     & ~specimens[N.SPECIMEN_ID].isin(touched) & ~specimens[N.USUBJID].isin(withdrawn)]
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


def _tz(site: str) -> dt.timezone:
    return dt.timezone(dt.timedelta(hours=_SITE_OFFSET[site]))


def _stored_at_biobank(trial: SimulatedTrial, protocol: Protocol) -> dict[str, dt.datetime]:
    """When each specimen was last stored at the central biobank (from the custody export)."""
    path = trial.outdir / "custody" / f"export_{protocol.central_biobank}.csv"
    frame = pd.read_csv(path, dtype=str)
    stored = frame[frame["event_type"] == "STORED"]
    return {sid: dt.datetime.fromisoformat(t) for sid, t in zip(stored["specimen_id"], stored["occurred_at"])}


def simulate_expression(trial: SimulatedTrial, protocol: Protocol, rng: np.random.Generator) -> None:
    model = load_tme_model()
    cfg = model["expression"]
    genes = _gene_table(model, rng)
    scores, score_source = immune_scores(trial)
    sources = _usable_specimens(trial, cfg["sources"])
    stored = _stored_at_biobank(trial, protocol)
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

    rna_ids = [f"{sid}-R1" for sid in sources[N.SPECIMEN_ID]]
    folder = trial.outdir / "rnaseq"
    folder.mkdir(parents=True, exist_ok=True)
    matrix = pd.DataFrame(counts, index=pd.Index(genes["gene_id"], name="gene_id"), columns=rna_ids)
    _write_tsv_gz(matrix, folder / "counts.tsv.gz")
    genes[["gene_id", "length"]].astype({"length": int}).to_csv(folder / "gene_lengths.tsv", sep="\t", index=False)

    events = _custody_events(sources, rna_ids, stored, protocol, rng)
    _write_export(events, trial.outdir / "custody" / "export_RNASEQ.csv")

    truth = pd.DataFrame({
        N.USUBJID: sources[N.USUBJID], N.SPECIMEN_ID: rna_ids, N.PARENT_SPECIMEN_ID: sources[N.SPECIMEN_ID],
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
            N.SS_SPECIMEN_TYPE: "RNA", N.SS_ASSAY: "rnaseq_tumor", N.SS_FILE: "rnaseq/counts.tsv.gz",
            "sample_name": row["SAMPLE_NAME"]})
    trial.params.update({"expression_values": "counts", "gene_lengths": "rnaseq/gene_lengths.tsv"})


def _write_tsv_gz(matrix: pd.DataFrame, path) -> None:
    # a fixed gzip header time keeps the file byte-identical for a seed
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0, filename="") as handle:
        handle.write(matrix.to_csv(sep="\t").encode())


def _custody_events(sources: pd.DataFrame, rna_ids: list[str], stored: dict[str, dt.datetime], protocol: Protocol,
                    rng: np.random.Generator) -> list[dict]:
    bank = protocol.central_biobank
    events = []
    for parent, rna, subject, timepoint in zip(sources[N.SPECIMEN_ID], rna_ids, sources[N.USUBJID], sources[N.TIMEPOINT]):
        day = stored[parent].astimezone(_tz(bank)).date() + dt.timedelta(days=int(rng.integers(14, 30)))
        derived = dt.datetime.combine(day, dt.time(10, 0), _tz(bank)) + dt.timedelta(minutes=int(rng.integers(0, 240)))
        ship = dt.datetime.combine(day + dt.timedelta(days=2), dt.time(9, 0), _tz(bank))
        received = dt.datetime.combine(ship.astimezone(_tz(SEQ_LAB)).date() + dt.timedelta(days=1), dt.time(10, 0), _tz(SEQ_LAB))
        consumed = received + dt.timedelta(days=3, hours=2)
        base = {"subject_id": subject, "specimen_id": rna}
        events += [
            {**base, "event_type": "DERIVED", "_t": derived, "site": bank, "specimen_type": "RNA", "parent_specimen_id": parent,
             "timepoint": timepoint, "volume_ml": 0.03, "container": "CRYOVIAL", "process": "EXTRACTED"},
            {**base, "event_type": "SHIPPED", "_t": ship, "site": bank, "destination_site": SEQ_LAB, "temperature_c": -78.0,
             "tracking_number": f"TRKRNA{day.strftime('%y%m%d')}"},
            {**base, "event_type": "RECEIVED", "_t": received, "site": SEQ_LAB, "temperature_c": -78.0},
            {**base, "event_type": "CONSUMED", "_t": consumed, "site": SEQ_LAB, "assay": "RNASEQ", "volume_ml": 0.03},
        ]
    for e in events:
        e["actor_id"] = f"{e['site']}-STAFF{int(rng.integers(1, 9)):02d}"
        e["_lag"] = dt.timedelta(minutes=int(rng.integers(2, 90)))
    events.sort(key=lambda e: (e["_t"], e["specimen_id"], e["event_type"]))
    for i, e in enumerate(events, 1):
        e["event_id"] = f"RNASEQ-{i:06d}"
    return events


def _write_export(events: list[dict], path) -> None:
    columns = export_columns()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for e in events:
            out = {k: (f"{v:g}" if isinstance(v, float) else str(v)) for k, v in e.items() if not k.startswith("_")}
            out["occurred_at"] = e["_t"].astimezone(_tz(e["site"])).isoformat(timespec="seconds")
            out["recorded_at"] = (e["_t"] + e["_lag"]).astimezone(_tz(e["site"])).isoformat(timespec="seconds")
            writer.writerow(out)
