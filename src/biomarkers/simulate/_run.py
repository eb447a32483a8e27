"""Run the simulation stages in order and write the trial folder atomically."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import InputError
from ..io import staged_dir
from ..log import get_logger
from ..protocol import Protocol, load_protocol
from ..samplesheet import SAMPLESHEET_SCHEMA, read_samplesheet
from ..assets import load_schema
from ..workers import available_cpus
from ._container import SimulatedTrial, stage_rng
from ._genome import simulate_genome
from ._trial import simulate_subjects
from ._clinical import simulate_clinical
from ._custody import simulate_custody
from ._expression import simulate_expression
from ._pathology import simulate_pathology
from ._singlecell import simulate_singlecell
from ._flow import simulate_flow

__all__ = ["Stage", "STAGES", "simulate_trial"]

log = get_logger("simulate")

@dataclass(frozen=True)
class Stage:
    """One part of the simulated trial: ``run(trial, protocol, rng)`` adds files and truth to ``trial``."""

    name: str
    run: Callable[[SimulatedTrial, Protocol, object], None]
    needs: tuple[str, ...]   # stages whose results this one reads
    description: str


# In the order they run; a stage reads only what the stages it needs put in the SimulatedTrial.
STAGES: list[Stage] = [
    Stage("trial", simulate_subjects, (), "randomization, latent biomarkers, outcomes, milestones"),
    Stage("custody", simulate_custody, ("trial",), "specimens, custody events, LIMS exports, the assay plan"),
    Stage("genome", simulate_genome, ("custody",), "reference, BAMs, somatic VCFs, panel of normals; TMB/MSI truth"),
    Stage("clinical", simulate_clinical, ("trial",), "ADSL, ADTTE, ADRS"),
    Stage("expression", simulate_expression, ("custody",), "bulk RNA-seq counts of the tumour RNA, IMMUNE_SCORE-driven; truth per specimen"),
    Stage("pathology", simulate_pathology, ("custody",), "central-lab pathology table with recorded CPS, HER2 and MMR inconsistencies"),
    Stage("singlecell", simulate_singlecell, ("custody",), "10x matrices of PBMC and tumour specimens, IMMUNE_SCORE-driven; per-cell truth"),
    Stage("flow", simulate_flow, ("trial", "custody"), "FCS 3.1 files of PBMC specimens and batch controls, IMMUNE_SCORE-driven; "
          "counts; per-event truth and injected QC problems"),
]


def _with_needs(names: Sequence[str]) -> list[Stage]:
    """The named stages and every stage they need, in :data:`STAGES` order."""
    by_name = {stage.name: stage for stage in STAGES}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise InputError(f"unknown simulation stage {unknown[0]!r} (stages: {', '.join(by_name)})", field="stages")
    wanted: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(by_name[name].needs)
    return [stage for stage in STAGES if stage.name in wanted]


def simulate_trial(outdir: str | Path, *, n_subjects: int = 54, seed: int = 1, violation_rate: float = 0.1,
                   protocol: Protocol | None = None, stages: Sequence[str] | None = None,
                   cpus: int | None = 1) -> SimulatedTrial:
    """Write a complete synthetic trial under ``outdir``; return it with its truth.

    ``violation_rate`` is the rate of injected custody violations (0 gives a clean trial).
    ``stages`` limits the simulation to these stages and those they need (e.g.
    ``("custody",)`` runs trial and custody and skips the minutes of sequencing data).
    A stage's draws do not depend on which stages run, so its outputs are the same
    either way. ``cpus`` worker processes (None: the cores this process may use) write
    the sequencing files, subject by subject; the files are the same for any number.
    Nothing appears under ``outdir`` unless every stage succeeds.
    """
    if n_subjects < 3:
        raise InputError("simulate at least 3 subjects (one randomization block)", field="subjects", value=n_subjects)
    if cpus is not None and cpus < 1:
        raise InputError("must be at least 1", field="--cpus", value=cpus)
    if not 0 <= violation_rate <= 1:
        raise InputError("must be between 0 and 1", field="violation_rate", value=violation_rate)
    selected = STAGES if stages is None else _with_needs(stages)
    protocol = protocol or load_protocol()
    outdir = Path(outdir)
    with staged_dir(outdir) as stage_dir:
        trial = SimulatedTrial(outdir=stage_dir, seed=seed, n_subjects=n_subjects, cpus=cpus or available_cpus())
        trial.params["violation_rate"] = violation_rate
        for stage in selected:
            log.info("simulate: %s (%s)", stage.name, stage.description)
            stage.run(trial, protocol, stage_rng(seed, stage.name))
        trial.params.pop("violation_rate")
        _write_samplesheet(trial, protocol)
        params = {k: v for k, v in sorted(trial.params.items())}
        (stage_dir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=True))
    trial.outdir = outdir
    return trial


def _write_samplesheet(trial: SimulatedTrial, protocol: Protocol) -> None:
    if not trial.samplesheet_rows:
        return
    columns = list(load_schema(SAMPLESHEET_SCHEMA)["items"]["properties"])
    path = trial.outdir / "samplesheet.csv"
    rows = sorted(trial.samplesheet_rows, key=lambda r: (r["subject"], r["specimen"], r["assay"]))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="raise")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    read_samplesheet(path, protocol)  # what we write must pass our own validation
    trial.params["input"] = "samplesheet.csv"
