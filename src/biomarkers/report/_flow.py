"""Report section of flow cytometry: gating figures, subset trajectories by arm, QC and batch drift.

Reads the declared tables only (``immune.flow_subsets``, ``immune.flow_qc``,
``immune.flow_drift``): the trajectories are drawn for every flow biomarker the
subsets table declares (``schemas.Biomarker``, with its rows and value column), so a
biomarker added to ``assets/flow/subsets.yaml`` appears here without code. The gating
figures are those ``biomarkers flow collect`` drew under ``immune/flow/`` (one
representative specimen per panel, and every failing one).
"""

from __future__ import annotations

import pandas as pd

from .. import names as N
from .. import schemas
from ._context import ReportContext
from ._html import figures, img, table
from ._plots import _png, _pyplot

__all__ = ["flow_section", "FLOW_FIGURES"]

SUBSETS = "immune.flow_subsets"
FLOW_FIGURES = "immune/flow"   # the folder of the gating figures, claimed by this section


def flow_section(ctx: ReportContext) -> str | None:
    subsets, qc = ctx.table(SUBSETS), ctx.table("immune.flow_qc")
    if subsets is None or qc is None:
        return None
    specimen_qc = qc[qc["CHECK"] == "specimen"]
    counts = specimen_qc["STATUS"].value_counts()
    n_controls = subsets.loc[subsets["CONTROL"].astype(bool), N.SPECIMEN_ID].nunique()
    parts = [f"<p>{len(specimen_qc)} FCS files gated ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}), "
             f"{n_controls} of them reference controls. Thresholds: assets/flow/qc.yaml; rules: docs/flow.md.</p>"]
    gating = [p for p in ctx.pngs("immune") if p.relative_to(ctx.results).as_posix().startswith(f"{FLOW_FIGURES}/")]
    if gating:
        parts += ["<h3>Gating</h3>", "<p>The strategy's 2-D plots for one representative specimen per panel (passing QC, "
                  "nearest the cohort median) and for every specimen failing QC.</p>", *figures(ctx.results, gating)]
    png = trajectories(subsets, _arms(ctx), ctx.timepoint_key)
    if png:
        parts += ["<h3>Subsets over timepoints by arm</h3>",
                  "<p>Median over subjects (QC passing: PASS or WARN; reference controls left out), with the "
                  "interquartile range shaded.</p>", img(png, "flow subset trajectories by arm")]
    parts += ["<h3>QC per file</h3>", table(_qc_wide(qc), max_rows=400)]
    failing = qc[(qc["STATUS"] == "FAIL") & (qc["CHECK"] != "specimen")]
    if len(failing):
        parts += ["<h4>Failing checks</h4>",
                  table(failing[[N.USUBJID, N.SPECIMEN_ID, N.TIMEPOINT, "PANEL", "CHECK", "VALUE", "THRESHOLD", "DETAIL"]])]
    drift = ctx.table("immune.flow_drift")
    if drift is not None and len(drift):
        flagged = drift[drift["DRIFT"]]
        parts += [f"<h3>Reference control across batches ({drift['BATCH'].nunique()} batches)</h3>",
                  f"<p>{len(flagged)} subset-batch pairs drift beyond the limits of assets/flow/qc.yaml.</p>",
                  table(flagged if len(flagged) else drift.head(0))]
    return "\n".join(parts)


def _arms(ctx: ReportContext) -> pd.Series | None:
    subjects = ctx.table("analysis.subjects")
    return subjects.set_index(N.USUBJID)[N.ARMCD] if subjects is not None else None


def _qc_wide(qc: pd.DataFrame) -> pd.DataFrame:
    """One row per file, one column per check (its status); failing files first."""
    order = list(dict.fromkeys(qc["CHECK"]))
    wide = qc.pivot_table(index=[N.SPECIMEN_ID, "PANEL"], columns="CHECK", values="STATUS", aggfunc="first")[order]
    wide.columns.name = None
    wide = wide.reset_index()
    rank = wide["specimen"].map({"FAIL": 0, "WARN": 1}).fillna(2)
    return wide.assign(_rank=rank).sort_values(["_rank", N.SPECIMEN_ID], kind="stable").drop(columns="_rank")


def trajectories(subsets: pd.DataFrame, arms: pd.Series | None, timepoint_key) -> bytes | None:
    """One panel per declared flow biomarker: median (and IQR) per timepoint, one line per arm."""
    markers = schemas.TABLES[SUBSETS].biomarkers
    trial = subsets[~subsets["CONTROL"].astype(bool) & subsets[N.USUBJID].notna()].copy()
    if trial.empty or not markers:
        return None
    trial[N.ARMCD] = trial[N.USUBJID].map(arms) if arms is not None else "all"
    trial[N.ARMCD] = trial[N.ARMCD].fillna("unknown")
    timepoints = sorted(trial[N.TIMEPOINT].dropna().unique(), key=timepoint_key)
    plt = _pyplot()
    ncols = 4
    nrows = -(-len(markers) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.6 * nrows), squeeze=False)
    for ax, marker in zip(axes.flat, markers):
        rows = trial
        for column, value in marker.where:
            rows = rows[rows[column] == value]
        rows = rows[rows[marker.qc_column].isin(marker.qc_pass) & rows[marker.column].notna()]
        for arm, group in rows.groupby(N.ARMCD, sort=True):
            stats = group.groupby(N.TIMEPOINT)[marker.column].describe()
            stats = stats.reindex([t for t in timepoints if t in stats.index])
            x = [timepoints.index(t) for t in stats.index]
            line, = ax.plot(x, stats["50%"], marker="o", ms=3, label=f"{arm} (n={group[N.USUBJID].nunique()})")
            ax.fill_between(x, stats["25%"], stats["75%"], color=line.get_color(), alpha=0.15)
        ax.set_title(marker.name.removeprefix("Flow "), fontsize=9)
        ax.set_ylabel(marker.unit, fontsize=8)
        ax.set_xticks(range(len(timepoints)), timepoints, rotation=45, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(markers):]:
        ax.set_axis_off()
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper right", fontsize=8, title=N.ARMCD, title_fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.93, 1))
    return _png(fig)
