"""PNG plots: the cohort's MSI score distribution, and each MSI-H specimen's most shifted sites."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ...io import atomic_path
from ._call import MSI_H
from ._reads import decode_counts

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["plot_msi"]

_TOP = 6
_MAX_LABELLED = 80  # specimens named under the score plot's bars


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    return path


def plot_msi(summary: pd.DataFrame, sites: pd.DataFrame | Callable[[str], pd.DataFrame],
             outdir: str | Path) -> dict[str, Path]:
    """The score plot, and one plot per MSI-H specimen of its most shifted sites.

    ``sites``: the site table, or a function giving one specimen's sites (read one at a
    time from the ``msi_sites`` dataset).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir = Path(outdir)
    out: dict[str, Path] = {}
    fig, ax = plt.subplots(figsize=(7, 3.8))
    evaluable = summary[summary["MSI_STATUS"] != "NOT_EVALUABLE"].sort_values("MSI_SCORE", kind="stable")
    palette = {MSI_H: "#c0392b", "INDETERMINATE": "#e67e22"}
    x = list(range(len(evaluable)))
    if len(evaluable) <= _MAX_LABELLED:
        ax.bar(x, evaluable["MSI_SCORE"], color=[palette.get(s, "#2e86c1") for s in evaluable["MSI_STATUS"]])
        if len(evaluable):  # each specimen's own cut-offs (its evaluated sites and its mode's calibration set them)
            ax.hlines(evaluable["THRESHOLD"], [i - 0.4 for i in x], [i + 0.4 for i in x], color="black", linewidth=1,
                      label="MSI-H from")
            ax.hlines(evaluable["MSS_CUTOFF"], [i - 0.4 for i in x], [i + 0.4 for i in x], color="grey", linewidth=1,
                      linestyles=":", label="not MSS from")
        ax.set_xticks(x, evaluable["SPECIMEN_ID"], rotation=90, fontsize=6)
    else:  # one bar per specimen is one artist each: a filled step curve per status, the cut-offs as steps
        status = evaluable["MSI_STATUS"].to_numpy()
        score = evaluable["MSI_SCORE"].to_numpy(dtype=float)
        for name, colour in (("MSS", "#2e86c1"), ("INDETERMINATE", palette["INDETERMINATE"]), (MSI_H, palette[MSI_H])):
            ax.fill_between(x, 0, score, where=status == name, step="mid", color=colour, linewidth=0)
        ax.step(x, evaluable["THRESHOLD"].to_numpy(dtype=float), where="mid", color="black", linewidth=1, label="MSI-H from")
        ax.step(x, evaluable["MSS_CUTOFF"].to_numpy(dtype=float), where="mid", color="grey", linewidth=1, linestyle=":",
                label="not MSS from")
        ax.set_xticks([])  # thousands of labels would be unreadable: the distribution, sorted
        ax.set_xlabel(f"{len(evaluable):,} evaluable tumour specimens, sorted by score (msi.parquet names them)")
    ax.set_ylabel("MSI score (% unstable scored sites)")
    n_ne = int((summary["MSI_STATUS"] == "NOT_EVALUABLE").sum())
    ax.set_title(f"MSI score per tumour specimen (red: MSI-H, orange: indeterminate; {n_ne} not evaluable)", fontsize=10)
    if len(summary):
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    out["score_plot"] = _save(fig, outdir / "msi_scores.png")
    plt.close(fig)

    for specimen in summary.loc[summary["MSI_STATUS"] == MSI_H, "SPECIMEN_ID"]:
        own = sites(specimen) if callable(sites) else sites[sites["SPECIMEN_ID"] == specimen]
        rows = own[own["SHIFT"].notna()].sort_values(
            ["SHIFT", "SITE_ID"], ascending=[False, True], kind="stable").head(_TOP)
        fig, axes = plt.subplots(1, max(1, len(rows)), figsize=(2.3 * max(1, len(rows)), 2.8), squeeze=False)
        for ax, (_, row) in zip(axes[0], rows.iterrows()):
            tumour, ref = decode_counts(row["TUMOR_LENGTHS"]), decode_counts(row["REFERENCE_LENGTHS"])
            lengths = sorted(set(tumour) | set(ref))
            nt, nr = max(1, sum(tumour.values())), max(1, sum(ref.values()))
            w = 0.4 * len(row["UNIT"])  # lengths move by whole units: bars as wide as the unit allows
            ax.bar([k - w / 2 for k in lengths], [ref.get(k, 0) / nr for k in lengths], width=w, color="#7f8c8d", label="reference")
            ax.bar([k + w / 2 for k in lengths], [tumour.get(k, 0) / nt for k in lengths], width=w, color="#c0392b", label="tumour")
            ax.set_title(f"{row['SITE_ID']}\nq={row['Q_VALUE']:.1e}", fontsize=7)
            ax.set_xlabel("repeat length (bases)", fontsize=7)
            ax.tick_params(labelsize=6)
        axes[0][0].set_ylabel("fraction of fragments", fontsize=7)
        axes[0][0].legend(fontsize=6)
        fig.suptitle(f"{specimen}: most shifted microsatellites", fontsize=9)
        fig.tight_layout()
        out[f"sites_plot:{specimen}"] = _save(fig, outdir / f"msi_sites_{specimen}.png")
        plt.close(fig)
    return out
