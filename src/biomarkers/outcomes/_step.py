"""The analysis step: ADaM outcomes + every biomarker table -> ``<results>/analysis/``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

from .. import names as N
from .. import schemas
from ..io import staged_dir
from ..workers import map_in_order
from ..manifest import check_complete
from ..log import get_logger
from ..protocol import Protocol, load_protocol
from ._adam import load_outcomes_config, read_adam
from ._associations import association_frame, grouping_rows, groupings
from ._derive import check_study, derive_subjects
from ._plots import plot_forest, plot_km, plot_name
from ._tables import analysis_wide, biomarker_cutoffs, biomarkers_long

__all__ = ["run_analysis"]

log = get_logger("analysis")


def run_analysis(results: str | Path, *, adsl: str | Path, adtte: str | Path, adrs: str | Path,
                 config: str | Path | None = None, protocol: Protocol | str | Path | None = None,
                 allow_incomplete: bool = False, cpus: int = 1) -> dict[str, pd.DataFrame]:
    """Derive outcomes, build the biomarker tables and the associations; write them atomically.

    Writes ``analysis/subjects.parquet``, ``biomarkers_long.parquet``,
    ``analysis_wide.parquet``, ``associations.parquet`` and ``analysis/plots/*.png``
    under ``results``; nothing is written unless everything succeeds. A results folder holding a run's
    outputs without a complete run manifest is refused unless ``allow_incomplete`` (``manifest.check_complete``).
    Each grouping's statistics and Kaplan-Meier plot are computed in one of ``cpus``
    worker processes (the same rows and plots for any number).
    """
    results = Path(results)
    check_complete(results, allow_incomplete=allow_incomplete)
    schemas.check_results_tables(results)  # a truncated or misplaced table: one line, before any work
    cfg = load_outcomes_config(config)
    # A Protocol, or the path of a protocol YAML (the CLI's --protocol), or the bundled one.
    protocol = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    frames = {name: read_adam(path) for name, path in (("ADSL", adsl), ("ADTTE", adtte), ("ADRS", adrs))}
    check_study(frames["ADSL"], protocol, cfg)
    subjects = derive_subjects(frames["ADSL"], frames["ADTTE"], frames["ADRS"], cfg)
    log.info("analysis: %d subjects, %d PFS events, BOR from %s", len(subjects),
             int(subjects["PFS_EVENT"].fillna(0).sum()), subjects["BOR_SOURCE"].iloc[0] if len(subjects) else "-")
    long = biomarkers_long(results, frames["ADSL"][[N.STUDYID, N.USUBJID]].astype(str))
    wide, described = analysis_wide(subjects, long, results, protocol, cfg)
    stems = {name: stem for name, (stem, _) in biomarker_cutoffs(cfg).items()}
    groups = groupings(wide, described, stems)
    provenance = {"step": "analysis", "adsl": str(adsl), "adtte": str(adtte), "adrs": str(adrs),
                  "config": str(config) if config else "assets/outcomes.yaml", "exploratory": True}
    with staged_dir(results / "analysis") as stage:
        plots = stage / "plots"
        tasks = [{"wide": wide, "name": name, "cutoff": cutoff, "group": group, "config": cfg,
                  "plot": plots / f"km_{plot_name(name)}.png"} for name, cutoff, group in groups]
        assoc = association_frame([row for rows in map_in_order(_grouping, tasks, workers=cpus) for row in rows])
        log.info("analysis: %d biomarker values from %d biomarkers; %d association rows (exploratory)",
                 len(long), long["BIOMARKER"].nunique() if len(long) else 0, len(assoc))
        # write_table places a table at <root>/<declared path>; write under a scratch
        # root inside the stage, then move each file to the stage's top level.
        scratch = stage / ".tables"
        for frame, name in ((subjects, "analysis.subjects"), (long, "analysis.biomarkers_long"),
                            (wide, "analysis.wide"), (assoc, "analysis.associations")):
            path = schemas.write_table(frame, name, scratch, provenance=provenance)
            os.replace(path, stage / Path(schemas.TABLES[name].path).name)
        shutil.rmtree(scratch)
        plot_forest(assoc, plots / "forest.png")
    return {"subjects": subjects, "biomarkers_long": long, "wide": wide, "associations": assoc}


def _grouping(wide: pd.DataFrame, name: str, cutoff: str, group: pd.Series, config: dict, plot: Path) -> list[dict]:
    """One grouping's association rows and its Kaplan-Meier plot (km_ARMCD.png: by arm), in a worker."""
    rows = grouping_rows(wide, name, cutoff, group, config)
    plot_km(wide, group, f"{name} groups", plot)
    return rows
