"""The run's TMB picture: the filter funnel and TMB by arm (when known) and timepoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ... import names as N
from ...io import atomic_path
from ._rules import FILTERS

__all__ = ["plot_tmb"]


def plot_tmb(summary: pd.DataFrame, path: str | Path, *, subjects: pd.DataFrame | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, (ax_funnel, ax_tmb) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1.1, 1]})

    # Funnel: variants left after each filter, summed over specimens.
    remaining = [int(summary["N_VARIANTS"].sum())]
    labels = ["seen"]
    for name in FILTERS:
        remaining.append(remaining[-1] - int(summary[f"N_{name.upper()}"].sum()))
        labels.append(f"- {name}")
    y = np.arange(len(labels))[::-1]
    ax_funnel.barh(y, remaining, color="#4C72B0")
    for yi, val in zip(y, remaining):
        ax_funnel.text(val, yi, f" {val:,}", va="center", fontsize=8)
    ax_funnel.set_yticks(y, labels, fontsize=8)
    ax_funnel.set_xlabel("variants remaining (all specimens)")
    ax_funnel.set_title(f"Filter funnel: {remaining[-1]:,} counted")

    frame = summary.copy()
    group = N.TIMEPOINT
    if subjects is not None and N.ARMCD in subjects.columns:
        frame = frame.merge(subjects[[N.USUBJID, N.ARMCD]].drop_duplicates(N.USUBJID), on=N.USUBJID, how="left")
        frame["GROUP"] = frame[N.ARMCD].fillna("?").astype(str) + " / " + frame[N.TIMEPOINT].fillna("?").astype(str)
        group = "GROUP"
    groups = sorted(frame[group].fillna("?").astype(str).unique())
    rng = np.random.default_rng(0)  # fixed jitter: same inputs, same picture
    for i, g in enumerate(groups):
        vals = frame.loc[frame[group].fillna("?").astype(str) == g, "TMB"].to_numpy()
        ax_tmb.boxplot(vals, positions=[i], widths=0.5, showfliers=False)
        ax_tmb.scatter(i + rng.uniform(-0.15, 0.15, len(vals)), vals, s=14, alpha=0.8, color="#DD8452", zorder=3)
    for cutoff in sorted(set(summary["TMB_HIGH_CUTOFF"].astype(float))):  # the rules' cut-off, as each part recorded it
        ax_tmb.axhline(cutoff, ls="--", color="grey", lw=1)
        ax_tmb.text(len(groups) - 0.5, cutoff, f" TMB-high >= {cutoff:g}", va="bottom", ha="right", fontsize=8, color="grey")
    ax_tmb.set_xticks(range(len(groups)), groups, rotation=30, ha="right", fontsize=8)
    ax_tmb.set_ylabel("TMB (mut/Mb)")
    ax_tmb.set_title("TMB by " + ("arm and timepoint" if group == "GROUP" else "timepoint") + f" (n={len(frame)})")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path
