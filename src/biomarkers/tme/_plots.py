"""PNG plots: signature scores per specimen, CPS against the randomization stratum, and the
eligibility checks per subject."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import names as N
from ..io import atomic_path

__all__ = ["plot_signatures", "plot_pathology"]

_FLAG, _PASS, _NE = "#c0392b", "#2e7d32", "#d5d8dc"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def plot_signatures(scores: pd.DataFrame, outdir: str | Path) -> dict[str, Path]:
    """``signatures_heatmap.png`` (specimens x signatures, z-scored per signature, ordered by GEP)."""
    plt = _pyplot()
    outdir = Path(outdir)
    label = N.SPECIMEN_ID if N.SPECIMEN_ID in scores else "SAMPLE"
    scored = scores[scores["STATUS"] == "SCORED"]
    if scored.empty:
        return {}
    wide = scored.pivot_table(index=label, columns="SIGNATURE", values="SCORE", aggfunc="first")
    order = [s for s in dict.fromkeys(scores["SIGNATURE"]) if s in wide.columns]
    wide = wide[order]
    if "GEP" in wide:
        wide = wide.sort_values("GEP", kind="stable")
    spread = wide.std(axis=0, ddof=0).replace(0, np.nan)
    z = ((wide - wide.mean(axis=0)) / spread).fillna(0.0)
    fig, ax = plt.subplots(figsize=(min(16, 2.5 + 0.32 * len(order)), min(24, 1.8 + 0.14 * len(wide))))
    image = ax.imshow(z.to_numpy(), aspect="auto", cmap="RdBu_r", vmin=-2.5, vmax=2.5, interpolation="nearest")
    ax.set_xticks(range(len(order)), [s.removeprefix("DANAHER_") for s in order], rotation=90, fontsize=7)
    ax.set_yticks(range(len(wide)), wide.index, fontsize=5 if len(wide) > 40 else 7)
    ax.set_title("Expression signatures per tumour specimen (z-score per signature; rows ordered by GEP)", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.6, label="z-score")
    fig.tight_layout()
    return {"signatures_heatmap": _save(fig, outdir / "signatures_heatmap.png")}


def plot_pathology(results: pd.DataFrame, checks: pd.DataFrame | None, outdir: str | Path,
                   *, baseline_timepoints: tuple[str, ...] = ("BASELINE", "SCREENING")) -> dict[str, Path]:
    """``cps_by_stratum.png`` (measured baseline CPS per randomization stratum) and
    ``eligibility_checks.png`` (subjects x checks: flagged, passed, not evaluable)."""
    plt = _pyplot()
    outdir = Path(outdir)
    out: dict[str, Path] = {}
    cps = results[(results["TEST"] == "CPS") & results[N.TIMEPOINT].isin(baseline_timepoints)]
    if checks is not None and len(checks) and len(cps):
        strata = checks.drop_duplicates(N.USUBJID).set_index(N.USUBJID)[N.STRATUM]
        mismatched = set(checks.loc[(checks["CHECK"] == "CPS_STRATUM_MISMATCH") & (checks["RESULT"] == "FLAGGED"), N.USUBJID])
        first = cps.sort_values([N.USUBJID, "RESULT_DATE"], na_position="last").drop_duplicates(N.USUBJID)
        first = first.assign(STRATUM=first[N.USUBJID].map(strata)).dropna(subset=[N.STRATUM])
        names = sorted(first[N.STRATUM].unique())
        fig, ax = plt.subplots(figsize=(4.8, 3.8))
        rng = np.random.default_rng(0)  # jitter only; fixed so the picture is the same each run
        for i, stratum in enumerate(names):
            rows = first[first[N.STRATUM] == stratum]
            x = i + rng.uniform(-0.18, 0.18, len(rows))
            colours = [_FLAG if s in mismatched else "#2e86c1" for s in rows[N.USUBJID]]
            ax.scatter(x, rows["VALUE"] + 0.5, c=colours, s=18)  # +0.5: CPS 0 on a log axis
        ax.set_yscale("log")
        ax.axhline(1.5, color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(names)), [f"stratum {s}" for s in names])
        ax.set_ylabel("baseline CPS + 0.5 (log scale)")
        ax.set_title(f"Measured CPS against the randomization stratum\n(red: mismatch, {len(mismatched)} subjects)", fontsize=9)
        fig.tight_layout()
        out["cps_by_stratum"] = _save(fig, outdir / "cps_by_stratum.png")
    if checks is not None and len(checks):
        subjects = sorted(checks[N.USUBJID].unique())
        names = list(dict.fromkeys(checks["CHECK"]))
        code = {"FLAGGED": 2, "PASSED": 1, "NOT_EVALUABLE": 0}
        grid = np.zeros((len(subjects), len(names)))
        position = {s: i for i, s in enumerate(subjects)}
        column = {c: j for j, c in enumerate(names)}
        for subject, check, result in zip(checks[N.USUBJID], checks["CHECK"], checks["RESULT"]):
            grid[position[subject], column[check]] = code[result]
        from matplotlib.colors import ListedColormap
        from matplotlib.patches import Patch

        fig, ax = plt.subplots(figsize=(5.5, min(24, 1.6 + 0.13 * len(subjects))))
        ax.imshow(grid, aspect="auto", cmap=ListedColormap([_NE, _PASS, _FLAG]), vmin=0, vmax=2, interpolation="nearest")
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(subjects)), subjects, fontsize=5 if len(subjects) > 40 else 7)
        ax.legend(handles=[Patch(color=_FLAG, label="flagged"), Patch(color=_PASS, label="passed"),
                           Patch(color=_NE, label="not evaluable")], loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
        ax.set_title("Eligibility and consistency checks", fontsize=9)
        fig.tight_layout()
        out["eligibility_checks"] = _save(fig, outdir / "eligibility_checks.png")
    return out
