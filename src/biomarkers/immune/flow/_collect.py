"""Per-specimen part files, and the cohort tables and figures made from them.

``write_parts`` writes ``<specimen>.flow_subsets.parquet``, ``<specimen>.flow_qc.parquet``
and ``<specimen>.flow.h5ad``; ``collect`` merges every specimen's parts into
``immune/flow_subsets.parquet`` and ``immune/flow_qc.parquet``, reports the reference
control's drift across batches (``immune/flow_drift.parquet``) and draws the gating of
one representative specimen per panel and of every failing one.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import anndata as ad
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ... import names as N
from ...errors import InputError
from ...io import atomic_path, staged_dir
from ...log import get_logger
from ...schemas import TABLES, write_table
from ._plot import plot_gating, save_figure
from ._qc import FAIL, PASS
from ._settings import FlowSettings, QCSettings, load_flow_settings
from ._inputs import counts_for
from ._specimen import FlowSpecimen, gate_specimen
from ._strategy import load_gating_ml, workspace_samples
from ._tables import DRIFT_COLUMNS, DRIFT_TABLE, QC_COLUMNS, QC_TABLE, SUBSET_COLUMNS, SUBSETS_TABLE

__all__ = ["write_parts", "gate_to_parts", "collect", "batch_drift", "plot_gating", "PART_SUFFIXES"]

log = get_logger("flow")
SUBSETS_PART, QC_PART, ADATA_PART = ".flow_subsets.parquet", ".flow_qc.parquet", ".flow.h5ad"
PART_SUFFIXES = (SUBSETS_PART, QC_PART, ADATA_PART)
OUT_DIR = "immune"
H5AD_DIR = "flow"           # immune/flow/: <specimen>.<panel>.h5ad and the gating figures


def write_parts(result: FlowSpecimen, outdir: str | Path, specimen: str, *, anndata: bool = True) -> list[Path]:
    """Write one specimen's parts together (or none of them) and return their paths."""
    outdir = Path(outdir)
    with staged_dir(outdir) as stage:
        _write(result.subsets, SUBSET_COLUMNS, stage / f"{specimen}{SUBSETS_PART}")
        _write(result.qc, QC_COLUMNS, stage / f"{specimen}{QC_PART}")
        if anndata:
            result.adata.write_h5ad(stage / f"{specimen}{ADATA_PART}")
    suffixes = PART_SUFFIXES if anndata else PART_SUFFIXES[:2]
    return [outdir / f"{specimen}{s}" for s in suffixes]


def part_stem(specimen: str, panel: str) -> str:
    """File stem of a specimen's parts for one panel: one task per FCS file, never two with the same name."""
    return f"{specimen}.{panel}"


def gate_to_parts(fcs: str | Path, outdir: str | Path, *, specimen: str, subject: str | None = None,
                  timepoint: str | None = None, panel: str = "PBMC16", batch: str | None = None, control: bool = False,
                  protocol: str | Path | None = None, counts: str | Path | None = None,
                  workspace: str | Path | None = None, workspace_sample: str | None = None,
                  gating_ml: str | Path | None = None, compensation: str | Path | None = None,
                  transform: str = "default", drop_unstable: bool | None = None, panels: str | Path | None = None,
                  subsets: str | Path | None = None, qc: str | Path | None = None) -> list[Path]:
    """One specimen's FCS file to its part files (``biomarkers flow gate``).

    ``protocol`` gives STUDYID (default: the bundled protocol); ``counts`` is the counts
    CSV (``assets/flow_counts.schema.json``), of which this specimen's row is used;
    ``panels``, ``subsets`` and ``qc`` are user copies of the bundled ``assets/flow`` files.
    A reference control (``control``) has no subject. With a ``workspace`` and no
    ``workspace_sample``, the workspace gates the file when it names a sample after the
    FCS file or the specimen, and the panel's strategy gates it otherwise (as
    ``--flow_workspace`` does for a run); a ``workspace_sample`` it lacks is an error.
    """
    from ...protocol import load_protocol

    if workspace is not None and workspace_sample is None:
        named = {s for names in workspace_samples(workspace).values() for s in names}
        workspace_sample = next((n for n in (Path(fcs).name, specimen) if n in named), None)
        workspace = workspace if workspace_sample else None
    study = load_protocol(protocol)
    settings = load_flow_settings(panels=panels, subsets=subsets, qc=qc)
    result = gate_specimen(fcs, specimen=specimen, subject=None if control else subject, timepoint=timepoint,
                           panel=panel, batch=batch, control=control, studyid=study.studyid, settings=settings,
                           gating_ml=gating_ml, workspace=workspace, workspace_sample=workspace_sample,
                           compensation=compensation, transform=transform, counts=counts_for(counts, specimen),
                           drop_unstable=drop_unstable)
    study.check_ids(subject=None if control else subject, specimen=specimen)  # before they name files
    return write_parts(result, outdir, part_stem(specimen, panel))


def collect(parts: list[str | Path], outdir: str | Path, *, settings: FlowSettings | None = None,
            plots: bool = True) -> dict[str, Path]:
    """Merge part files (any of a specimen's three; the others are found beside it) into the cohort outputs.

    Writes ``immune/flow_subsets.parquet``, ``immune/flow_qc.parquet``,
    ``immune/flow_drift.parquet``, each specimen's ``immune/flow/<specimen>.h5ad`` and the
    gating figures, all together or none of them.
    """
    settings = settings or load_flow_settings()
    stems = sorted({_stem(Path(p)) for p in parts})
    if not stems:
        raise InputError("no flow part files to collect", field="parts")
    subsets = pd.concat([_read(Path(f"{s}{SUBSETS_PART}"), SUBSET_COLUMNS) for s in stems], ignore_index=True)
    qc = pd.concat([_read(Path(f"{s}{QC_PART}"), QC_COLUMNS) for s in stems], ignore_index=True)
    duplicated = subsets.drop_duplicates([N.SPECIMEN_ID, "PANEL"]).duplicated([N.SPECIMEN_ID, "PANEL"])
    if duplicated.any():
        raise InputError("two part files hold the same specimen and panel", field=N.SPECIMEN_ID,
                         value=str(subsets.drop_duplicates([N.SPECIMEN_ID, "PANEL"])[duplicated][N.SPECIMEN_ID].iloc[0]))
    subsets = subsets.sort_values([N.USUBJID, N.SPECIMEN_ID, "PANEL"], kind="stable", na_position="last")
    qc = qc.sort_values([N.USUBJID, N.SPECIMEN_ID, "PANEL"], kind="stable", na_position="last")
    outdir = Path(outdir)
    drift = batch_drift(subsets, settings.qc)
    out: dict[str, Path] = {}
    with staged_dir(outdir) as stage:
        for key, frame, name in (("flow_subsets", subsets, SUBSETS_TABLE), ("flow_qc", qc, QC_TABLE),
                                 ("flow_drift", drift, DRIFT_TABLE)):
            out[key] = outdir / _publish(frame, name, stage).relative_to(stage)
        for stem in stems:
            source = Path(f"{stem}{ADATA_PART}")
            if source.exists():
                target = stage / OUT_DIR / H5AD_DIR / f"{Path(stem).name}.h5ad"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
        if plots:
            for specimen, panel, role in _to_plot(subsets, qc):
                stem = next((s for s in stems if Path(s).name in (part_stem(specimen, panel), specimen)), None)
                if stem is None or not Path(f"{stem}{ADATA_PART}").exists():
                    continue
                path = _plot(Path(f"{stem}{ADATA_PART}"), settings, panel, specimen, role, stage / OUT_DIR)
                out[f"gating_{panel}_{specimen}"] = outdir / path.relative_to(stage)
    log.info("flow collect: %d specimens, %d failing QC", subsets[N.SPECIMEN_ID].nunique(),
             int((qc["CHECK"].eq("specimen") & qc["STATUS"].eq(FAIL)).sum()))
    return out


def _publish(frame: pd.DataFrame, name: str, stage: Path) -> Path:
    """A cohort table through the registry (checked, data dictionary in its metadata), as plain Python values."""
    columns = {c.name: c.type for c in TABLES[name].columns}
    frame = frame.reindex(columns=list(columns))
    plain = pd.DataFrame({c: pd.Series(_cells(frame[c], t), dtype=object) for c, t in columns.items()})
    return write_table(plain, name, stage)


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
    target = outdir / H5AD_DIR / f"gating_{panel}_{specimen}.png"
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

