"""The trial's flow cytometry facts (``assets/flow/``) as typed, frozen settings.

Three YAML files, each validated by its JSON Schema: ``panels.yaml`` (channels,
markers, gating strategy, compensation, the gates QC hangs on), ``subsets.yaml``
(the reported subsets with their parents, and ratios) and ``qc.yaml`` (thresholds).
They are loaded once into :class:`FlowSettings`; nothing downstream reads a dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from ...assets import asset_path, load_config
from ...errors import InputError

__all__ = ["Channel", "PanelGates", "Subset", "Ratio", "Panel", "QCSettings", "FlowSettings", "load_flow_settings"]

FLOW_ASSETS = "flow"
SCATTER, FLUORESCENCE, TIME = "scatter", "fluorescence", "time"


@dataclass(frozen=True)
class Channel:
    channel: str              # $PnN
    kind: str                 # scatter | fluorescence | time
    marker: str | None = None  # $PnS (antigen, or Viability)
    fluorochrome: str | None = None
    arcsinh_cofactor: float | None = None


@dataclass(frozen=True)
class PanelGates:
    cells: str
    singlets: str
    live: str
    leukocytes: str
    lymphocytes: str


@dataclass(frozen=True)
class Subset:
    id: str                   # also the gate's name in the strategy
    label: str
    parent: str | None
    definition: str


@dataclass(frozen=True)
class Ratio:
    id: str
    label: str
    numerator: str
    denominator: str


@dataclass(frozen=True)
class Panel:
    name: str
    description: str
    strategy: Path            # Gating-ML 2.0 file
    compensation: str | Path  # "spillover" or a CSV matrix
    gates: PanelGates
    channels: tuple[Channel, ...]
    subsets: tuple[Subset, ...]
    ratios: tuple[Ratio, ...] = ()
    arcsinh_cofactor: float = 150.0

    @property
    def fluorescence(self) -> tuple[Channel, ...]:
        return tuple(c for c in self.channels if c.kind == FLUORESCENCE)

    @property
    def time_channel(self) -> str | None:
        return next((c.channel for c in self.channels if c.kind == TIME), None)

    def channel(self, name: str) -> Channel:
        return next(c for c in self.channels if c.channel == name)

    def subset(self, subset_id: str) -> Subset:
        return next(s for s in self.subsets if s.id == subset_id)

    def cofactor(self, channel: str) -> float:
        return self.channel(channel).arcsinh_cofactor or self.arcsinh_cofactor


@dataclass(frozen=True)
class QCSettings:
    min_total_events: int
    min_leukocytes: int
    min_subset_events: int
    max_debris_fraction: float
    max_doublet_fraction: float
    min_viability: float
    time_bins: int
    time_max_robust_z: float
    time_min_rate_change: float
    time_min_signal_shift: float
    time_min_events_per_bin: int
    time_max_unstable_fraction: float
    time_drop_unstable: bool
    drift_max_abs_pp: float
    drift_max_rel: float
    drift_min_z: float


@dataclass(frozen=True)
class FlowSettings:
    panels: Mapping[str, Panel]
    qc: QCSettings

    def panel(self, name: str) -> Panel:
        try:
            return self.panels[name]
        except KeyError:
            raise InputError(f"unknown flow panel (known: {', '.join(sorted(self.panels))})", field="panel",
                             value=name) from None


def load_flow_settings(*, panels: str | Path | None = None, subsets: str | Path | None = None,
                       qc: str | Path | None = None) -> FlowSettings:
    """The bundled ``assets/flow`` files, or a user's copies of any of them."""
    panels_path = Path(panels) if panels else asset_path(f"{FLOW_ASSETS}/panels.yaml")
    subsets_path = Path(subsets) if subsets else asset_path(f"{FLOW_ASSETS}/subsets.yaml")
    qc_path = Path(qc) if qc else asset_path(f"{FLOW_ASSETS}/qc.yaml")
    panel_doc = load_config(panels_path, f"{FLOW_ASSETS}/panels.schema.json")
    subset_doc = load_config(subsets_path, f"{FLOW_ASSETS}/subsets.schema.json")
    qc_doc = load_config(qc_path, f"{FLOW_ASSETS}/qc.schema.json")
    built = {name: _panel(name, spec, subset_doc["panels"].get(name), panels_path, subsets_path)
             for name, spec in panel_doc["panels"].items()}
    for name in subset_doc["panels"]:
        if name not in built:
            raise InputError("subsets are given for a panel that panels.yaml does not declare", file=subsets_path,
                             field=f"panels.{name}")
    return FlowSettings(panels=MappingProxyType(built), qc=_qc(qc_doc))


def _panel(name: str, spec: dict, subset_spec: dict | None, panels_path: Path, subsets_path: Path) -> Panel:
    if subset_spec is None:
        raise InputError("no subsets are declared for this panel", file=subsets_path, field=f"panels.{name}")
    folder = panels_path.parent
    channels = tuple(Channel(**c) for c in spec["channels"])
    seen: set[str] = set()
    for i, c in enumerate(channels):
        if c.channel in seen:
            raise InputError("channel listed twice", file=panels_path, field=f"panels.{name}.channels.{i}.channel",
                             value=c.channel)
        seen.add(c.channel)
    subsets = tuple(Subset(**s) for s in subset_spec["subsets"])
    ids = [s.id for s in subsets]
    for i, s in enumerate(subsets):
        if ids.count(s.id) > 1:
            raise InputError("subset listed twice", file=subsets_path, field=f"panels.{name}.subsets.{i}.id", value=s.id)
        if s.parent is not None and s.parent not in ids:
            raise InputError("parent is not a subset of this panel", file=subsets_path,
                             field=f"panels.{name}.subsets.{i}.parent", value=s.parent)
    ratios = tuple(Ratio(**r) for r in subset_spec.get("ratios", []))
    for i, r in enumerate(ratios):
        for side in ("numerator", "denominator"):
            if getattr(r, side) not in ids:
                raise InputError("not a subset of this panel", file=subsets_path,
                                 field=f"panels.{name}.ratios.{i}.{side}", value=getattr(r, side))
    known = set(ids) | {r.id for r in ratios}
    for i, b in enumerate(subset_spec.get("biomarkers", [])):
        if b["subset"] not in known:
            raise InputError("not a subset or ratio of this panel", file=subsets_path,
                             field=f"panels.{name}.biomarkers.{i}.subset", value=b["subset"])
        if (b["measure"] == "RATIO") != (b["subset"] in {r.id for r in ratios}):
            raise InputError("measure RATIO goes with a ratio, the other measures with a subset", file=subsets_path,
                             field=f"panels.{name}.biomarkers.{i}.measure", value=b["measure"])
    compensation = spec["compensation"]
    return Panel(
        name=name, description=spec["description"], strategy=folder / spec["strategy"],
        compensation=compensation if compensation == "spillover" else folder / compensation,
        gates=PanelGates(**spec["gates"]), channels=channels, subsets=subsets, ratios=ratios,
        arcsinh_cofactor=float(spec.get("arcsinh_cofactor", 150.0)),
    )


def _qc(doc: dict) -> QCSettings:
    t, e = doc["time"], doc["events"]
    return QCSettings(
        min_total_events=e["min_total"], min_leukocytes=e["min_leukocytes"], min_subset_events=e["min_subset"],
        max_debris_fraction=doc["debris"]["max_fraction"], max_doublet_fraction=doc["doublets"]["max_fraction"],
        min_viability=doc["viability"]["min_fraction"],
        time_bins=t["bins"], time_max_robust_z=t["max_robust_z"], time_min_rate_change=t["min_rate_change"],
        time_min_signal_shift=t["min_signal_shift"], time_min_events_per_bin=t["min_events_per_bin"],
        time_max_unstable_fraction=t["max_unstable_fraction"], time_drop_unstable=t["drop_unstable"],
        drift_max_abs_pp=doc["drift"]["max_abs_pp"], drift_max_rel=doc["drift"]["max_rel"],
        drift_min_z=doc["drift"]["min_z"],
    )
