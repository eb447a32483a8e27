"""Per-specimen part files, and the cohort tables and figures made from them.

``write_parts`` writes ``<specimen>.flow_subsets.parquet``, ``<specimen>.flow_qc.parquet``
and ``<specimen>.flow.h5ad``; ``collect`` merges every specimen's parts into
``immune/flow_subsets.parquet`` and ``immune/flow_qc.parquet``, reports the reference
control's drift across batches (``immune/flow_drift.parquet``) and draws the gating of
one representative specimen per panel and of every failing one.
"""

from __future__ import annotations

import math
from pathlib import Path

import anndata as ad
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ... import names as N
from ...errors import InputError
from ...io import atomic_path
from ...log import get_logger
from ._plot import plot_gating, save_figure
from ._qc import FAIL, PASS
from ._settings import FlowSettings, QCSettings, load_flow_settings
from ._specimen import FlowSpecimen
from ._strategy import load_gating_ml
from ._tables import DRIFT_COLUMNS, QC_COLUMNS, SUBSET_COLUMNS

__all__ = ["write_parts", "collect", "batch_drift", "plot_gating", "PART_SUFFIXES"]

log = get_logger("flow")
SUBSETS_PART, QC_PART, ADATA_PART = ".flow_subsets.parquet", ".flow_qc.parquet", ".flow.h5ad"
PART_SUFFIXES = (SUBSETS_PART, QC_PART, ADATA_PART)
OUT_DIR = "immune"


def write_parts(result: FlowSpecimen, outdir: str | Path, specimen: str, *, anndata: bool = True) -> list[Path]:
    """Write one specimen's parts (atomically) and return their paths."""
    outdir = Path(outdir)
    paths = [_write(result.subsets, SUBSET_COLUMNS, outdir / f"{specimen}{SUBSETS_PART}"),
             _write(result.qc, QC_COLUMNS, outdir / f"{specimen}{QC_PART}")]
    if anndata:
        path = outdir / f"{specimen}{ADATA_PART}"
        with atomic_path(path) as tmp:
            result.adata.write_h5ad(tmp)
        paths.append(path)
    return paths


def collect(parts: list[str | Path], outdir: str | Path, *, settings: FlowSettings | None = None,
            plots: bool = True) -> dict[str, Path]:
    """Merge part files (any of a specimen's three; the others are found beside it) into the cohort outputs."""
    settings = settings or load_flow_settings()
    stems = sorted({_stem(Path(p)) for p in parts})
    if not stems:
        raise InputError("no flow part files to collect", field="parts")
    subsets = pd.concat([_read(Path(f"{s}{SUBSETS_PART}"), SUBSET_COLUMNS) for s in stems], ignore_index=True)
    qc = pd.concat([_read(Path(f"{s}{QC_PART}"), QC_COLUMNS) for s in stems], ignore_index=True)
    duplicated = subsets.drop_duplicates([N.SPECIMEN_ID, "PANEL"]).duplicated([N.SPECIMEN_ID, "PANEL"])
    if duplicated.any():
        raise InputError("two part files hold the same specimen and panel")
    subsets = subsets.sort_values([N.USUBJID, N.SPECIMEN_ID, "PANEL"], kind="stable", na_position="last")
    outdir = Path(outdir)
    out = {"flow_subsets": _write(subsets, SUBSET_COLUMNS, outdir / OUT_DIR / "flow_subsets.parquet"),
           "flow_qc": _write(qc, QC_COLUMNS, outdir / OUT_DIR / "flow_qc.parquet")}
    drift = batch_drift(subsets, settings.qc)
    out["flow_drift"] = _write(drift, DRIFT_COLUMNS, outdir / OUT_DIR / "flow_drift.parquet")
    if plots:
        for specimen, panel, role in _to_plot(subsets, qc):
            stem = next((s for s in stems if Path(s).name == specimen), None)
            if stem is None or not Path(f"{stem}{ADATA_PART}").exists():
                continue
            out[f"gating_{panel}_{specimen}"] = _plot(Path(f"{stem}{ADATA_PART}"), settings, panel, specimen, role,
                                                     outdir / OUT_DIR)
    log.info("flow collect: %d specimens, %d failing QC", subsets[N.SPECIMEN_ID].nunique(),
             int((qc["CHECK"].eq("specimen") & qc["STATUS"].eq(FAIL)).sum()))
    return out


def batch_drift(subsets: pd.DataFrame, qc: QCSettings) -> pd.DataFrame:
    """The reference control's % of parent per batch against its median over batches.

    Flagged when the difference exceeds ``max_abs_pp`` and ``max_rel`` of the median, and
    ``min_z`` binomial standard errors of the batch's percentage (its parent events).
    """
    controls = subsets[subsets["CONTROL"].fillna(False).astype(bool) & subsets["PCT_PARENT"].notna()]
    rows = []
    for (panel, subset), group in controls.groupby(["PANEL", "SUBSET"], sort=True):
        median = float(group["PCT_PARENT"].median())
        for r in group.sort_values("BATCH").itertuples(index=False):
            diff = float(r.PCT_PARENT) - median
            rel = diff / median if median else None
            p = min(max(median / 100.0, 1e-6), 1 - 1e-6)
            z = abs(diff) / 100.0 / math.sqrt(p * (1 - p) / r.PARENT_EVENTS) if r.PARENT_EVENTS else 0.0
            flagged = abs(diff) > qc.drift_max_abs_pp and (rel is None or abs(rel) > qc.drift_max_rel) \
                and z > qc.drift_min_z
            rows.append({"PANEL": panel, "SUBSET": subset, "BATCH": r.BATCH, N.SPECIMEN_ID: r.SPECIMEN_ID,
                         "PCT_PARENT": float(r.PCT_PARENT), "MEDIAN_PCT_PARENT": median, "DIFF_PP": diff,
                         "REL_DIFF": rel, "DRIFT": bool(flagged)})
    return pd.DataFrame(rows, columns=list(DRIFT_COLUMNS))


def _to_plot(subsets: pd.DataFrame, qc: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(specimen, panel, role): per panel the passing specimen nearest the cohort median, and every failing one."""
    status = qc[qc["CHECK"].eq("specimen")].set_index([N.SPECIMEN_ID, "PANEL"])["STATUS"]
    picks = []
    trial = subsets[~subsets["CONTROL"].fillna(False).astype(bool) & subsets["PCT_CD45"].notna()]
    for panel, group in trial.groupby("PANEL", sort=True):
        wide = group.pivot_table(index=N.SPECIMEN_ID, columns="SUBSET", values="PCT_CD45")
        passing = [s for s in wide.index if status.get((s, panel)) == PASS]
        if passing:
            distance = (wide.loc[passing] - wide.median()).abs().sum(axis=1)
            picks.append((str(distance.idxmin()), panel, "representative"))
    for (specimen, panel), value in status.items():
        if value == FAIL:
            picks.append((specimen, panel, "failing QC"))
    return picks


def _plot(path: Path, settings: FlowSettings, panel: str, specimen: str, role: str, outdir: Path) -> Path:
    adata = ad.read_h5ad(path)
    strategy = load_gating_ml(settings.panel(panel).strategy)
    fig = plot_gating(adata, strategy, title=f"{panel} gating, {specimen} ({role})")
    target = outdir / f"flow_gating_{panel}_{specimen}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        save_figure(fig, tmp)
    return target


def _stem(path: Path) -> str:
    for suffix in PART_SUFFIXES:
        if path.name.endswith(suffix):
            return str(path)[: -len(suffix)]
    raise InputError("not a flow part file (expected *.flow_subsets.parquet, *.flow_qc.parquet or *.flow.h5ad)",
                     file=path)


def _write(frame: pd.DataFrame, columns: dict[str, pa.DataType], path: Path) -> Path:
    frame = frame.reindex(columns=list(columns))
    arrays = [pa.array(_cells(frame[c], t), type=t, from_pandas=True) for c, t in columns.items()]
    table = pa.Table.from_arrays(arrays, schema=pa.schema([pa.field(c, t) for c, t in columns.items()]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def _cells(series: pd.Series, kind: pa.DataType) -> list:
    values = series.astype(object).where(series.notna(), None).tolist()
    if pa.types.is_integer(kind):
        return [None if v is None else int(v) for v in values]
    if pa.types.is_floating(kind):
        return [None if v is None else float(v) for v in values]
    if pa.types.is_boolean(kind):
        return [None if v is None else bool(v) for v in values]
    return [None if v is None else str(v) for v in values]


def _read(path: Path, columns: dict[str, pa.DataType]) -> pd.DataFrame:
    if not path.exists():
        raise InputError("flow part file not found (each specimen has a subsets and a QC part)", file=path)
    frame = pq.read_table(path).to_pandas()
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"not a flow part file: column {missing[0]} is missing", file=path)
    return frame[list(columns)]

