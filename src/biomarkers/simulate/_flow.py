"""Flow cytometry stage of the simulated trial: one FCS 3.1 file per analysed PBMC specimen.

The PBMC vials the custody stage sent to the flow lab (``assay_plan`` of
``assets/simulation.yaml``: assay ``flow_fcs``, lab FLOWLAB; PBMC is stored in two
vials, so flow and single-cell RNA never share one) are acquired on the trial panel
(``assets/flow/panels.yaml``), in batches by collection month, each batch with a
reference control (one donor's PBMC).
A tube's composition follows the subject's latent ``IMMUNE_SCORE`` (truth of the trial
stage; more CD8+ T cells, fewer Treg and MDSC when higher), a per-subject random
effect, chemotherapy (fewer lymphocytes and MDSC on treatment), progression (more
MDSC at end of treatment) and, for CPS>=1 subjects, PD-1 blockade (more PD-1+ and
Ki-67+ CD8+ T cells on treatment, more so when IMMUNE_SCORE is high).
A few files carry a known QC problem. Each tube draws from its own random stream
(``flow:<SPECIMEN_ID>``), so tubes are written in worker processes (``trial.cpus``) and
every file is the same for any number of them.

Outputs: ``flow/<SPECIMEN_ID>.fcs`` and ``flow/controls/<ID>.fcs`` (samplesheet rows of
assay ``flow_fcs``, the controls with ``control`` true and no subject); ``flow/counts.csv``
(``--flow_counts``: clinical lymphocyte counts and counting-bead numbers per specimen); truth under
``truth/flow/``: ``specimens.csv``, ``subsets.csv`` (true events, % of CD45+ and cells
per microlitre), ``qc_problems.csv``, ``model.json`` and ``events/<ID>.parquet`` (what
every event is). Nothing is a direct identifier: files carry study specimen IDs only.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from array import array
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import flowio
import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from .. import names as N
from ..assets import asset_path, load_config
from ..errors import InputError
from ..protocol import Protocol
from ..workers import map_in_order
from ._container import SimulatedTrial, stage_rng
from ._flow_events import TubeSpec, simulate_tube, spillover_array

__all__ = ["simulate_flow", "load_flow_model", "FLOW_DIR", "TRUTH_DIR"]

FLOW_DIR = "flow"
TRUTH_DIR = "flow"
PROBLEMS = ("CLOG", "LOW_EVENTS", "UNCOVERED_CHANNEL", "LOW_VIABILITY")
LOW_EVENTS_N = 1500
LOW_VIABILITY_DEAD = 0.35


def load_flow_model() -> dict:
    return load_config(asset_path("flow/simulation.yaml"), "flow/simulation.schema.json")


def simulate_flow(trial: SimulatedTrial, protocol: Protocol, rng: np.random.Generator) -> None:
    model = load_flow_model()
    panel = load_config(asset_path("flow/panels.yaml"), "flow/panels.schema.json")["panels"][model["panel"]]
    channels = panel["channels"]
    detectors = [c["channel"] for c in channels if c["kind"] == "fluorescence"]
    spill = spillover_array(detectors, model["spillover"])
    subjects = _subjects(trial, model, rng)
    plan = _plan(trial, protocol, model)
    plan = pd.concat([plan, _controls(plan, model)], ignore_index=True)
    problems = _assign_problems(plan, model, detectors, rng)
    effects = {u: {t: rng.normal(0.0, model["between_subject_sd"]) for t in sorted(model["cell_types"])}
               for u in subjects.index}
    folder = trial.outdir / FLOW_DIR
    (trial.truth_dir / TRUTH_DIR / "events").mkdir(parents=True, exist_ok=True)
    (folder / "controls").mkdir(parents=True, exist_ok=True)
    tubes = _Tubes(str(trial.outdir), trial.seed, model, channels, spill, detectors, subjects, effects)
    tasks = [{"row": row._asdict(), "problem": problems.get(row.SPECIMEN_ID)} for row in plan.itertuples(index=False)]
    # each tube draws from its own stream and writes its own files; the truth rows are
    # gathered in plan order, so every file is the same for any number of workers
    results = map_in_order(_tube_task, tasks, workers=trial.cpus, initializer=_start_worker, initargs=(tubes,))
    count_rows = [counts for counts, _, _ in results]
    subset_rows = [row for _, subsets, _ in results for row in subsets]
    spec_rows = [spec for _, _, spec in results]
    _write_outputs(trial, model, spec_rows, subset_rows, count_rows, problems)


@dataclass(frozen=True)
class _Tubes:
    """What every tube shares (sent once to each worker process)."""

    outdir: str
    seed: int
    model: dict
    channels: list[dict]
    spill: np.ndarray
    detectors: list[str]
    subjects: pd.DataFrame
    effects: dict


_TUBES: _Tubes | None = None  # as a worker process holds it (set by _start_worker)


def _start_worker(tubes: _Tubes) -> None:
    global _TUBES
    _TUBES = tubes


def _tube_task(row: dict, problem: tuple[str, str | None] | None) -> tuple[dict, list[dict], dict]:
    """One tube: its FCS file and event truth written; its counts, subset truth and specimen truth returned."""
    t = _TUBES
    row = SimpleNamespace(**row)
    rng = stage_rng(t.seed, f"flow:{row.SPECIMEN_ID}")
    spec, leukocytes_per_ul = _tube_spec(row, t.subjects, t.effects, t.model, problem, rng)
    tube = simulate_tube(spec, t.model, t.channels, t.spill, rng)
    path = Path(t.outdir) / FLOW_DIR / ("controls" if row.CONTROL else "") / f"{row.SPECIMEN_ID}.fcs"
    uncovered = problem[1] if problem and problem[0] == "UNCOVERED_CHANNEL" else None
    _write_fcs(path, tube.data, t.channels, t.spill, t.detectors, row, t.model, uncovered)
    truth = tube.truth.astype({"POPULATION": "category"})  # as written; and isin on codes, not strings
    truth.to_parquet(Path(t.outdir) / "truth" / TRUTH_DIR / "events" / f"{row.SPECIMEN_ID}.parquet", index=False)
    counts = _counts(row, truth, spec, leukocytes_per_ul, t.model, rng)
    return counts, _truth_subsets(row, truth, counts, t.model), _specimen_truth(row, truth, spec, t.subjects, problem)


# --- who is acquired, when ------------------------------------------------------------

def _subjects(trial: SimulatedTrial, model: dict, rng: np.random.Generator) -> pd.DataFrame:
    """Subjects with their IMMUNE_SCORE (the trial stage's, or a stand-in drawn the same way)."""
    subj = trial.truth.get("subjects", trial.subjects).copy()
    if "IMMUNE_SCORE" not in subj.columns:
        rho = model["immune_score_rho"]
        z = np.zeros(len(subj))
        for _, idx in subj.groupby(N.ARMCD).indices.items():
            z[idx] = norm.ppf(rankdata(subj["PFS_DAYS"].to_numpy()[idx]) / (len(idx) + 1))
        subj["IMMUNE_SCORE"] = rho * z + math.sqrt(1 - rho * rho) * rng.standard_normal(len(subj))
        subj["IMMUNE_SCORE_SOURCE"] = "flow stand-in"
    return subj.set_index(N.USUBJID)


def _base_timepoint(timepoint: str) -> str:
    head, _, tail = timepoint.rpartition("_")
    return head if tail.isdigit() and head else timepoint


def _plan(trial: SimulatedTrial, protocol: Protocol, model: dict) -> pd.DataFrame:
    """PBMC vials the custody stage sent to the flow lab (``assay_plan`` rows of ``flow_fcs``), with date and batch."""
    plan = trial.assay_plan
    if plan is None or not len(plan) or not (plan[N.ASSAY] == N.ASSAY_FLOW_FCS).any():
        raise InputError(f"the flow stage needs {N.ASSAY_FLOW_FCS} specimens in the custody stage's assay plan "
                         "(assets/simulation.yaml assay_plan)", field="assay_plan")
    pbmc = plan[plan[N.ASSAY] == N.ASSAY_FLOW_FCS][[N.USUBJID, N.SPECIMEN_ID, N.TIMEPOINT, N.SPECIMEN_TYPE]].copy()
    pbmc["BASE"] = pbmc[N.TIMEPOINT].map(_base_timepoint)
    subjects = trial.subjects.set_index(N.USUBJID)
    dates = _due_dates(trial, protocol)
    pbmc["DATE"] = [dates.get((u, t)) for u, t in zip(pbmc[N.USUBJID], pbmc[N.TIMEPOINT])]
    pbmc = pbmc.dropna(subset=["DATE"])
    first = min(pbmc["DATE"])
    months = model["batches"]["months"]
    pbmc["BATCH"] = [1 + ((d.year - first.year) * 12 + d.month - first.month) // months for d in pbmc["DATE"]]
    pbmc[N.ARMCD] = subjects.loc[pbmc[N.USUBJID], N.ARMCD].to_numpy()
    pbmc[N.STRATUM] = subjects.loc[pbmc[N.USUBJID], N.STRATUM].to_numpy()
    pbmc["CONTROL"] = False
    pbmc["DRIFT"] = False
    columns = [N.USUBJID, N.SPECIMEN_ID, N.TIMEPOINT, N.SPECIMEN_TYPE, "BASE", N.ARMCD, N.STRATUM, "DATE", "BATCH",
               "CONTROL", "DRIFT"]
    return pbmc[columns].sort_values(N.SPECIMEN_ID).reset_index(drop=True)


def _due_dates(trial: SimulatedTrial, protocol: Protocol) -> dict[tuple[str, str], dt.date]:
    milestones: dict[str, dict[str, dt.date]] = {}
    for m in trial.milestones.itertuples(index=False):
        milestones.setdefault(m.USUBJID, {})[m.MILESTONE] = dt.date.fromisoformat(m.DATE)
    out = {}
    for s in trial.subjects.itertuples(index=False):
        for due in protocol.due_timepoints(s.ARMCD, milestones.get(s.USUBJID, {})):
            out[(s.USUBJID, due.id)] = due.target
    return out


def _controls(plan: pd.DataFrame, model: dict) -> pd.DataFrame:
    """One reference control per batch; the n-th batch's control drifts (truth/flow/specimens.csv DRIFT)."""
    cfg = model["batches"]
    batches = sorted(plan["BATCH"].unique())
    drifting = batches[min(cfg["drift"]["batch"], len(batches)) - 1]
    rows = []
    for batch, group in plan.groupby("BATCH"):
        rows.append({N.USUBJID: cfg["control_subject"], N.SPECIMEN_ID: f"{cfg['control_subject']}-B{batch:02d}",
                     N.TIMEPOINT: "CONTROL", N.SPECIMEN_TYPE: "PBMC", "BASE": "CONTROL", N.ARMCD: None, N.STRATUM: None,
                     "DATE": min(group["DATE"]), "BATCH": int(batch), "CONTROL": True, "DRIFT": batch == drifting})
    return pd.DataFrame(rows)


def _assign_problems(plan: pd.DataFrame, model: dict, detectors: list[str], rng: np.random.Generator
                     ) -> dict[str, tuple[str, str | None]]:
    candidates = plan.loc[~plan["CONTROL"], N.SPECIMEN_ID].tolist()
    wanted = [kind for kind in PROBLEMS for _ in range(model["qc_problems"].get(kind, 0))]
    # A tiny trial (a few subjects) keeps at least half of its files clean: problems beyond
    # that are left out (truth/flow/qc_problems.csv lists those injected).
    wanted = wanted[:len(candidates) // 2]
    chosen = rng.choice(len(candidates), size=len(wanted), replace=False)
    out = {}
    for kind, i in zip(wanted, sorted(chosen)):
        detail = str(rng.choice([d for d in detectors if d != "APC-Cy7-A"])) if kind == "UNCOVERED_CHANNEL" else None
        out[candidates[i]] = (kind, detail)
    return out


# --- one tube ------------------------------------------------------------------------

def _tube_spec(row, subjects: pd.DataFrame, effects: dict, model: dict, problem, rng: np.random.Generator):
    types = sorted(model["cell_types"])
    base = np.log([model["cell_types"][t]["share"] for t in types])
    if row.CONTROL:
        log_share, z, pd1, chemo = base.copy(), 0.0, 0.0, 0.0
        drift = model["batches"]["drift"]
        if row.DRIFT:
            log_share[types.index(drift["type"])] += math.log(drift["factor"])
    else:
        z = float(subjects.loc[row.USUBJID, "IMMUNE_SCORE"])
        pd1 = model["pd1_exposure"].get(row.BASE, 0.0) if row.STRATUM == "CPS>=1" else 0.0
        chemo = model["chemo_exposure"].get(row.BASE, 0.0)
        log_share = base + np.array([model["cell_types"][t]["immune_score"] * z + effects[row.USUBJID][t] for t in types])
        log_share += chemo * np.array([model["effects"]["chemo"].get(t, 0.0) for t in types])
        if row.BASE == "EOT":
            log_share += np.array([model["effects"]["progression"].get(t, 0.0) for t in types])
        log_share += rng.normal(0.0, model["within_subject_sd"], len(types))
    share = np.exp(log_share)
    shares = dict(zip(types, share / share.sum()))
    states = {}
    for state, cfg in model["cd8_states"].items():
        logit = cfg["base"] + cfg["immune_score"] * z + cfg["pd1"] * pd1 * (1 + cfg["pd1_by_score"] * z)
        states[state] = {"CD8_T": 1 / (1 + math.exp(-logit)), **model["other_states"].get(state, {})}
    f = model["fractions"]
    kind = problem[0] if problem else None
    median = model["batches"]["control_events"] if row.CONTROL else model["events"]["median"]
    n_events = LOW_EVENTS_N if kind == "LOW_EVENTS" else int(round(median * math.exp(
        rng.normal(0.0, model["events"]["log_sd"]))))
    spec = TubeSpec(
        n_events=n_events, shares=shares, state_fractions=states,
        debris=rng.uniform(*f["debris"]), doublets=rng.uniform(*f["doublets"]),
        dead=LOW_VIABILITY_DEAD if kind == "LOW_VIABILITY" else rng.uniform(*f["dead"]),
        cd45_negative=rng.uniform(*f["cd45_negative"]), duration_s=rng.uniform(*model["acquisition"]["duration_s"]),
        clog=model["clog"] if kind == "CLOG" else None,
    )
    leukocytes_per_ul = rng.uniform(*model["beads"]["leukocytes_per_ul"])
    return spec, leukocytes_per_ul


def _write_fcs(path: Path, data: np.ndarray, channels: list[dict], spill: np.ndarray, detectors: list[str],
               row, model: dict, uncovered: str | None) -> None:
    keep = [i for i, d in enumerate(detectors) if d != uncovered]
    names = [detectors[i] for i in keep]
    values = spill[np.ix_(keep, keep)]
    spillover = ",".join([str(len(names)), *names, *(f"{v:.6g}" for v in values.ravel())])
    metadata = {"$CYT": model["instrument"], "$SRC": row.SPECIMEN_ID, "$FIL": path.name,
                "$TIMESTEP": str(model["acquisition"]["timestep"]), "$SPILLOVER": spillover,
                "$DATE": row.DATE.strftime("%d-%b-%Y").upper()}
    for i, c in enumerate(channels, start=1):
        metadata[f"$P{i}R"] = "262144"
    markers = [c.get("marker", "") for c in channels]
    events = array("f")
    events.frombytes(np.ascontiguousarray(data, dtype="<f4").tobytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        flowio.create_fcs(handle, events, [c["channel"] for c in channels], markers, metadata)


def _counts(row, truth: pd.DataFrame, spec: TubeSpec, leukocytes_per_ul: float, model: dict,
            rng: np.random.Generator) -> dict:
    """Clinical lymphocyte count, and counting-bead numbers for a share of the specimens."""
    cfg = model["lymphocytes_per_ul"]
    chemo = 0.0 if row.CONTROL else model["chemo_exposure"].get(row.BASE, 0.0)
    lymphocytes = cfg["median"] * math.exp(rng.normal(0.0, cfg["log_sd"]) + cfg["chemo"] * chemo)
    out = {N.SPECIMEN_ID: row.SPECIMEN_ID, "lymphocytes_per_ul": round(lymphocytes, 1),
           "beads_per_test": None, "beads_acquired": None, "volume_ul": None, "_leukocytes_per_ul": None}
    beads = model["beads"]
    if not row.CONTROL and rng.random() < beads["fraction"]:
        n_leuko = int(truth["POPULATION"].isin(model["truth_subsets"]["CD45pos"]).sum())
        # acquired fraction of the tube: leukocytes acquired / leukocytes in the tube
        acquired = n_leuko / (leukocytes_per_ul * beads["volume_ul"])
        out.update(beads_per_test=beads["beads_per_test"], volume_ul=beads["volume_ul"],
                   beads_acquired=int(round(beads["beads_per_test"] * acquired)),
                   _leukocytes_per_ul=leukocytes_per_ul)
    return out


def _membership(truth: pd.DataFrame, definition) -> np.ndarray:
    if isinstance(definition, dict):
        return truth["POPULATION"].isin(definition["types"]).to_numpy() & truth[definition["state"]].to_numpy()
    return truth["POPULATION"].isin(definition).to_numpy()


def _truth_subsets(row, truth: pd.DataFrame, counts: dict, model: dict) -> list[dict]:
    defs = model["truth_subsets"]
    leuko = int(_membership(truth, defs["CD45pos"]).sum())
    lymph = int(_membership(truth, defs["Lymphocytes"]).sum())
    lymphoid = {"Lymphocytes", "T_cells", "CD4_T", "CD8_T", "Treg", "CD8_PD1pos", "CD8_Ki67pos", "NK",
                "NK_CD56bright", "NK_CD56dim", "B_cells"}
    rows = []
    for subset, definition in defs.items():
        n = int(_membership(truth, definition).sum())
        per_ul = None
        if counts["_leukocytes_per_ul"]:
            per_ul = counts["_leukocytes_per_ul"] * n / leuko if leuko else None
        elif subset in lymphoid and lymph:
            per_ul = counts["lymphocytes_per_ul"] * n / lymph
        rows.append({N.SPECIMEN_ID: row.SPECIMEN_ID, "SUBSET": subset, "TRUE_EVENTS": n,
                     "TRUE_PCT_CD45": 100.0 * n / leuko if leuko else None,
                     "TRUE_CELLS_PER_UL": None if per_ul is None else round(per_ul, 3)})
    return rows


def _specimen_truth(row, truth: pd.DataFrame, spec: TubeSpec, subjects: pd.DataFrame, problem) -> dict:
    pop = truth["POPULATION"]
    return {
        N.USUBJID: row.USUBJID, N.SPECIMEN_ID: row.SPECIMEN_ID, N.TIMEPOINT: row.TIMEPOINT, N.ARMCD: row.ARMCD,
        N.STRATUM: row.STRATUM, "BATCH": int(row.BATCH), "CONTROL": bool(row.CONTROL), "DRIFT": bool(row.DRIFT),
        "FILE": f"{FLOW_DIR}/{'controls/' if row.CONTROL else ''}{row.SPECIMEN_ID}.fcs",
        "N_EVENTS": len(pop), "DEBRIS_FRACTION": round(float((pop == "DEBRIS").mean()), 6),
        "DEAD_FRACTION": round(spec.dead, 6),
        "IMMUNE_SCORE": None if row.CONTROL else float(subjects.loc[row.USUBJID, "IMMUNE_SCORE"]),
        "QC_PROBLEM": problem[0] if problem else None, "PROBLEM_DETAIL": problem[1] if problem else None,
    }


def _write_outputs(trial: SimulatedTrial, model: dict, spec_rows, subset_rows, count_rows, problems) -> None:
    truth_dir = trial.truth_dir / TRUTH_DIR
    specimens = pd.DataFrame(spec_rows)
    specimens.to_csv(truth_dir / "specimens.csv", index=False)
    pd.DataFrame(subset_rows).to_csv(truth_dir / "subsets.csv", index=False)
    pd.DataFrame([{N.SPECIMEN_ID: sid, "PROBLEM": kind, "DETAIL": detail}
                  for sid, (kind, detail) in sorted(problems.items())]).to_csv(truth_dir / "qc_problems.csv", index=False)
    counts = pd.DataFrame(count_rows).drop(columns=["_leukocytes_per_ul"])
    counts = counts.rename(columns={N.SPECIMEN_ID: N.SS_SPECIMEN})
    counts.astype({"beads_per_test": "Int64", "beads_acquired": "Int64", "volume_ul": "Float64"}).to_csv(
        trial.outdir / FLOW_DIR / "counts.csv", index=False)
    (truth_dir / "model.json").write_text(json.dumps(model, indent=2, sort_keys=True, default=str) + "\n")
    trial.truth["flow"] = specimens
    trial.params["flow_counts"] = f"{FLOW_DIR}/counts.csv"
    for row in specimens.to_dict("records"):  # a reference control has no subject or timepoint of the trial
        control = bool(row["CONTROL"])
        trial.samplesheet_rows.append({
            N.SS_SUBJECT: "" if control else row[N.USUBJID], N.SS_SPECIMEN: row[N.SPECIMEN_ID],
            N.SS_TIMEPOINT: "" if control else row[N.TIMEPOINT], N.SS_SPECIMEN_TYPE: "PBMC",
            N.SS_ASSAY: N.ASSAY_FLOW_FCS, N.SS_FILE: row["FILE"], N.SS_PANEL: model["panel"],
            N.SS_BATCH: str(row["BATCH"]), N.SS_CONTROL: "true" if control else ""})
