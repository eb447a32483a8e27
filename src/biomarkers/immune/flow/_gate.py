"""Apply a FlowKit gating strategy to one sample: every gate, vectorised, each input computed once.

FlowKit's own ``GatingStrategy.gate_sample`` evaluates every gate on every event and
re-transforms a gate's channels for each gate. Here each (compensation, channel,
transform) column is computed once for all events and shared by every gate that
uses it, and a gate is evaluated only on its parent's events. The geometry is
FlowKit's: each gate's own ``apply`` decides membership, so results are FlowKit's,
gate for gate (tests/test_flow_gating.py checks this on the Gating-ML 2.0 conformance
set and FlowJo workspaces, and against ``Session`` on the trial's strategy).

Compensation references follow Gating-ML 2.0: ``uncompensated``; ``FCS`` (the
file's spillover keyword, or the matrix given in its place; no keyword means
uncompensated); or the id of a matrix defined in the strategy (workspaces name their
matrices this way). Unlike FlowKit, which compensates every dimension of a gate when
any of them references a matrix, each dimension uses its own reference, as the
specification says (the two agree whenever a gate's references agree, and on the
conformance set).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import flowkit as fk
import numpy as np
import pandas as pd
from flowkit import gates as fk_gates
from flowkit.exceptions import QuadrantReferenceError

from ...errors import InputError

__all__ = ["GatingResult", "apply_strategy", "gate_label", "strategy_gates"]

ROOT = "root"


@dataclass
class GatingResult:
    """Per-event membership (one boolean column per gate) and per-gate counts."""

    membership: pd.DataFrame                 # events x gates, bool; columns are gate labels
    counts: pd.DataFrame                     # GATE, PATH, PARENT, EVENTS, PARENT_EVENTS, PCT_PARENT, PCT_TOTAL
    columns: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict)  # (name, path) -> label

    def count(self, gate: str) -> int:
        return int(self.membership[gate].sum())


def strategy_gates(strategy: fk.GatingStrategy) -> list[tuple[str, tuple[str, ...]]]:
    """Every gate (and quadrant) as (name, path), parents before children."""
    return list(strategy.get_gate_ids())


def gate_label(name: str, path: tuple[str, ...], strategy: fk.GatingStrategy) -> str:
    """A gate's column label: its name when unique in the strategy, else its path joined by '/'."""
    if len(strategy.find_matching_gate_paths(name)) == 1:
        return name
    return "/".join([p for p in path if p != ROOT] + [name])


def apply_strategy(sample: fk.Sample, strategy: fk.GatingStrategy, *, sample_id: str | None = None,
                   fcs_matrix: fk.Matrix | None = None, keep: np.ndarray | None = None,
                   events: _Columns | None = None) -> GatingResult:
    """Gate ``sample`` with every gate of ``strategy`` (custom gates of ``sample_id`` when it has them).

    ``fcs_matrix`` replaces the file's spillover keyword for ``compensation-ref="FCS"``;
    ``keep`` (boolean per event) restricts the root population (e.g. stable time bins).
    """
    columns = events or _Columns(sample, strategy, fcs_matrix)
    n = sample.event_count
    root = np.ones(n, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    engine = _Engine(strategy, sample_id, columns, root)
    labels: dict[tuple[str, tuple[str, ...]], str] = {}
    rows = []
    for name, path in strategy_gates(strategy):
        mask = engine.mask(name, path)
        parent = engine.parent_mask(path)
        label = gate_label(name, path, strategy)
        labels[(name, path)] = label
        count, parent_count = int(mask.sum()), int(parent.sum())
        rows.append({"GATE": label, "PATH": "/".join(path), "PARENT": path[-1], "EVENTS": count,
                     "PARENT_EVENTS": parent_count,
                     "PCT_PARENT": 100.0 * count / parent_count if parent_count else 0.0,
                     "PCT_TOTAL": 100.0 * count / n if n else 0.0})
    membership = pd.DataFrame({labels[k]: engine.masks[k] for k in labels})
    return GatingResult(membership=membership, counts=pd.DataFrame(rows), columns=labels)


class _Columns:
    """Compensated and transformed event columns, each computed once."""

    def __init__(self, sample: fk.Sample, strategy: fk.GatingStrategy, fcs_matrix: fk.Matrix | None):
        self.sample = sample
        self.strategy = strategy
        self.fcs_matrix = fcs_matrix
        self._comp: dict[str, np.ndarray] = {}
        self._cols: dict[tuple, np.ndarray] = {}
        self.pnn = list(sample.pnn_labels)
        self.pns = list(sample.pns_labels)
        self.flowjo = [p.replace("/", "_") for p in self.pnn]

    def compensated(self, ref: str | None) -> np.ndarray:
        ref = ref or "uncompensated"
        if ref not in self._comp:
            self._comp[ref] = self._compensate(ref)
        return self._comp[ref]

    def _compensate(self, ref: str) -> np.ndarray:
        raw = self.sample.get_events(source="raw")
        if ref == "uncompensated":
            return raw
        if ref == "FCS":
            matrix = self.fcs_matrix if self.fcs_matrix is not None else _file_spillover(self.sample)
        else:
            matrix = self.strategy.comp_matrices.get(ref)
            if matrix is None:
                raise InputError(f"the gating strategy references compensation '{ref}', which it does not define")
        return raw if matrix is None else matrix.apply(self.sample)

    def channel_index(self, dim_id: str, comp_ref: str | None, gate: str) -> int:
        for labels in (self.pnn, self.pns, self.flowjo):
            if dim_id in labels:
                return labels.index(dim_id)
        matrix = self.strategy.comp_matrices.get(comp_ref) if comp_ref else None
        if matrix is not None and dim_id in getattr(matrix, "fluorochromes", []):
            return self.pnn.index(matrix.detectors[matrix.fluorochromes.index(dim_id)])
        raise InputError(f"gate '{gate}' references channel '{dim_id}', which the file does not have")

    def column(self, dim, gate: str) -> tuple[str, np.ndarray]:
        """(data-frame column name, values for all events) of one gate dimension."""
        if isinstance(dim, fk.RatioDimension):
            key = ("ratio", dim.ratio_ref, dim.transformation_ref)
            if key not in self._cols:
                ratio = self._transform(dim.ratio_ref, gate)
                values = np.asarray(ratio.apply(self.sample), dtype=float).reshape(-1)
                if dim.transformation_ref:
                    values = self._transform(dim.transformation_ref, gate).apply(values.reshape(-1, 1)).reshape(-1)
                self._cols[key] = values
            return dim.ratio_ref, self._cols[key]
        dim_id = dim.dimension_ref if isinstance(dim, fk.QuadrantDivider) else dim.id
        comp_ref = dim.compensation_ref if dim.compensation_ref not in (None, "uncompensated") else None
        index = self.channel_index(dim_id, comp_ref, gate)
        key = (comp_ref, index, dim.transformation_ref)
        if key not in self._cols:
            values = self.compensated(comp_ref)[:, index]
            if dim.transformation_ref:
                values = self._transform(dim.transformation_ref, gate).apply(values.reshape(-1, 1)).reshape(-1)
            self._cols[key] = np.ascontiguousarray(values, dtype=float)
        return dim_id, self._cols[key]

    def put(self, comp_ref: str | None, index: int, transform_ref: str | None, values: np.ndarray) -> None:
        """Seed a column computed elsewhere (the specimen step transforms every channel once)."""
        self._cols[(comp_ref, index, transform_ref)] = values

    def _transform(self, ref: str, gate: str):
        xform = self.strategy.transformations.get(ref)
        if xform is None:
            raise InputError(f"gate '{gate}' references transformation '{ref}', which the strategy does not define")
        return xform


class _Engine:
    def __init__(self, strategy: fk.GatingStrategy, sample_id: str | None, columns: _Columns, root: np.ndarray):
        self.strategy = strategy
        self.sample_id = sample_id
        self.columns = columns
        self.root = root
        self.masks: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}
        self._quadrants: dict[tuple[str, tuple[str, ...]], dict[str, np.ndarray]] = {}

    def parent_mask(self, path: tuple[str, ...]) -> np.ndarray:
        if path == (ROOT,):
            return self.root
        return self.mask(path[-1], path[:-1])

    def mask(self, name: str, path: tuple[str, ...]) -> np.ndarray:
        key = (name, path)
        if key not in self.masks:
            try:
                gate = self.strategy.get_gate(name, path, sample_id=self.sample_id)
            except QuadrantReferenceError:
                self.masks[key] = self._quadrant(name, path)
            else:
                self.masks[key] = self._evaluate(gate, path)
        return self.masks[key]

    def _quadrant(self, quadrant_id: str, path: tuple[str, ...]) -> np.ndarray:
        owner = (path[-1], path[:-1])
        if owner not in self._quadrants:
            gate = self.strategy.get_gate(owner[0], owner[1], sample_id=self.sample_id)
            parent = self.parent_mask(owner[1])
            rows = np.flatnonzero(parent)
            results = gate.apply(self._frame(gate, rows))
            self._quadrants[owner] = {q: _scatter(rows, r, parent.size) for q, r in results.items()}
        return self._quadrants[owner][quadrant_id]

    def _evaluate(self, gate, path: tuple[str, ...]) -> np.ndarray:
        parent = self.parent_mask(path)
        if isinstance(gate, fk_gates.BooleanGate):
            refs = {}
            for ref in gate.gate_refs:
                refs[(ref["ref"], "/".join(ref["path"]))] = self.mask(ref["ref"], tuple(ref["path"]))
            return np.logical_and(parent, np.asarray(gate.apply(pd.DataFrame(refs)), dtype=bool))
        rows = np.flatnonzero(parent)
        result = gate.apply(self._frame(gate, rows))
        return _scatter(rows, result, parent.size)

    def _frame(self, gate, rows: np.ndarray) -> pd.DataFrame:
        data = {}
        for dim in gate.dimensions:
            name, values = self.columns.column(dim, gate.gate_name)
            data[name] = values[rows]
        return pd.DataFrame(data, copy=False)


def _scatter(rows: np.ndarray, inside, size: int) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    mask[rows[np.asarray(inside, dtype=bool)]] = True
    return mask


def _file_spillover(sample: fk.Sample) -> fk.Matrix | None:
    meta = sample.get_metadata()
    spill = meta.get("spillover") or meta.get("spill")
    if not spill:
        return None
    detectors = [sample.pnn_labels[i] for i in sample.fluoro_indices]
    fluorochromes = [sample.pns_labels[i] for i in sample.fluoro_indices]
    return fk.Matrix(spill, detectors, fluorochromes, null_channels=sample.null_channels)
