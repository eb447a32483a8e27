"""Stage 1 of the simulated trial: subjects, randomization, outcomes, milestone dates.

Subjects are randomized 2:1 (EXP:CTRL) in permuted blocks within CPS strata, as the
protocol says. Each subject gets latent biomarker truth (tumour mutational burden,
MSI status) and outcomes drawn from the model in ``assets/simulation.yaml``, in
which TMB-high lowers the hazard of progression by a known hazard ratio. Milestone
dates follow the arm's nominal schedule with jitter and stop at progression,
drop-out or the data cut-off, so conditional parts of the protocol (surgery only if
not progressing, maintenance only for CPS >= 1) follow from the dates.

Each subject also gets a latent immune-inflammation score (``IMMUNE_SCORE``, standard
normal), correlated with the subject's uncensored PFS time within its arm. The
modalities that measure immune biology (flow cytometry, single-cell and bulk
expression) derive their signal from it, so blood and tumour tell one coherent story
whose relation to PFS is known (``truth/immune_model.json``).
"""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd

from .. import names as N
from ..assets import load_config
from ..protocol import Protocol
from ._container import SimulatedTrial, stage_rng

__all__ = ["simulate_subjects", "load_model"]

PUBLIC_COLUMNS = [N.USUBJID, "SITEID", N.ARMCD, N.STRATUM, "RANDDT"]


def load_model() -> dict:
    return load_config("simulation.yaml", schema="simulation.schema.json")


def _randomize(strata: list[str], protocol: Protocol, rng: np.random.Generator) -> list[str]:
    """Permuted-block allocation within each stratum, in order of enrolment."""
    ratio = protocol.randomization["ratio"]
    block_size = protocol.randomization.get("block_size", sum(ratio.values()))
    per_block = sum(ratio.values())
    if block_size % per_block:
        raise ValueError(f"block size {block_size} is not a multiple of the ratio total {per_block}")
    template = [arm for arm, n in sorted(ratio.items()) for _ in range(n * block_size // per_block)]
    queues: dict[str, list[str]] = {}
    arms = []
    for stratum in strata:
        queue = queues.setdefault(stratum, [])
        if not queue:
            queue.extend(rng.permutation(template).tolist())
        arms.append(queue.pop(0))
    return arms


def simulate_subjects(trial: SimulatedTrial, protocol: Protocol, rng: np.random.Generator) -> None:
    model = load_model()
    enrol = model["enrolment"]
    n = trial.n_subjects
    days_per_month = model["outcomes"]["days_per_month"]

    first = dt.date.fromisoformat(enrol["first_randomization"])
    span = int(enrol["months"] * days_per_month)
    rand_offsets = np.sort(rng.integers(0, span, size=n))
    randdt = [first + dt.timedelta(days=int(d)) for d in rand_offsets]
    cutoff = randdt[-1] + dt.timedelta(days=int(round(enrol["min_follow_up_months"] * days_per_month)))

    sites = list(enrol["site_weights"])
    weights = np.array([enrol["site_weights"][s] for s in sites], dtype=float)
    site = rng.choice(sites, size=n, p=weights / weights.sum())
    stratum_names = list(model["strata"])
    stratum_p = np.array([model["strata"][s] for s in stratum_names], dtype=float)
    strata = rng.choice(stratum_names, size=n, p=stratum_p / stratum_p.sum()).tolist()
    arms = _randomize(strata, protocol, rng)

    counters: dict[str, int] = {}
    usubjids = []
    for s in site:
        counters[s] = counters.get(s, 0) + 1
        usubjids.append(f"{protocol.studyid}-{s[-2:]}-{counters[s]:03d}")

    # latent biomarkers
    tmb_cfg = model["biomarkers"]["tmb"]
    tmb = np.exp(rng.normal(tmb_cfg["log_median"], tmb_cfg["log_sd"], size=n))
    tmb = np.clip(tmb, *tmb_cfg["range"])
    msi_cfg = model["biomarkers"]["msi_h"]
    msi_idx = rng.choice(n, size=min(msi_cfg["n_subjects"], n), replace=False)
    msi = np.array(["MSS"] * n, dtype=object)
    msi[msi_idx] = "MSI-H"
    tmb[msi_idx] = rng.uniform(*msi_cfg["tmb_range"], size=len(msi_idx))
    tmb = np.round(tmb, 2)
    tmb_high_cutoff = float(load_config("tmb.yaml", "tmb.schema.json")["tmb_high"])  # the pipeline's own cut-off
    tmb_high = tmb >= tmb_high_cutoff

    # outcomes (days)
    out = model["outcomes"]
    pfs_cfg = out["pfs"]
    rate = np.array([math.log(2) / (pfs_cfg["median_months"][a] * days_per_month) for a in arms])
    rate = rate * np.exp(pfs_cfg["log_hr_tmb_high"] * tmb_high)
    pfs_true = rng.exponential(1 / rate)
    pps = rng.exponential(out["post_progression_survival_median_months"] * days_per_month / math.log(2), size=n)
    os_true = pfs_true + pps
    # its own random stream: adding the score left every other draw of this stage as it was
    immune_score = _immune_scores(pfs_true, arms, model["biomarkers"]["immune"]["rho_pfs"], stage_rng(trial.seed, "immune"))
    follow = np.array([(cutoff - r).days for r in randdt], dtype=float)
    dropout = np.where(rng.random(n) < enrol["dropout_fraction"], rng.uniform(0, follow), np.inf)
    censor = np.minimum(follow, dropout)
    pfs_days = np.maximum(1, np.floor(np.minimum(pfs_true, censor))).astype(int)
    pfs_event = (pfs_true <= censor).astype(int)
    os_days = np.maximum(1, np.floor(np.minimum(os_true, censor))).astype(int)
    os_event = (os_true <= censor).astype(int)

    resp = out["response"]
    logit = np.array([resp["intercept"][a] for a in arms]) + resp["log_or_tmb_high"] * tmb_high
    p_resp = 1 / (1 + np.exp(-logit))
    u_resp, u_cr, u_ne = rng.random(n), rng.random(n), rng.random(n)
    bor = []
    for i in range(n):
        if pfs_event[i] and pfs_days[i] < resp["early_progression_days"]:
            bor.append("PD")
        elif u_ne[i] < resp["p_not_evaluable"] or censor[i] < resp["early_progression_days"]:
            bor.append("NE")
        elif u_resp[i] < p_resp[i]:
            bor.append("CR" if u_cr[i] < resp["p_complete_given_response"] else "PR")
        else:
            bor.append("SD")

    subjects = pd.DataFrame({
        N.USUBJID: usubjids, "SITEID": site, N.ARMCD: arms, N.STRATUM: strata,
        "RANDDT": [d.isoformat() for d in randdt],
        "TMB_TARGET": tmb, "TMB_HIGH": tmb_high, "MSI_STATUS": msi,
        "PFS_DAYS": pfs_days, "PFS_EVENT": pfs_event, "OS_DAYS": os_days, "OS_EVENT": os_event,
        "BOR": bor, "DROPOUT_DAY": np.where(np.isfinite(dropout), np.floor(dropout), np.nan),
        "IMMUNE_SCORE": np.round(immune_score, 6),
    })
    trial.subjects = subjects
    trial.data_cutoff = cutoff.isoformat()
    trial.milestones = _milestones(subjects, protocol, cutoff, model["milestone_jitter_days"], rng)

    trial.outdir.mkdir(parents=True, exist_ok=True)
    subjects[PUBLIC_COLUMNS].to_csv(trial.outdir / "subjects.csv", index=False)
    trial.milestones.to_csv(trial.outdir / "milestones.csv", index=False)
    trial.truth_dir.mkdir(parents=True, exist_ok=True)
    subjects.to_csv(trial.truth_dir / "subjects.csv", index=False)
    (trial.truth_dir / "outcome_model.json").write_text(json.dumps({
        "pfs_log_hr_tmb_high": pfs_cfg["log_hr_tmb_high"],
        "pfs_hr_tmb_high": round(math.exp(pfs_cfg["log_hr_tmb_high"]), 6),
        "adjusted_for": ["ARMCD"],
        "tmb_high_cutoff": tmb_high_cutoff,
        "pfs_median_months": pfs_cfg["median_months"],
        "response_log_or_tmb_high": resp["log_or_tmb_high"],
        "data_cutoff": trial.data_cutoff,
    }, indent=2, sort_keys=True) + "\n")
    (trial.truth_dir / "immune_model.json").write_text(json.dumps({
        "variable": "IMMUNE_SCORE (truth/subjects.csv)",
        "definition": "rho * z + sqrt(1 - rho^2) * e; z = normal score of the subject's uncensored PFS time ranked "
                      "within its arm (longer PFS, higher z); e standard normal",
        "rho_pfs": model["biomarkers"]["immune"]["rho_pfs"],
        "note": "modalities measuring immune biology derive their signal from IMMUNE_SCORE; higher is more inflamed",
    }, indent=2, sort_keys=True) + "\n")
    trial.params.update({"subjects": "subjects.csv", "milestones": "milestones.csv", "data_cutoff": trial.data_cutoff})
    trial.truth["subjects"] = subjects


def _immune_scores(pfs_true: np.ndarray, arms: list[str], rho: float, rng: np.random.Generator) -> np.ndarray:
    """Standard-normal latent scores whose within-arm normal-score correlation with PFS is ``rho``.

    Within arm, so that the score is a baseline trait independent of randomization.
    """
    from scipy.stats import norm, rankdata

    arms_arr = np.asarray(arms)
    z = np.zeros(len(pfs_true))
    for arm in sorted(set(arms)):
        idx = np.flatnonzero(arms_arr == arm)
        z[idx] = norm.ppf(rankdata(pfs_true[idx]) / (len(idx) + 1))
    noise = rng.standard_normal(len(pfs_true))
    return rho * z + math.sqrt(1 - rho * rho) * noise


def _milestones(subjects: pd.DataFrame, protocol: Protocol, cutoff: dt.date, jitter: int, rng: np.random.Generator) -> pd.DataFrame:
    """Milestone dates per subject: nominal schedule, jittered, stopped by progression/drop-out/cut-off."""
    until_of = {tp.until: tp.anchor for arm in protocol.arms.values() for tp in arm.timepoints if tp.until}
    rows = []
    for subj in subjects.itertuples(index=False):
        rand = dt.date.fromisoformat(subj.RANDDT)
        stop_day = min(
            subj.PFS_DAYS if subj.PFS_EVENT else math.inf,
            subj.DROPOUT_DAY if not pd.isna(subj.DROPOUT_DAY) else math.inf,
            (cutoff - rand).days,
        )
        dates: dict[str, dt.date] = {}
        previous = -1
        for code, spec in protocol.arms[subj.ARMCD].milestones.items():
            if "day" not in spec:
                continue
            if spec.get("stratum") and spec["stratum"] != subj.STRATUM:
                continue
            day = spec["day"] + (int(rng.integers(-jitter, jitter + 1)) if spec["day"] else 0)
            day = max(day, previous + 1) if spec["day"] else 0
            previous = day
            if day <= stop_day:
                dates[code] = rand + dt.timedelta(days=day)
            elif code in until_of and until_of[code] in dates and math.isfinite(stop_day):
                # a repeating schedule ends when the subject stops (progression, drop-out, cut-off)
                dates[code] = rand + dt.timedelta(days=int(stop_day))
        if subj.PFS_EVENT:
            dates["PROGRESSION"] = rand + dt.timedelta(days=int(subj.PFS_DAYS))
        for code, date in dates.items():
            rows.append({N.USUBJID: subj.USUBJID, "MILESTONE": code, "DATE": date.isoformat()})
    return pd.DataFrame(rows, columns=[N.USUBJID, "MILESTONE", "DATE"])
