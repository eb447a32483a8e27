"""EXPLORATORY biomarker-outcome associations (lifelines, scipy).

For each grouping (a biomarker at its cut-off, or the CPS stratum) and each
population (all subjects, and within each arm): Kaplan-Meier medians of PFS and OS
with 95% CI, the log-rank test, the Cox hazard ratio with 95% CI (adjusted for arm
when the population spans arms), and ORR and DCR with exact CIs and Fisher's exact
test. Every row carries its n; nothing is adjusted for multiplicity; every row is
flagged exploratory.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .. import names as N
from ..log import get_logger

__all__ = ["associations", "association_frame", "grouping_rows", "groupings", "ASSOCIATION_COLUMNS"]

log = get_logger("analysis")

TIME_ENDPOINTS = ("PFS", "OS")
BINARY_ENDPOINTS = {"ORR": "RESPONDER", "DCR": "DISEASE_CONTROL"}


def groupings(wide: pd.DataFrame, described: dict[str, str], stems: dict[str, str]) -> list[tuple[str, str, pd.Series]]:
    """``(name, cut-off text, group per subject)``: the arm, the stratum, then every biomarker with groups."""
    out = [(N.ARMCD, "categories", wide[N.ARMCD])]  # the randomized comparison, for reference
    if wide[N.STRATUM].notna().any():
        out.append((N.STRATUM, "categories", wide[N.STRATUM]))
    seen = [_partition(g) for _, _, g in out]
    for name, text in described.items():
        group = wide[f"{stems[name]}_GROUP"]
        partition = _partition(group)
        if partition in seen:
            # e.g. a TMB-high flag column next to TMB at the same cut-off: the same subjects
            # in the same groups, so the same statistics; report them once
            log.info("associations: %s groups the subjects exactly as an earlier grouping; not repeated", name)
            continue
        seen.append(partition)
        out.append((name, text, group))
    return out


def _partition(group: pd.Series) -> frozenset:
    valid = group.dropna()
    return frozenset(frozenset(valid.index[valid == level]) for level in valid.unique())


def _reference(levels: list[str], groups: pd.Series, preferred: str | None) -> str:
    if preferred in levels:
        return preferred
    if "LOW" in levels:
        return "LOW"
    counts = groups.value_counts()
    return sorted(levels, key=lambda lv: (-counts[lv], lv))[0]


def _row(**kw) -> dict:
    base = {"N_EVENTS": None, "ESTIMATE": np.nan, "ESTIMATE_TYPE": None, "CI_LOWER": np.nan, "CI_UPPER": np.nan,
            "P_VALUE": np.nan, "ADJUSTED_FOR": None, "NOTE": None, "EXPLORATORY": True}
    base.update(kw)
    return base


def _finite(x: float) -> float:
    return float(x) if x is not None and np.isfinite(x) else np.nan


def _km(times: pd.Series, events: pd.Series) -> tuple[float, float, float, str | None]:
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    kmf = KaplanMeierFitter().fit(times, events)
    median = kmf.median_survival_time_
    ci = median_survival_times(kmf.confidence_interval_)
    lower, upper = float(ci.iloc[0, 0]), float(ci.iloc[0, 1])
    note = None
    if not np.isfinite(median):
        note = "median not reached"
    elif not np.isfinite(upper):
        note = "upper confidence limit not reached"
    return _finite(median), _finite(lower), _finite(upper), note


def _time_rows(frame: pd.DataFrame, endpoint: str, levels: list[str], ref: str, adjust: list[str], common: dict, min_n: int) -> list[dict]:
    from lifelines import CoxPHFitter
    from lifelines.statistics import multivariate_logrank_test

    t_col, e_col = f"{endpoint}_MONTHS", f"{endpoint}_EVENT"
    data = frame[frame[t_col].notna() & frame[e_col].notna()]
    rows = []
    for level in levels:
        part = data[data["_GROUP"] == level]
        if not len(part):
            continue
        median, lower, upper, note = _km(part[t_col], part[e_col].astype(int))
        rows.append(_row(**common, ENDPOINT=endpoint, ROW_TYPE="GROUP", GROUP=level, TEST="Kaplan-Meier", N=len(part),
                         N_EVENTS=int(part[e_col].sum()), ESTIMATE=median, ESTIMATE_TYPE="MEDIAN_MONTHS",
                         CI_LOWER=lower, CI_UPPER=upper, NOTE=note))
    sizes = data["_GROUP"].value_counts()
    present = [lv for lv in levels if sizes.get(lv, 0) > 0]
    cmp_common = {**common, "ENDPOINT": endpoint, "ROW_TYPE": "COMPARISON"}
    if len(present) < 2 or sizes[present].min() < min_n or data[e_col].sum() == 0:
        reason = "fewer than two groups" if len(present) < 2 else ("no events" if data[e_col].sum() == 0 else f"a group has fewer than {min_n} subjects")
        rows.append(_row(**cmp_common, GROUP="all groups", TEST="log-rank", N=len(data), NOTE=f"not tested: {reason}"))
        return rows
    lr = multivariate_logrank_test(data[t_col], data["_GROUP"], data[e_col].astype(int))
    rows.append(_row(**cmp_common, GROUP="all groups", TEST="log-rank", N=len(data), N_EVENTS=int(data[e_col].sum()),
                     P_VALUE=float(lr.p_value)))
    design = pd.DataFrame({"T": data[t_col].astype(float), "E": data[e_col].astype(int)})
    for level in present:
        if level != ref:
            design[f"G_{level}"] = (data["_GROUP"] == level).astype(float)
    covariates = []
    for var in adjust:
        arms = sorted(data[var].dropna().unique())
        for arm in arms[1:]:
            design[f"A_{arm}"] = (data[var] == arm).astype(float)
            covariates.append(f"A_{arm}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cph = CoxPHFitter().fit(design, duration_col="T", event_col="E")
            summary = cph.summary
            fit_note = None
        except Exception as exc:  # lifelines ConvergenceError and singular designs
            summary, fit_note = None, f"Cox model did not fit: {type(exc).__name__}"
    warn_note = "; ".join(sorted({str(w.message).splitlines()[0][:120] for w in caught})) or None
    for level in present:
        if level == ref:
            continue
        name = f"G_{level}"
        kw = dict(GROUP=f"{level} vs {ref}", TEST="Cox", N=len(design), N_EVENTS=int(design["E"].sum()),
                  ESTIMATE_TYPE="HR", ADJUSTED_FOR=",".join(adjust) or "none")
        if summary is None:
            rows.append(_row(**cmp_common, **kw, NOTE=fit_note))
            continue
        rec = summary.loc[name]
        rows.append(_row(**cmp_common, **kw, ESTIMATE=_finite(rec["exp(coef)"]), CI_LOWER=_finite(rec["exp(coef) lower 95%"]),
                         CI_UPPER=_finite(rec["exp(coef) upper 95%"]), P_VALUE=_finite(rec["p"]), NOTE=warn_note))
    return rows


def _binary_rows(frame: pd.DataFrame, endpoint: str, levels: list[str], ref: str, common: dict, min_n: int) -> list[dict]:
    flag = BINARY_ENDPOINTS[endpoint]
    rows = []
    for level in levels:
        part = frame[frame["_GROUP"] == level]
        if not len(part):
            continue
        k, n = int(part[flag].sum()), len(part)
        ci = stats.binomtest(k, n).proportion_ci(method="exact")
        rows.append(_row(**common, ENDPOINT=endpoint, ROW_TYPE="GROUP", GROUP=level, TEST="Binomial (Clopper-Pearson)",
                         N=n, N_EVENTS=k, ESTIMATE=k / n, ESTIMATE_TYPE="RATE", CI_LOWER=ci.low, CI_UPPER=ci.high))
    sizes = frame["_GROUP"].value_counts()
    for level in levels:
        if level == ref or sizes.get(level, 0) == 0:
            continue
        pair = frame[frame["_GROUP"].isin([level, ref])]
        kw = dict(ENDPOINT=endpoint, ROW_TYPE="COMPARISON", GROUP=f"{level} vs {ref}", TEST="Fisher exact", N=len(pair),
                  N_EVENTS=int(pair[flag].sum()), ESTIMATE_TYPE="OR")
        if sizes.get(ref, 0) < min_n or sizes[level] < min_n:
            rows.append(_row(**common, **kw, NOTE=f"not tested: a group has fewer than {min_n} subjects"))
            continue
        a = int(pair.loc[pair["_GROUP"] == level, flag].sum())
        b = int(sizes[level]) - a
        c = int(pair.loc[pair["_GROUP"] == ref, flag].sum())
        d = int(sizes[ref]) - c
        table = np.array([[a, b], [c, d]])
        odds, p = stats.fisher_exact(table)
        ci = stats.contingency.odds_ratio(table).confidence_interval()
        rows.append(_row(**common, **kw, ESTIMATE=_finite(odds), CI_LOWER=_finite(ci.low), CI_UPPER=_finite(ci.high), P_VALUE=float(p),
                         NOTE=None if np.isfinite(odds) and odds > 0 else "odds ratio at a boundary (a zero cell)"))
    return rows


def _populations(wide: pd.DataFrame, cfg: dict) -> list[tuple[str, pd.Series, list[str]]]:
    """``(name, subject mask, covariates)``: all subjects (adjusted for arm when both arms are there), each arm."""
    populations: list[tuple[str, pd.Series, list[str]]] = []
    if "ALL" in cfg["populations"]:
        multi_arm = wide[N.ARMCD].nunique() > 1
        populations.append(("ALL", pd.Series(True, index=wide.index), [N.ARMCD] if multi_arm else []))
    if "ARM" in cfg["populations"]:
        for arm in sorted(wide[N.ARMCD].dropna().unique()):
            populations.append((f"{N.ARMCD}={arm}", wide[N.ARMCD] == arm, []))
    return populations


def grouping_rows(wide: pd.DataFrame, name: str, cutoff: str, group: pd.Series, config: dict) -> list[dict]:
    """The association rows of one grouping (every population and endpoint): one grouping's share
    of :func:`associations`, which the analysis step computes for several groupings at once."""
    cfg = config["associations"]
    min_n = cfg["min_group_size"]
    rows: list[dict] = []
    for pop, mask, adjust in _populations(wide, cfg):
        if name == N.ARMCD:
            if pop != "ALL":
                continue
            adjust = []
        frame = wide[mask & group.notna()].assign(_GROUP=group[mask & group.notna()].astype(str))
        if not len(frame):
            continue
        levels = sorted(frame["_GROUP"].unique())
        ref = _reference(levels, frame["_GROUP"], cfg.get("reference_groups", {}).get(name))
        common = {"BIOMARKER": name, "CUTOFF": cutoff, "POPULATION": pop}
        for endpoint in TIME_ENDPOINTS:
            rows += _time_rows(frame, endpoint, levels, ref, adjust, common, min_n)
        for endpoint in BINARY_ENDPOINTS:
            rows += _binary_rows(frame, endpoint, levels, ref, common, min_n)
    return rows


def association_frame(rows: list[dict]) -> pd.DataFrame:
    """``analysis.associations`` from the rows of :func:`grouping_rows`, in order."""
    out = pd.DataFrame(rows, columns=ASSOCIATION_COLUMNS)
    out["N_EVENTS"] = out["N_EVENTS"].astype("Int32")
    return out


def associations(wide: pd.DataFrame, groups: list[tuple[str, str, pd.Series]], config: dict) -> pd.DataFrame:
    """``analysis.associations`` rows for every grouping, endpoint and population."""
    return association_frame([row for name, cutoff, group in groups for row in grouping_rows(wide, name, cutoff, group, config)])


ASSOCIATION_COLUMNS = ["BIOMARKER", "CUTOFF", "ENDPOINT", "POPULATION", "ROW_TYPE", "GROUP", "TEST", "N", "N_EVENTS",
                       "ESTIMATE", "ESTIMATE_TYPE", "CI_LOWER", "CI_UPPER", "P_VALUE", "ADJUSTED_FOR", "NOTE", "EXPLORATORY"]
