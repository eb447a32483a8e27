"""One small simulated trial with flow cytometry, gated once per test session.

``biomarkers simulate``'s flow stage (with the trial and custody stages it needs) runs
for 8 subjects; every FCS file
is gated with ``gate_specimen`` and its parts written, and ``collect`` builds the
cohort tables, so the flow tests read results instead of recomputing them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import flowio
import numpy as np
import pandas as pd

from biomarkers.immune import flow
from biomarkers.simulate import simulate_trial

N_SUBJECTS = 8
SEED = 5
_SHARED: dict[str, "FlowTrial"] = {}


@dataclass
class FlowTrial:
    dir: Path
    specimens: pd.DataFrame        # truth/flow/specimens.csv
    truth_subsets: pd.DataFrame    # truth/flow/subsets.csv
    problems: pd.DataFrame         # truth/flow/qc_problems.csv
    counts: pd.DataFrame           # flow/counts.csv
    results: dict                  # SPECIMEN_ID -> FlowSpecimen
    parts: Path
    out: Path
    collected: dict

    def fcs(self, specimen: str) -> Path:
        return self.dir / self.specimens.set_index("SPECIMEN_ID").loc[specimen, "FILE"]

    def truth_events(self, specimen: str) -> pd.DataFrame:
        return pd.read_parquet(self.dir / "truth" / "flow" / "events" / f"{specimen}.parquet")


def absolute_counts(row) -> flow.AbsoluteCounts:
    def value(x):
        return None if pd.isna(x) else float(x)
    return flow.AbsoluteCounts(beads_per_test=value(row.beads_per_test), beads_acquired=value(row.beads_acquired),
                               volume_ul=value(row.volume_ul), lymphocytes_per_ul=value(row.lymphocytes_per_ul))


def shared_flow_trial(tmp_path_factory) -> FlowTrial:
    if "trial" not in _SHARED:
        _SHARED["trial"] = _build(tmp_path_factory.mktemp("flow_trial"))
    return _SHARED["trial"]


def _build(base: Path) -> FlowTrial:
    trial = simulate_trial(base / "trial", n_subjects=N_SUBJECTS, seed=SEED, stages=("flow",))
    truth = trial.truth_dir / "flow"
    specimens = pd.read_csv(truth / "specimens.csv")
    counts = pd.read_csv(trial.outdir / "flow" / "counts.csv").set_index("specimen")
    settings = flow.load_flow_settings()
    results, parts = {}, []
    for row in specimens.itertuples(index=False):
        result = flow.gate_specimen(trial.outdir / row.FILE, specimen=row.SPECIMEN_ID, subject=row.USUBJID,
                                    timepoint=row.TIMEPOINT, batch=str(row.BATCH), control=bool(row.CONTROL),
                                    studyid="NCT07007182", settings=settings,
                                    counts=absolute_counts(counts.loc[row.SPECIMEN_ID]))
        results[row.SPECIMEN_ID] = result
        parts += flow.write_parts(result, base / "parts", row.SPECIMEN_ID)
    collected = flow.collect(parts, base / "results", settings=settings)
    return FlowTrial(dir=trial.outdir, specimens=specimens, truth_subsets=pd.read_csv(truth / "subsets.csv"),
                     problems=pd.read_csv(truth / "qc_problems.csv"), counts=counts, results=results,
                     parts=base / "parts", out=base / "results", collected=collected)


def rewrite_fcs(source, target, *, markers: dict[str, str] | None = None, channels: dict[str, str] | None = None) -> None:
    """Copy an FCS file through FlowIO with some $PnS markers or $PnN names changed."""
    data = flowio.FlowData(str(source))
    names = [channels.get(n, n) if channels else n for n in data.pnn_labels]
    labels = [markers.get(m, m) if markers else m for m in data.pns_labels]
    keep = {k: v for k, v in data.text.items() if k in ("spillover", "timestep", "cyt")}
    with open(target, "wb") as handle:
        flowio.create_fcs(handle, np.asarray(data.events, dtype=np.float32), names, labels, keep)
