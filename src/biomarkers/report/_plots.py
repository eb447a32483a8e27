"""Figures the report draws itself: the custody completeness heatmap and biomarker distributions."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from .. import names as N
from ..workers import map_in_order

__all__ = ["completeness_heatmap", "biomarker_distributions"]


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def completeness_heatmap(comp: pd.DataFrame, timepoint_key) -> bytes | None:
    """Subjects (rows) x timepoint/specimen type (columns): collected, missing, extra, not expected."""
    if not len(comp):
        return None
    plt = _pyplot()
    from matplotlib.colors import ListedColormap

    comp = comp.copy()
    # 0 not expected, 1 expected and collected, 2 expected but missing, 3 collected though not required
    comp["STATE"] = np.select([comp["EXPECTED"] & comp["COLLECTED"], comp["EXPECTED"], comp["COLLECTED"]], [1, 2, 3], 0)
    cols = sorted({(t, s) for t, s in zip(comp[N.TIMEPOINT], comp[N.SPECIMEN_TYPE])}, key=lambda ts: (timepoint_key(ts[0]), ts[1]))
    subjects = sorted(comp[N.USUBJID].unique())
    grid = np.zeros((len(subjects), len(cols)), dtype=int)
    ri = {s: i for i, s in enumerate(subjects)}
    ci = {c: j for j, c in enumerate(cols)}
    for rec in comp.itertuples(index=False):
        grid[ri[getattr(rec, N.USUBJID)], ci[(getattr(rec, N.TIMEPOINT), getattr(rec, N.SPECIMEN_TYPE))]] = rec.STATE
    fig, ax = plt.subplots(figsize=(min(24, 2 + 0.22 * len(cols)), min(30, 1.5 + 0.16 * len(subjects))))
    cmap = ListedColormap(["#f4f4f4", "#2e7d32", "#c62828", "#1565c0"])
    ax.imshow(grid, aspect="auto", cmap=cmap, vmin=0, vmax=3, interpolation="nearest")
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([f"{t} {s}" for t, s in cols], rotation=90, fontsize=6)
    ax.set_yticks(range(len(subjects)))
    ax.set_yticklabels(subjects, fontsize=5)
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=c, label=l) for c, l in zip(cmap.colors[1:], ["collected", "expected, missing", "collected, not required"])],
              loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    ax.set_title("Custody completeness: subjects x timepoint x specimen type", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def biomarker_distributions(long: pd.DataFrame, timepoint_key, *, cpus: int = 1) -> list[tuple[str, str, bytes]]:
    """``(modality, biomarker, png)``: values by timepoint, QC-passed in black, failed in red
    (one figure per biomarker, drawn in up to ``cpus`` worker processes)."""
    if not len(long):
        return []
    numeric = long[long["VALUE"].notna()]
    keys, tasks = [], []
    for (modality, name), rows in numeric.groupby(["MODALITY", "BIOMARKER"], sort=True):
        keys.append((modality, name))
        tasks.append({"name": name, "tps": sorted(rows[N.TIMEPOINT].fillna("-").unique(), key=timepoint_key),
                      "rows": rows[[N.TIMEPOINT, "VALUE", "QC_PASS", "UNIT"]]})
    pngs = map_in_order(_distribution, tasks, workers=cpus)
    return [(modality, name, png) for (modality, name), png in zip(keys, pngs)]


def _distribution(name: str, tps: list[str], rows: pd.DataFrame) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.5 + 0.9 * len(tps), 3))
    rng = np.random.default_rng(0)  # fixed jitter: the report is deterministic
    for i, tp in enumerate(tps):
        sel = rows[rows[N.TIMEPOINT].fillna("-") == tp]
        x = i + rng.uniform(-0.15, 0.15, size=len(sel))
        colors = np.where(sel["QC_PASS"], "black", "red")
        ax.scatter(x, sel["VALUE"], s=10, c=colors, alpha=0.8)
    ax.set_xticks(range(len(tps)))
    ax.set_xticklabels(tps, rotation=30, fontsize=7)
    unit = rows["UNIT"].dropna().iloc[0] if rows["UNIT"].notna().any() else ""
    ax.set_ylabel(f"{name} ({unit})" if unit else name, fontsize=8)
    ax.set_title(f"{name}: n={len(rows)} values, {int((~rows['QC_PASS']).sum())} failing QC (red)", fontsize=8)
    fig.tight_layout()
    return _png(fig)
