"""Gating strategies: a Gating-ML 2.0 file, or the gates of one sample in a FlowJo 10 workspace.

Both are parsed by FlowKit. Before any event is gated the strategy is checked against
the panel: every subset of ``subsets.yaml`` and every QC gate of ``panels.yaml`` must be
a gate of the strategy, once; a subset's parent must be one of its gate's ancestors;
every channel a gate uses must exist in the file. Each problem is one line naming
the strategy file and the gate or channel.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import flowkit as fk

from ...errors import InputError
from ._read import FlowFile
from ._settings import Panel

__all__ = ["Strategy", "load_gating_ml", "load_workspace", "workspace_samples", "check_strategy"]


@dataclass(frozen=True)
class Strategy:
    """A FlowKit gating strategy and where it came from (``sample_id``: custom gates of a workspace sample)."""

    gating: fk.GatingStrategy
    source: Path
    kind: str                       # "gatingml" | "workspace"
    sample_id: str | None = None

    def gate_path(self, name: str) -> tuple[str, ...]:
        paths = self.gating.find_matching_gate_paths(name)
        if len(paths) != 1:
            why = "is not a gate of the strategy" if not paths else f"names {len(paths)} gates (give each a unique name)"
            raise InputError(f"gate '{name}' {why}", file=self.source)
        return paths[0]


def load_gating_ml(path: str | Path) -> Strategy:
    path = Path(path)
    if not path.is_file():
        raise InputError("gating strategy not found", file=path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gating = fk.parse_gating_xml(str(path))
    except Exception as exc:  # lxml and FlowKit raise a variety of errors on bad XML
        raise InputError(f"not a readable Gating-ML 2.0 file: {_first_line(exc)}", file=path) from None
    return Strategy(gating, path, "gatingml")


def _parse_wsp(path: Path) -> dict:
    if not path.is_file():
        raise InputError("FlowJo workspace not found", file=path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fk.parse_wsp(str(path))
    except Exception as exc:
        raise InputError(f"not a readable FlowJo 10 workspace: {_first_line(exc)}", file=path) from None


def workspace_samples(path: str | Path) -> dict[str, list[str]]:
    """Sample names of a workspace by sample group (FlowJo's own groups, 'All Samples' included)."""
    data = _parse_wsp(Path(path))
    return {group: sorted(spec["samples"]) for group, spec in data["groups"].items()}


def load_workspace(path: str | Path, sample: str) -> Strategy:
    """The gates, transforms and compensation FlowJo applied to one sample of the workspace."""
    path = Path(path)
    data = _parse_wsp(path)
    if sample not in data["samples"]:
        raise InputError(f"the workspace has no sample named '{sample}'", file=path)
    return Strategy(data["samples"][sample]["gating_strategy"], path, "workspace", sample_id=sample)


def check_strategy(strategy: Strategy, panel: Panel, flow: FlowFile | None = None) -> None:
    """Every gate the panel needs exists once, parents are ancestors, channels are in the file."""
    g = panel.gates
    for name in (g.cells, g.singlets, g.live, g.leukocytes, g.lymphocytes):
        strategy.gate_path(name)
    for subset in panel.subsets:
        path = strategy.gate_path(subset.id)
        if subset.parent is not None and subset.parent not in path:
            raise InputError(f"subset {subset.id}: its parent '{subset.parent}' is not an ancestor of gate "
                             f"'{subset.id}'", file=strategy.source)
    if flow is not None:
        check_channels(strategy, flow)


def check_channels(strategy: Strategy, flow: FlowFile) -> None:
    labels = set(flow.channels) | set(flow.markers) | {c.replace("/", "_") for c in flow.channels}
    for name, path in strategy.gating.get_gate_ids():
        try:
            gate = strategy.gating.get_gate(name, path, sample_id=strategy.sample_id)
        except fk.exceptions.QuadrantReferenceError:
            continue
        for dim in getattr(gate, "dimensions", []):
            dim_id = getattr(dim, "dimension_ref", None) or getattr(dim, "id", None)
            if dim_id is None or dim_id in labels:
                continue
            matrix = strategy.gating.comp_matrices.get(getattr(dim, "compensation_ref", None))
            if matrix is not None and dim_id in getattr(matrix, "fluorochromes", []):
                continue
            raise InputError(f"gate '{name}' uses channel '{dim_id}', which {flow.path.name} does not have",
                             file=strategy.source)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip() or type(exc).__name__).splitlines()[0][:200]
