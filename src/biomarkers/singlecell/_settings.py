"""Typed settings of the single-cell step, loaded once from ``assets/singlecell/``.

``processing.yaml`` holds QC thresholds, doublet, clustering and annotation
parameters; ``markers.yaml`` the marker gene sets with their sources. Both are
validated by the JSON Schema beside them and turned into frozen dataclasses, so
code reads ``settings.qc["pbmc"].max_mito_fraction`` and never repeats a default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..assets import asset_path, load_yaml, validate
from ..errors import InputError

__all__ = [
    "COMPARTMENTS", "UNASSIGNED", "QcThresholds", "DoubletSettings", "ProcessingSettings", "ReferenceSettings",
    "AnnotationSettings", "Settings", "CellType", "CellState", "MarkerPanel", "load_settings", "load_markers",
]

COMPARTMENTS = ("pbmc", "tumor")
UNASSIGNED = "UNASSIGNED"
PROCESSING = "singlecell/processing.yaml"
MARKERS = "singlecell/markers.yaml"


@dataclass(frozen=True)
class QcThresholds:
    min_genes: int
    max_genes: int
    min_counts: int
    max_mito_fraction: float
    min_cells: int


@dataclass(frozen=True)
class DoubletSettings:
    expected_doublet_rate: float
    sim_doublet_ratio: float
    n_prin_comps: int
    threshold: float | None  # None: Scrublet's automatic threshold
    fallback_threshold: float
    remove: bool


@dataclass(frozen=True)
class ProcessingSettings:
    min_cells_per_gene: int
    target_sum: float
    n_top_genes: int
    n_pcs: int
    n_neighbors: int
    leiden_resolution: float
    leiden_iterations: int
    umap_min_dist: float
    seed: int


@dataclass(frozen=True)
class ReferenceSettings:
    label_key: str
    n_neighbors: int
    min_confidence: float


@dataclass(frozen=True)
class AnnotationSettings:
    min_genes_per_set: int
    min_cluster_score: float
    confidence_temperature: float
    state_min_score: float
    reference: ReferenceSettings


@dataclass(frozen=True)
class Settings:
    mito_prefix: str
    qc: dict[str, QcThresholds]
    doublets: DoubletSettings
    processing: ProcessingSettings
    annotation: AnnotationSettings
    source: str

    def as_dict(self) -> dict[str, Any]:
        """Plain values (for ``uns`` and the parameters recorded with every output)."""
        return asdict(self)


@dataclass(frozen=True)
class CellType:
    id: str
    label: str
    immune: bool
    positive: tuple[str, ...]
    negative: tuple[str, ...] = ()
    flow_subset: str | None = None
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class CellState:
    id: str
    label: str
    parent: str
    positive: tuple[str, ...]
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class MarkerPanel:
    """The marker sets of one compartment (``pbmc`` or ``tumor``)."""

    compartment: str
    label: str
    cell_types: tuple[CellType, ...]
    states: tuple[CellState, ...]
    references: dict[str, str]
    source: str

    def cell_type(self, type_id: str) -> CellType:
        for ct in self.cell_types:
            if ct.id == type_id:
                return ct
        raise KeyError(type_id)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(ct.id for ct in self.cell_types)

    @property
    def immune_ids(self) -> tuple[str, ...]:
        return tuple(ct.id for ct in self.cell_types if ct.immune)


def _load(name_or_path: str | Path | None, default: str, schema: str) -> tuple[Any, Path]:
    path = Path(name_or_path) if name_or_path is not None else asset_path(default)
    data = load_yaml(path)
    validate(data, schema, file=path)
    return data, path


@cache
def _settings_cached(path: str | None) -> Settings:
    data, file = _load(path, PROCESSING, "singlecell/processing.schema.json")
    qc = {c: QcThresholds(**data["qc"][c]) for c in COMPARTMENTS}
    for comp, q in qc.items():
        if q.min_genes > q.max_genes:
            raise InputError("min_genes is larger than max_genes", file=file, field=f"qc.{comp}.min_genes", value=q.min_genes)
    d = dict(data["doublets"])
    d["threshold"] = None if d["threshold"] == "auto" else float(d["threshold"])
    ann = dict(data["annotation"])
    ann["reference"] = ReferenceSettings(**ann["reference"])
    return Settings(mito_prefix=data["qc"]["mito_prefix"], qc=qc, doublets=DoubletSettings(**d),
                    processing=ProcessingSettings(**data["processing"]), annotation=AnnotationSettings(**ann),
                    source=str(file if path is not None else PROCESSING))


def load_settings(path: str | Path | None = None) -> Settings:
    """QC, doublet, clustering and annotation parameters: the bundled defaults or a user's copy."""
    return _settings_cached(None if path is None else str(Path(path).resolve()))


@cache
def _markers_cached(path: str | None) -> dict[str, MarkerPanel]:
    data, file = _load(path, MARKERS, "singlecell/markers.schema.json")
    references = data["sources"]
    panels = {}
    for comp in COMPARTMENTS:
        block = data["compartments"][comp]
        types = tuple(CellType(id=t["id"], label=t["label"], immune=t["immune"], positive=tuple(t["positive"]),
                               negative=tuple(t.get("negative", ())), flow_subset=t.get("flow_subset"),
                               sources=tuple(t["sources"])) for t in block["cell_types"])
        states = tuple(CellState(id=s["id"], label=s["label"], parent=s["parent"], positive=tuple(s["positive"]),
                                 sources=tuple(s["sources"])) for s in block.get("states", ()))
        ids = [t.id for t in types] + [s.id for s in states]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes or UNASSIGNED in ids:
            raise InputError("cell type identifiers must be unique and not UNASSIGNED", file=file,
                             field=f"compartments.{comp}", value=(dupes or [UNASSIGNED])[0])
        for i, s in enumerate(states):
            if s.parent not in ids:
                raise InputError("state names a parent that is not a cell type of the compartment", file=file,
                                 field=f"compartments.{comp}.states.{i}.parent", value=s.parent)
        for i, item in enumerate(list(types) + list(states)):
            unknown = [s for s in item.sources if s not in references]
            if unknown:
                raise InputError("cites a source that is not under `sources`", file=file,
                                 field=f"compartments.{comp}.{item.id}.sources", value=unknown[0])
        panels[comp] = MarkerPanel(compartment=comp, label=block["label"], cell_types=types, states=states,
                                   references=references, source=str(file if path is not None else MARKERS))
    return panels


def load_markers(path: str | Path | None = None) -> dict[str, MarkerPanel]:
    """Marker panels by compartment (``"pbmc"``, ``"tumor"``): the bundled sets or a user's file."""
    return _markers_cached(None if path is None else str(Path(path).resolve()))
