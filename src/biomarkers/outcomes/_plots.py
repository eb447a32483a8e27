"""Kaplan-Meier curves and the forest plot of hazard ratios (PNG, matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["plot_km", "plot_forest", "plot_name"]


def plot_name(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_km(frame: pd.DataFrame, group: pd.Series, title: str, path: Path) -> Path:
    """PFS and OS Kaplan-Meier curves by group, side by side, with numbers at risk in the legend."""
    from lifelines import KaplanMeierFitter
    from lifelines.plotting import add_at_risk_counts

    plt = _pyplot()
    n_groups = max(int(group.nunique()), 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2 + 0.18 * n_groups), sharey=True)
    for ax, endpoint in zip(axes, ("PFS", "OS")):
        t, e = f"{endpoint}_MONTHS", f"{endpoint}_EVENT"
        ok = frame[t].notna() & frame[e].notna() & group.notna()
        fitters = []
        for level in sorted(group[ok].astype(str).unique()):
            part = frame[ok & (group.astype(str) == level)]
            kmf = KaplanMeierFitter(label=str(level))
            kmf.fit(part[t].astype(float), part[e].astype(int))
            kmf.plot_survival_function(ax=ax, ci_show=True, show_censors=True, censor_styles={"ms": 4},
                                       label=f"{level} (n={len(part)}, events={int(part[e].sum())})")
            fitters.append(kmf)
        if fitters:
            # numbers at risk under the axis, as a statistician expects under a KM curve
            add_at_risk_counts(*fitters, ax=ax, rows_to_show=["At risk"], ypos=-0.45)
        ax.set_title(f"{endpoint}")
        ax.set_xlabel("months")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("probability event-free")
    fig.suptitle(f"{title} (exploratory)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
    return path


def plot_forest(assoc: pd.DataFrame, path: Path) -> Path | None:
    """Cox hazard ratios with 95% CI on a log scale, one line per biomarker, endpoint and population."""
    cox = assoc[(assoc["TEST"] == "Cox") & assoc["ESTIMATE"].notna() & assoc["CI_LOWER"].notna() & assoc["CI_UPPER"].notna()]
    if not len(cox):
        return None
    plt = _pyplot()
    labels = [f"{r.BIOMARKER} {r.GROUP} | {r.ENDPOINT} | {r.POPULATION} (n={r.N})" for r in cox.itertuples()]
    y = np.arange(len(cox))[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(cox) + 1.2))
    ax.errorbar(cox["ESTIMATE"], y, xerr=[cox["ESTIMATE"] - cox["CI_LOWER"], cox["CI_UPPER"] - cox["ESTIMATE"]],
                fmt="s", color="black", ms=4, capsize=2)
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    lo, hi = float(cox["CI_LOWER"].min()), float(cox["CI_UPPER"].max())
    ticks = [t for t in (0.01, 0.03, 0.1, 0.25, 0.5, 1, 2, 4, 10, 30, 100) if lo / 1.5 <= t <= hi * 1.5] or [1]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel("hazard ratio (95% CI), log scale; < 1 favours the first group")
    ax.set_title("Cox hazard ratios (exploratory; overall adjusted for arm)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
    return path
