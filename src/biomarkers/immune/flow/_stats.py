"""Subset statistics: events, % of parent, % of CD45+, cells per microlitre; ratios.

Absolute counts, when the specimen has them:

- counting beads (single platform; Brando et al., Cytometry 2000;42:327-346):
  cells/uL = events x beads per test / (beads acquired x sample volume in uL), for
  every subset;
- else the clinical lymphocyte count (dual platform): cells/uL = events / lymphocyte
  events x lymphocytes per uL, for the lymphocyte gate and the subsets below it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ...errors import InputError
from ._gate import GatingResult
from ._qc import FAIL, PASS
from ._settings import Panel
from ._strategy import Strategy

__all__ = ["AbsoluteCounts", "subset_table", "LOW_EVENTS", "BEADS", "LYMPHOCYTE_COUNT"]

LOW_EVENTS = "LOW_EVENTS"
BEADS, LYMPHOCYTE_COUNT = "beads", "lymphocyte_count"


@dataclass(frozen=True)
class AbsoluteCounts:
    """What turns frequencies into cells per microlitre for one specimen (any may be None)."""

    beads_per_test: float | None = None
    beads_acquired: float | None = None
    volume_ul: float | None = None
    lymphocytes_per_ul: float | None = None

    def __post_init__(self) -> None:
        beads = (self.beads_per_test, self.beads_acquired, self.volume_ul)
        names = ("beads_per_test", "beads_acquired", "volume_ul")
        if any(v is not None for v in beads) and any(v is None for v in beads):
            missing = [n for n, v in zip(names, beads) if v is None]
            raise InputError(f"bead counts need beads_per_test, beads_acquired and volume_ul; missing {', '.join(missing)}",
                             field=missing[0])
        for name, value in zip((*names, "lymphocytes_per_ul"), (*beads, self.lymphocytes_per_ul)):
            if value is not None and (not math.isfinite(value) or value <= 0):
                raise InputError("must be a positive number", field=name, value=value)

    @property
    def has_beads(self) -> bool:
        return self.beads_acquired is not None


def subset_table(result: GatingResult, strategy: Strategy, panel: Panel, *, counts: AbsoluteCounts | None,
                 specimen_status: str, min_events: int) -> pd.DataFrame:
    """One row per reported subset (and ratio), in the order of ``subsets.yaml``."""
    leuko = result.count(panel.gates.leukocytes)
    lymph = result.count(panel.gates.lymphocytes)
    leuko_path = strategy.gate_path(panel.gates.leukocytes) + (panel.gates.leukocytes,)
    lymph_path = strategy.gate_path(panel.gates.lymphocytes) + (panel.gates.lymphocytes,)
    rows = []
    for subset in panel.subsets:
        events = result.count(subset.id)
        full = strategy.gate_path(subset.id) + (subset.id,)
        parent_events = result.count(subset.parent) if subset.parent else int(result.membership.shape[0])
        below_leuko = full[:len(leuko_path)] == leuko_path
        per_ul, method = _per_ul(events, counts, lymph, below_lymph=full[:len(lymph_path)] == lymph_path)
        rows.append({
            "SUBSET": subset.id, "LABEL": subset.label, "PARENT": subset.parent, "EVENTS": events,
            "PARENT_EVENTS": parent_events, "PCT_PARENT": _pct(events, parent_events),
            "PCT_CD45": _pct(events, leuko) if below_leuko else None,
            "CELLS_PER_UL": per_ul, "COUNT_METHOD": method, "RATIO": None,
            "QC_STATUS": _status(specimen_status, events, min_events),
        })
    for ratio in panel.ratios:
        num, den = result.count(ratio.numerator), result.count(ratio.denominator)
        low = min(num, den) < min_events
        rows.append({
            "SUBSET": ratio.id, "LABEL": ratio.label, "PARENT": None, "EVENTS": None, "PARENT_EVENTS": None,
            "PCT_PARENT": None, "PCT_CD45": None, "CELLS_PER_UL": None, "COUNT_METHOD": None,
            "RATIO": num / den if den else None,
            "QC_STATUS": FAIL if specimen_status == FAIL else (LOW_EVENTS if low else specimen_status),
        })
    return pd.DataFrame(rows)


def _pct(events: int, denominator: int) -> float | None:
    return 100.0 * events / denominator if denominator else None


def _per_ul(events: int, counts: AbsoluteCounts | None, lymph: int, *, below_lymph: bool) -> tuple[float | None, str | None]:
    if counts is None:
        return None, None
    if counts.has_beads:
        return events * counts.beads_per_test / (counts.beads_acquired * counts.volume_ul), BEADS
    if counts.lymphocytes_per_ul is not None and below_lymph and lymph:
        return events / lymph * counts.lymphocytes_per_ul, LYMPHOCYTE_COUNT
    return None, None


def _status(specimen_status: str, events: int, min_events: int) -> str:
    if specimen_status == FAIL:
        return FAIL
    if events < min_events:
        return LOW_EVENTS
    return specimen_status if specimen_status else PASS
