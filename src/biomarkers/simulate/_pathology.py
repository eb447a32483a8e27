"""Stage "pathology" of the simulated trial: the central lab's pathology results, with known inconsistencies.

The central lab reports on the BASELINE FFPE biopsy (PD-L1 CPS with clone and date,
HER2 IHC and, for 2+, ISH with its ratio, the four MMR proteins, EBER, stromal TILs, a
commercial panel's TMB) and on the SURGERY FFPE resection (CPS, TILs), as one long CSV
(``pathology/central_lab.csv``, ``assets/pathology.schema.json``).

CPS agrees with the subject's randomization stratum except for a few recorded
mismatches; one subject is HER2 IHC 2+ with a positive ISH (HER2-positive: a protocol
deviation); MSI-H subjects (trial stage) have lost MLH1 and PMS2; one MSS subject has
lost MSH6 (MMR/MSI discordance). ``truth/pathology.csv`` holds each subject's truth and
``truth/eligibility_expected.csv`` every check that must be FLAGGED (none other may be).
Higher IMMUNE_SCORE means higher CPS (within the CPS >= 1 stratum), more stromal TILs and
more often EBER-positive, as the expression stage's immune component says.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from .. import names as N
from ..protocol import Protocol
from ._container import SimulatedTrial
from ._expression import immune_scores, load_tme_model, root_specimens

__all__ = ["simulate_pathology"]

CENTRAL_LAB = "central pathology lab"
_MMR = ("MMR_MLH1", "MMR_PMS2", "MMR_MSH2", "MMR_MSH6")


def _collection_dates(trial: SimulatedTrial, specimens: set[str]) -> dict[str, dt.date]:
    dates: dict[str, dt.date] = {}
    for path in sorted((trial.outdir / "custody").glob("export_*.csv")):
        frame = pd.read_csv(path, dtype=str, usecols=["event_type", "specimen_id", "occurred_at"])
        collected = frame[(frame["event_type"] == "COLLECTED") & frame["specimen_id"].isin(specimens)]
        for sid, when in zip(collected["specimen_id"], collected["occurred_at"]):
            dates[sid] = dt.datetime.fromisoformat(when).date()
    return dates


def simulate_pathology(trial: SimulatedTrial, protocol: Protocol, rng: np.random.Generator) -> None:
    cfg = load_tme_model()["pathology"]
    subjects = trial.truth.get("subjects", trial.subjects).set_index(N.USUBJID)
    scores, _ = immune_scores(trial)
    specimens = root_specimens(trial, cfg["specimens"])
    baseline_tp = next(tp for tp in cfg["specimens"] if tp == "BASELINE")
    baseline = specimens[specimens[N.TIMEPOINT] == baseline_tp].drop_duplicates(N.USUBJID).set_index(N.USUBJID)
    surgery = specimens[specimens[N.TIMEPOINT] != baseline_tp]
    dates = _collection_dates(trial, set(specimens[N.SPECIMEN_ID]))
    plan = trial.assay_plan
    # subjects whose tumour DNA is sequenced: the MSI step will call them
    sequenced = set(plan.loc[plan[N.ASSAY] == "wes_tumor", N.USUBJID]) if len(plan) else set()

    ids = list(baseline.index)  # subjects with a baseline biopsy, in USUBJID order
    msi_h = [s for s in ids if subjects.loc[s, "MSI_STATUS"] == "MSI-H"]
    # distinct subjects carry the injected inconsistencies, none of them MSI-H
    pool = [s for s in ids if s not in msi_h]
    order = list(rng.permutation(pool))
    discordant = [s for s in order if s in sequenced][:cfg["mmr_discordant"]]
    rest = [s for s in order if s not in discordant]
    her2_positive = rest[:cfg["her2_positive_2plus"]]
    rest = rest[cfg["her2_positive_2plus"]:]
    # mismatches alternate between the strata: CPS>=1 measured 0, CPS<1 measured >= 1
    by_stratum = [[s for s in rest if (subjects.loc[s, N.STRATUM] == "CPS>=1") == high] for high in (True, False)]
    mismatched = [by_stratum[i % 2][i // 2] for i in range(cfg["cps_mismatches"]) if i // 2 < len(by_stratum[i % 2])]

    clones, clone_p = list(cfg["clones"]), np.array(list(cfg["clones"].values()), dtype=float)
    ihc_levels, ihc_p = list(cfg["her2_ihc"]), np.array(list(cfg["her2_ihc"].values()), dtype=float)
    rows, truth = [], []
    for usubjid in ids:
        sid = baseline.loc[usubjid, N.SPECIMEN_ID]
        immune = float(scores.get(usubjid, 0.0))
        stratum_high = subjects.loc[usubjid, N.STRATUM] == "CPS>=1"
        day = dates.get(sid, dt.date.fromisoformat(subjects.loc[usubjid, "RANDDT"]))
        report = (day + dt.timedelta(days=int(rng.integers(3, 10)))).isoformat()
        # draws happen for every subject in the same order, injected or not
        cps_high = float(np.clip(np.round(np.exp(rng.normal(cfg["cps_log_median"] + 0.5 * immune, 0.8))), 1, 100))
        cps_flip = float(rng.integers(1, 11))
        clone = clones[int(rng.choice(len(clones), p=clone_p / clone_p.sum()))]
        ihc = ihc_levels[int(rng.choice(len(ihc_levels), p=ihc_p / ihc_p.sum()))]
        ratio_negative, ratio_positive = round(float(rng.uniform(1.0, 1.8)), 2), round(float(rng.uniform(2.3, 4.0)), 2)
        eber_p = 1 / (1 + np.exp(-(np.log(cfg["eber_positive"] / (1 - cfg["eber_positive"])) + immune)))
        eber = "POSITIVE" if rng.random() < eber_p else "NEGATIVE"
        tils = _tils(cfg, immune, rng)
        panel_tmb = round(float(subjects.loc[usubjid, "TMB_TARGET"]) * float(np.exp(rng.normal(0, cfg["external_tmb"]["cv"]))), 1)

        mismatch = usubjid in mismatched
        cps = (cps_high if stratum_high else 0.0) if not mismatch else (0.0 if stratum_high else cps_flip)
        if usubjid in her2_positive:
            ihc = "2+"
        her2_pos = usubjid in her2_positive
        lost = {"MMR_MLH1", "MMR_PMS2"} if usubjid in msi_h else ({"MMR_MSH6"} if usubjid in discordant else set())
        base = {"subject": usubjid, "specimen": sid, "timepoint": baseline_tp, "lab": CENTRAL_LAB}
        rows.append({**base, "test": "CPS", "result": f"{cps:g}", "clone": clone, "date": report})
        rows.append({**base, "test": "HER2_IHC", "result": ihc, "date": report})
        if ihc == "2+":
            ratio = ratio_positive if her2_pos else ratio_negative
            rows.append({**base, "test": "HER2_ISH", "result": "POSITIVE" if her2_pos else "NEGATIVE", "date": report})
            rows.append({**base, "test": "HER2_ISH_RATIO", "result": f"{ratio:g}", "unit": "ratio", "date": report})
        for protein in _MMR:
            rows.append({**base, "test": protein, "result": "LOST" if protein in lost else "RETAINED", "date": report})
        rows.append({**base, "test": "EBER", "result": eber, "date": report})
        rows.append({**base, "test": "TILS_STROMAL", "result": f"{tils:g}", "unit": "%", "date": report})
        rows.append({**base, "test": "LAB", "name": cfg["external_tmb"]["name"], "result": f"{panel_tmb:g}",
                     "unit": cfg["external_tmb"]["unit"], "date": report})
        truth.append({N.USUBJID: usubjid, "BASELINE_SPECIMEN_ID": sid, N.STRATUM: subjects.loc[usubjid, N.STRATUM],
                      "CPS": cps, "CPS_MISMATCH": mismatch, "HER2_IHC": ihc, "HER2_POSITIVE": her2_pos,
                      "MMR_LOST": ",".join(sorted(p.removeprefix("MMR_") for p in lost)),
                      "MSI_STATUS": subjects.loc[usubjid, "MSI_STATUS"], "MMR_MSI_DISCORDANT": usubjid in discordant,
                      "EBER": eber, "TILS_STROMAL": tils, "PANEL_TMB": panel_tmb, "IMMUNE_SCORE": round(immune, 6)})
    for spec in surgery.to_dict("records"):
        usubjid = spec[N.USUBJID]
        immune = float(scores.get(usubjid, 0.0))
        day = dates.get(spec[N.SPECIMEN_ID])
        report = (day + dt.timedelta(days=int(rng.integers(3, 10)))).isoformat() if day else None
        high = subjects.loc[usubjid, N.STRATUM] == "CPS>=1"
        cps = float(np.clip(np.round(np.exp(rng.normal(cfg["cps_log_median"] + 0.5 * immune, 0.8))), 1, 100)) if high else 0.0
        clone = clones[int(rng.choice(len(clones), p=clone_p / clone_p.sum()))]
        base = {"subject": usubjid, "specimen": spec[N.SPECIMEN_ID], "timepoint": spec[N.TIMEPOINT], "lab": CENTRAL_LAB}
        if report:
            rows.append({**base, "test": "CPS", "result": f"{cps:g}", "clone": clone, "date": report})
        rows.append({**base, "test": "TILS_STROMAL", "result": f"{_tils(cfg, immune, rng):g}", "unit": "%", "date": report})

    folder = trial.outdir / "pathology"
    folder.mkdir(parents=True, exist_ok=True)
    columns = ["subject", "specimen", "timepoint", "test", "name", "result", "unit", "clone", "date", "lab"]
    pd.DataFrame(rows, columns=columns).to_csv(folder / "central_lab.csv", index=False)
    truth_frame = pd.DataFrame(truth)
    trial.truth_dir.mkdir(parents=True, exist_ok=True)
    truth_frame.to_csv(trial.truth_dir / "pathology.csv", index=False)
    expected = _expected_flags(truth_frame, subjects, msi_h_all=[s for s in subjects.index if subjects.loc[s, "MSI_STATUS"] == "MSI-H"],
                               sequenced=sequenced)
    expected.to_csv(trial.truth_dir / "eligibility_expected.csv", index=False)
    trial.truth["pathology"] = truth_frame
    trial.truth["eligibility_expected"] = expected
    trial.params["pathology"] = "pathology/central_lab.csv"


def _tils(cfg: dict, immune: float, rng: np.random.Generator) -> float:
    t = cfg["tils"]
    return float(np.clip(5 * np.round((t["mean"] + t["per_immune_sd"] * immune + rng.normal(0, t["sd"])) / 5), 0, 90))


def _expected_flags(truth: pd.DataFrame, subjects: pd.DataFrame, *, msi_h_all: list[str], sequenced: set[str]) -> pd.DataFrame:
    """Every (subject, check) the eligibility checks must flag; every other pair must not be flagged."""
    rows = []
    for t in truth.to_dict("records"):
        why = {}
        if t["CPS_MISMATCH"]:
            why["CPS_STRATUM_MISMATCH"] = f"stratum {t[N.STRATUM]}, measured CPS {t['CPS']:g}"
            why["PD1_CPS_MISMATCH"] = "PD-1 exposure follows the stratum, the measured CPS disagrees"
        if t["HER2_POSITIVE"]:
            why["HER2_POSITIVE"] = "HER2 IHC 2+ with ISH positive"
        if t["MMR_LOST"]:
            why["DMMR_OR_MSI_H"] = f"{t['MMR_LOST']} lost"
        if t["MMR_MSI_DISCORDANT"]:
            why["MMR_MSI_DISCORDANCE"] = f"{t['MMR_LOST']} lost, MSS"
        rows += [{N.USUBJID: t[N.USUBJID], "CHECK": check, "REASON": reason} for check, reason in why.items()]
    with_pathology = set(truth[N.USUBJID])
    for usubjid in msi_h_all:  # MSI-H without a baseline biopsy: only the MSI step can tell
        if usubjid not in with_pathology and usubjid in sequenced:
            rows.append({N.USUBJID: usubjid, "CHECK": "DMMR_OR_MSI_H", "REASON": "MSI-H (MSI step)"})
    return pd.DataFrame(rows, columns=[N.USUBJID, "CHECK", "REASON"]).sort_values([N.USUBJID, "CHECK"]).reset_index(drop=True)
