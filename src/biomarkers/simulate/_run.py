"""Run the simulation stages in order and write the trial folder atomically."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from ..io import staged_dir
from ..log import get_logger
from ..protocol import Protocol, load_protocol
from ..samplesheet import SAMPLESHEET_SCHEMA, read_samplesheet
from ..assets import load_schema
from ._container import SimulatedTrial, stage_rng
from ._genome import simulate_genome
from ._trial import simulate_subjects
from ._clinical import simulate_clinical
from ._custody import simulate_custody

__all__ = ["STAGES", "simulate_trial"]

log = get_logger("simulate")

# (name, function(trial, protocol, rng)) in the order they run; later stages read
# what earlier ones put in the SimulatedTrial.
STAGES: list[tuple[str, Callable[[SimulatedTrial, Protocol, object], None]]] = [
    ("trial", simulate_subjects),      # randomization, latent biomarkers, outcomes, milestones
    ("custody", simulate_custody),     # specimens, custody events, LIMS exports, the assay plan
    ("genome", simulate_genome),       # reference, BAMs, somatic VCFs, panel of normals; TMB/MSI truth
    ("clinical", simulate_clinical),   # ADSL, ADTTE, ADRS
]


def simulate_trial(outdir: str | Path, *, n_subjects: int = 54, seed: int = 1, violation_rate: float = 0.1,
                   protocol: Protocol | None = None, stages: Sequence[str] | None = None) -> SimulatedTrial:
    """Write a complete synthetic trial under ``outdir``; return it with its truth.

    ``violation_rate`` is the rate of injected custody violations (0 gives a clean trial).
    ``stages`` limits the simulation to the first stages of :data:`STAGES` (e.g.
    ``("trial", "custody")`` skips the minutes of sequencing data); each stage reads
    only what earlier ones wrote, so a prefix is always consistent. A stage's draws do
    not depend on which stages run, so its outputs are the same either way.
    Nothing appears under ``outdir`` unless every stage succeeds.
    """
    if n_subjects < 3:
        raise ValueError("simulate at least 3 subjects (one randomization block)")
    names = [name for name, _ in STAGES]
    if stages is not None and list(stages) != names[:len(stages)]:
        raise ValueError(f"stages must be a prefix of {names}, got {list(stages)}")
    selected = STAGES if stages is None else STAGES[:len(stages)]
    protocol = protocol or load_protocol()
    outdir = Path(outdir)
    with staged_dir(outdir) as stage_dir:
        trial = SimulatedTrial(outdir=stage_dir, seed=seed, n_subjects=n_subjects)
        trial.params["violation_rate"] = violation_rate
        for name, run in selected:
            log.info("simulate: %s", name)
            run(trial, protocol, stage_rng(seed, name))
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
