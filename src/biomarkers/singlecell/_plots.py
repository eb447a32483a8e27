"""Pictures: a specimen's UMAP coloured by cell type, and composition bars by timepoint and arm."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from .. import names as N
from ..io import atomic_path
from ._settings import UNASSIGNED

__all__ = ["plot_umap", "plot_composition", "palette"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def palette(labels: list[str]) -> dict[str, str]:
    """Stable colours by label (tab20 in sorted order; unassigned grey)."""
    plt = _pyplot()
    cmap = plt.get_cmap("tab20")
    named = sorted(label for label in set(labels) if label != UNASSIGNED)
    colours = {label: _hex(cmap(i % 20)) for i, label in enumerate(named)}
    colours[UNASSIGNED] = "#BBBBBB"
    return colours


def _hex(rgba) -> str:
    return "#" + "".join(f"{int(round(255 * c)):02X}" for c in rgba[:3])


def plot_umap(adata: ad.AnnData, path: str | Path, *, title: str = "", key: str = "cell_type") -> Path:
    """UMAP of one specimen's cells coloured by ``obs[key]``, written as PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    if "X_umap" in adata.obsm and adata.n_obs:
        labels = adata.obs[key].astype(str).to_numpy()
        colours = palette(list(labels))
        xy = adata.obsm["X_umap"]
        for label in sorted(set(labels), key=lambda s: (s == UNASSIGNED, s)):
            m = labels == label
            ax.scatter(xy[m, 0], xy[m, 1], s=4, c=colours[label], label=f"{label} ({int(m.sum())})", linewidths=0)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, markerscale=3, frameon=False)
    else:
        ax.text(0.5, 0.5, "no cells to show", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.set_title(title or f"{adata.n_obs:,} cells", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def plot_composition(comp: pd.DataFrame, path: str | Path, *, arms: pd.Series | None = None, title: str = "") -> Path:
    """Stacked bars of cell-type fractions, one bar per specimen, grouped by arm then timepoint."""
    plt = _pyplot()
    frame = comp[comp["PARENT_TYPE"].isna()].copy()
    frame[N.ARMCD] = frame[N.USUBJID].map(arms) if arms is not None else ""
    frame[N.ARMCD] = frame[N.ARMCD].fillna("")
    frame[N.TIMEPOINT] = frame[N.TIMEPOINT].fillna("")
    wide = frame.pivot_table(index=[N.ARMCD, N.TIMEPOINT, N.SPECIMEN_ID], columns="CELL_TYPE", values="FRACTION",
                             aggfunc="sum", fill_value=0.0, observed=True).sort_index()
    order = list(dict.fromkeys(frame["CELL_TYPE"]))
    wide = wide[[c for c in order if c in wide.columns]]
    colours = palette(list(wide.columns))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.28 * len(wide) + 3), 4.8))
    x = np.arange(len(wide))
    bottom = np.zeros(len(wide))
    for label in wide.columns:
        ax.bar(x, wide[label].to_numpy(), bottom=bottom, color=colours[label], width=0.85, label=label)
        bottom += wide[label].to_numpy()
    groups = [f"{a}\n{t}".strip() for a, t, _ in wide.index]
    starts = [i for i in range(len(groups)) if i == 0 or groups[i] != groups[i - 1]]
    for i, s in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(groups)
        ax.text((s + end - 1) / 2, 1.01, groups[s], ha="center", va="bottom", fontsize=6)
        if s:
            ax.axvline(s - 0.5, color="black", linewidth=0.8)
    ax.set_xticks(x, [sid for _, _, sid in wide.index], rotation=90, fontsize=6)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("fraction of cells")
    ax.set_title(title, fontsize=10, pad=14)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
