"""Per-specimen part files, and the cohort tables and figures made from them.

``write_parts`` writes ``<specimen>.sc_composition.parquet``, ``<specimen>.sc_summary.parquet``,
``<specimen>.sc_qc.parquet`` and ``<specimen>.sc.h5ad``; ``annotate_to_parts`` does one
specimen from its count matrix to its parts (the per-specimen command). ``collect``
merges every specimen's parts into the cohort tables of each compartment (PBMC under
``immune/pbmc_sc_*``, tumour under ``tme/sc_*``), publishes the annotated ``.h5ad``
files beside them, and draws the composition bars by arm and timepoint and one UMAP
per arm.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import anndata as ad
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .. import names as N
from ..errors import InputError
from ..io import atomic_path, staged_dir
from ..log import get_logger
from ._plots import plot_composition, plot_umap
from ._settings import load_markers, load_settings
from ._specimen import QC_PASS, SpecimenResult, annotate_specimen, write_h5ad
from ._tables import COMPOSITION_COLUMNS, QC_COLUMNS, SUMMARY_COLUMNS

__all__ = ["write_parts", "annotate_to_parts", "collect", "PART_SUFFIXES", "OUTPUTS"]

log = get_logger("singlecell")
COMPOSITION_PART, SUMMARY_PART, QC_PART, ADATA_PART = ".sc_composition.parquet", ".sc_summary.parquet", ".sc_qc.parquet", ".sc.h5ad"
PART_SUFFIXES = (COMPOSITION_PART, SUMMARY_PART, QC_PART, ADATA_PART)
# compartment -> (folder, file prefix) of the published outputs
OUTPUTS = {"pbmc": ("immune", "pbmc_sc"), "tumor": ("tme", "sc")}


def _write(frame: pd.DataFrame, columns: dict[str, pa.DataType], path: Path) -> Path:
    schema = pa.schema([pa.field(name, dtype) for name, dtype in columns.items()])
    table = pa.Table.from_pandas(frame.reindex(columns=list(columns)), schema=schema, preserve_index=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def _read(path: Path, columns: dict[str, pa.DataType]) -> pd.DataFrame:
    try:
        frame = pq.read_table(path).to_pandas()
    except (OSError, pa.ArrowInvalid):
        raise InputError("not a Parquet part written by `biomarkers singlecell annotate`", file=path) from None
    missing = [c for c in columns if c not in frame]
    if missing:
        raise InputError("part lacks a column", file=path, field=missing[0])
    return frame[list(columns)]


def write_parts(result: SpecimenResult, outdir: str | Path, specimen: str) -> list[Path]:
    """Write one specimen's four parts together (or none of them) and return their paths."""
    outdir = Path(outdir)
    with staged_dir(outdir) as stage:
        _write(result.composition, COMPOSITION_COLUMNS, stage / f"{specimen}{COMPOSITION_PART}")
        _write(result.summary, SUMMARY_COLUMNS, stage / f"{specimen}{SUMMARY_PART}")
        _write(result.qc, QC_COLUMNS, stage / f"{specimen}{QC_PART}")
        if result.adata.n_obs:
            write_h5ad(result, stage / f"{specimen}{ADATA_PART}")
    return [outdir / f"{specimen}{s}" for s in PART_SUFFIXES if (outdir / f"{specimen}{s}").exists()]


def annotate_to_parts(counts: str | Path, outdir: str | Path, *, compartment: str, subject: str, specimen: str,
                      timepoint: str | None = None, studyid: str | None = None, reference: str | Path | None = None,
                      settings: str | Path | None = None, markers: str | Path | None = None) -> list[Path]:
    """One specimen from its count matrix to its part files (``settings``/``markers``: user YAML files)."""
    result = annotate_specimen(counts, compartment=compartment, subject=subject, specimen=specimen, timepoint=timepoint,
                               studyid=studyid, settings=load_settings(settings), markers=load_markers(markers),
                               reference=reference)
    return write_parts(result, outdir, specimen)


def _stem(path: Path) -> str:
    for suffix in PART_SUFFIXES:
        if path.name.endswith(suffix):
            return str(path)[: -len(suffix)]
    raise InputError("not a single-cell part file (expected *.sc_composition.parquet, *.sc_summary.parquet, "
                     "*.sc_qc.parquet or *.sc.h5ad)", file=path)


def _representatives(summary: pd.DataFrame, arms: pd.Series | None) -> list[tuple[str, str]]:
    """(arm, specimen): per arm the QC-passing specimen with the most cells (first by ID on ties)."""
    frame = summary[summary["QC"] == QC_PASS].copy()
    frame[N.ARMCD] = frame[N.USUBJID].map(arms) if arms is not None else "all"
    frame[N.ARMCD] = frame[N.ARMCD].fillna("unknown")
    frame = frame.sort_values(["N_CELLS", N.SPECIMEN_ID], ascending=[False, True], kind="stable")
    return [(str(arm), str(group[N.SPECIMEN_ID].iloc[0])) for arm, group in frame.groupby(N.ARMCD, sort=True)]


def collect(parts: list[str | Path], outdir: str | Path, *, subjects: pd.DataFrame | None = None,
            plots: bool = True) -> dict[str, Path]:
    """Merge part files (any of a specimen's; the others are found beside it) into the cohort outputs.

    ``subjects`` (USUBJID, ARMCD) groups the composition bars and picks one UMAP per arm.
    """
    stems = sorted({_stem(Path(p)) for p in parts})
    if not stems:
        raise InputError("no single-cell part files to collect", field="parts")
    for stem in stems:
        for suffix in (COMPOSITION_PART, SUMMARY_PART, QC_PART):
            if not Path(f"{stem}{suffix}").exists():
                raise InputError("part file missing beside the others of its specimen", file=f"{stem}{suffix}")
    composition = pd.concat([_read(Path(f"{s}{COMPOSITION_PART}"), COMPOSITION_COLUMNS) for s in stems], ignore_index=True)
    summary = pd.concat([_read(Path(f"{s}{SUMMARY_PART}"), SUMMARY_COLUMNS) for s in stems], ignore_index=True)
    qc = pd.concat([_read(Path(f"{s}{QC_PART}"), QC_COLUMNS) for s in stems], ignore_index=True)
    dupes = summary[N.SPECIMEN_ID][summary[N.SPECIMEN_ID].duplicated()]
    if len(dupes):
        raise InputError("two part files hold the same specimen", field=N.SPECIMEN_ID, value=dupes.iloc[0])
    arms = subjects.set_index(N.USUBJID)[N.ARMCD] if subjects is not None and len(subjects) else None
    h5ad_of = {Path(s).name: Path(f"{s}{ADATA_PART}") for s in stems}
    outdir = Path(outdir)
    out: dict[str, Path] = {}
    with staged_dir(outdir) as stage:
        for compartment, (folder, prefix) in OUTPUTS.items():
            part_summary = summary[summary["COMPARTMENT"] == compartment]
            if part_summary.empty:
                continue
            order = [N.USUBJID, N.SPECIMEN_ID]
            comp = composition[composition["COMPARTMENT"] == compartment].sort_values(order, kind="stable")
            steps = qc[qc["COMPARTMENT"] == compartment].sort_values(order, kind="stable")
            part_summary = part_summary.sort_values(order, kind="stable")
            base = Path(folder)
            for key, frame, columns in ((f"{prefix}_composition", comp, COMPOSITION_COLUMNS),
                                        (f"{prefix}_summary", part_summary, SUMMARY_COLUMNS),
                                        (f"{prefix}_qc", steps, QC_COLUMNS)):
                _write(frame, columns, stage / base / f"{key}.parquet")
                out[key] = outdir / base / f"{key}.parquet"
            for specimen in part_summary[N.SPECIMEN_ID]:
                source = h5ad_of.get(specimen)
                if source is not None and source.exists():
                    target = stage / base / prefix / f"{specimen}.h5ad"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, target)
            if plots:
                label = "PBMC" if compartment == "pbmc" else "Tumour"
                plot_composition(comp, stage / base / f"{prefix}_composition.png", arms=arms,
                                 title=f"{label} single-cell composition by arm and timepoint")
                out[f"{prefix}_composition_plot"] = outdir / base / f"{prefix}_composition.png"
                for arm, specimen in _representatives(part_summary, arms):
                    adata = ad.read_h5ad(h5ad_of[specimen])
                    name = f"{prefix}_umap_{arm}.png"
                    plot_umap(adata, stage / base / name, title=f"{label} {specimen} (arm {arm}): {adata.n_obs:,} cells")
                    out[f"{prefix}_umap_{arm}"] = outdir / base / name
    log.info("single-cell collect: %d specimens (%d not passing QC)", len(summary), int((summary["QC"] != QC_PASS).sum()))
    return out
