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

import os
import shutil
from pathlib import Path

import anndata as ad
import pandas as pd

from .. import names as N
from ..errors import InputError
from ..io import staged_dir
from ..log import get_logger
from ..schemas import concat_parts, table_metadata, write_table
from ._plots import plot_composition, plot_umap
from ._settings import COMPARTMENTS, load_markers, load_settings
from ._specimen import QC_PASS, SpecimenResult, annotate_specimen, write_h5ad

__all__ = ["write_parts", "annotate_to_parts", "collect", "PART_SUFFIXES", "OUTPUTS", "table_names"]

log = get_logger("singlecell")
COMPOSITION_PART, SUMMARY_PART, QC_PART, ADATA_PART = ".sc_composition.parquet", ".sc_summary.parquet", ".sc_qc.parquet", ".sc.h5ad"
PART_SUFFIXES = (COMPOSITION_PART, SUMMARY_PART, QC_PART, ADATA_PART)
# compartment -> (folder, file prefix) of the published outputs (schemas/tables/singlecell.py)
OUTPUTS = {"pbmc": ("immune", "pbmc_sc"), "tumor": ("tme", "sc")}
_KINDS = {COMPOSITION_PART: "composition", SUMMARY_PART: "summary", QC_PART: "qc"}


def table_names(compartment: str) -> dict[str, str]:
    """Declared table of each part kind for a compartment: ``{"composition": "immune.pbmc_sc_composition", ...}``."""
    folder, prefix = OUTPUTS[compartment]
    return {kind: f"{folder}.{prefix}_{kind}" for kind in _KINDS.values()}


def write_parts(result: SpecimenResult, outdir: str | Path, specimen: str) -> list[Path]:
    """Write one specimen's parts (three tables and the annotated ``.h5ad``) together, or none of them."""
    outdir = Path(outdir)
    compartment = str(result.summary["COMPARTMENT"].iloc[0])
    names = table_names(compartment)
    frames = {COMPOSITION_PART: result.composition, SUMMARY_PART: result.summary, QC_PART: result.qc}
    with staged_dir(outdir) as stage:
        for suffix, frame in frames.items():
            written = write_table(frame, names[_KINDS[suffix]], stage / f"_{_KINDS[suffix]}")
            os.replace(written, stage / f"{specimen}{suffix}")
        write_h5ad(result, stage / f"{specimen}{ADATA_PART}")  # also with no cell: every task has four parts
    return [outdir / f"{specimen}{s}" for s in PART_SUFFIXES if (outdir / f"{specimen}{s}").exists()]


def annotate_to_parts(counts: str | Path, outdir: str | Path, *, compartment: str, subject: str, specimen: str,
                      timepoint: str | None = None, protocol: str | Path | None = None,
                      reference: str | Path | None = None, settings: str | Path | None = None,
                      markers: str | Path | None = None) -> list[Path]:
    """One specimen from its count matrix to its part files.

    ``protocol`` gives STUDYID (default: the bundled protocol); ``settings`` and
    ``markers`` are user copies of the bundled YAML files.
    """
    from ..protocol import load_protocol

    study = load_protocol(protocol) if protocol else load_protocol()
    studyid = study.studyid
    result = annotate_specimen(counts, compartment=compartment, subject=subject, specimen=specimen, timepoint=timepoint,
                               studyid=studyid, settings=load_settings(settings), markers=load_markers(markers),
                               reference=reference)
    study.check_ids(subject=subject, specimen=specimen)  # before they name files
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


def _compartment_of(stem: str) -> str:
    path = Path(f"{stem}{SUMMARY_PART}")
    try:
        name = table_metadata(path).get("table")
    except Exception:  # noqa: BLE001 - any unreadable file is bad input here
        raise InputError("not a Parquet part written by `biomarkers singlecell annotate`", file=path) from None
    for compartment in COMPARTMENTS:
        if name == table_names(compartment)["summary"]:
            return compartment
    raise InputError(f"holds table {name!r}, not a single-cell summary part", file=path)


def collect(parts: list[str | Path], outdir: str | Path, *, subjects: str | Path | pd.DataFrame | None = None,
            compartment: str | None = None, plots: bool = True) -> dict[str, Path]:
    """Merge part files (any of a specimen's; the others are found beside it) into the cohort outputs.

    ``subjects`` (the randomization list, USUBJID and ARMCD) groups the composition bars
    and picks one UMAP per arm. ``compartment`` (``pbmc`` or ``tumor``) collects only
    that compartment's parts (Nextflow publishes each compartment from its own task).
    """
    stems = sorted({_stem(Path(p)) for p in parts})
    if not stems:
        raise InputError("no single-cell part files to collect", field="parts")
    for stem in stems:
        for suffix in (COMPOSITION_PART, SUMMARY_PART, QC_PART):
            if not Path(f"{stem}{suffix}").exists():
                raise InputError("part file missing beside the others of its specimen", file=f"{stem}{suffix}")
    by_compartment: dict[str, list[str]] = {}
    for stem in stems:
        by_compartment.setdefault(_compartment_of(stem), []).append(stem)
    if compartment is not None:
        by_compartment = {k: v for k, v in by_compartment.items() if k == compartment}
    if isinstance(subjects, (str, Path)):
        subjects = pd.read_csv(subjects, dtype=str)
    arms = subjects.set_index(N.USUBJID)[N.ARMCD] if subjects is not None and len(subjects) else None
    outdir = Path(outdir)
    out: dict[str, Path] = {}
    n_specimens = n_failing = 0
    with staged_dir(outdir) as stage:
        for comp, group in sorted(by_compartment.items()):
            names = table_names(comp)
            frames = {kind: concat_parts([Path(f"{s}{suffix}") for s in group], names[kind]) for suffix, kind in _KINDS.items()}
            summary = frames["summary"]
            dupes = summary[N.SPECIMEN_ID][summary[N.SPECIMEN_ID].duplicated()]
            if len(dupes):
                raise InputError("two part files hold the same specimen", field=N.SPECIMEN_ID, value=dupes.iloc[0])
            folder, prefix = OUTPUTS[comp]
            for kind, frame in frames.items():
                written = write_table(frame, names[kind], stage)
                out[f"{prefix}_{kind}"] = outdir / written.relative_to(stage)
            h5ad_of = {Path(s).name: Path(f"{s}{ADATA_PART}") for s in group}
            for specimen, source in h5ad_of.items():
                if source.exists():
                    target = stage / folder / prefix / f"{specimen}.h5ad"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, target)
            n_specimens += len(summary)
            n_failing += int((summary["QC"] != QC_PASS).sum())
            if plots:
                out.update(_plots(frames["composition"], summary, h5ad_of, arms, comp, stage, outdir))
    log.info("single-cell collect: %d specimens (%d not passing QC)", n_specimens, n_failing)
    return out


def _plots(composition: pd.DataFrame, summary: pd.DataFrame, h5ad_of: dict[str, Path], arms: pd.Series | None,
           compartment: str, stage: Path, outdir: Path) -> dict[str, Path]:
    folder, prefix = OUTPUTS[compartment]
    label = "PBMC" if compartment == "pbmc" else "Tumour"
    out = {}
    name = Path(folder) / f"{prefix}_composition.png"
    plot_composition(composition, stage / name, arms=arms, title=f"{label} single-cell composition by arm and timepoint")
    out[f"{prefix}_composition_plot"] = outdir / name
    for arm, specimen in _representatives(summary, arms):
        if not h5ad_of.get(specimen, Path("-")).exists():
            continue
        adata = ad.read_h5ad(h5ad_of[specimen])
        name = Path(folder) / f"{prefix}_umap_{arm}.png"
        plot_umap(adata, stage / name, title=f"{label} {specimen} (arm {arm}): {adata.n_obs:,} cells")
        out[f"{prefix}_umap_{arm}"] = outdir / name
    return out
