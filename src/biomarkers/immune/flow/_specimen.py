"""One FCS file of one specimen: read, check, compensate, transform, QC, gate, count.

``gate_specimen`` returns frames and an AnnData; ``write_parts`` writes them as part
files that ``collect`` merges for the cohort.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import flowkit as fk
import numpy as np
import pandas as pd

from ... import __version__
from ... import names as N
from ...errors import InputError
from ._anndata import build_anndata, technical_keywords
from ._compensate import Compensation, panel_compensation
from ._gate import GatingResult, _Columns, apply_strategy
from ._panel import check_panel
from ._qc import FAIL, PASS, WARN, TimeStability, check_row, time_stability, worst
from ._read import FlowFile, read_fcs
from ._settings import FLUORESCENCE, FlowSettings, Panel, QCSettings, load_flow_settings
from ._stats import AbsoluteCounts, subset_table
from ._strategy import Strategy, check_strategy, load_gating_ml, load_workspace
from ._transform import ChannelTransform, layer_transforms

__all__ = ["FlowSpecimen", "gate_specimen"]


@dataclass
class FlowSpecimen:
    """What one specimen's file gave: subset rows, QC rows, per-event AnnData, its QC status."""

    subsets: pd.DataFrame
    qc: pd.DataFrame
    adata: ad.AnnData
    status: str
    time_bins: pd.DataFrame


def gate_specimen(fcs: str | Path, *, specimen: str, subject: str | None = None, timepoint: str | None = None,
                  panel: str = "PBMC16", batch: str | None = None, control: bool = False, studyid: str | None = None,
                  settings: FlowSettings | None = None, gating_ml: str | Path | None = None,
                  workspace: str | Path | None = None, workspace_sample: str | None = None,
                  compensation: str | Path | None = None, transform: str = "default",
                  counts: AbsoluteCounts | None = None, drop_unstable: bool | None = None) -> FlowSpecimen:
    """Gate one specimen's FCS file with its panel's strategy (or a FlowJo workspace's gates).

    ``gating_ml`` replaces the panel's Gating-ML file; ``workspace`` uses the gates,
    transforms and compensation FlowJo applied to ``workspace_sample`` (default: the
    FCS file's name). ``compensation`` is a CSV matrix used instead of the file's
    spillover keyword. ``transform="arcsinh"`` writes the transformed layer as
    asinh(x / cofactor). ``drop_unstable`` overrides ``qc.yaml`` (leave events of
    unstable time bins out of the gating).
    """
    settings = settings or load_flow_settings()
    pnl = settings.panel(panel)
    flow = read_fcs(fcs, sample_id=specimen)
    panel_notes = check_panel(flow, pnl)
    if workspace is not None:
        strategy = load_workspace(workspace, workspace_sample or flow.path.name)
    else:
        strategy = load_gating_ml(gating_ml or pnl.strategy)
    check_strategy(strategy, pnl, flow)
    comp = _compensation(flow, pnl, strategy, compensation)
    columns = _Columns(flow.sample, strategy.gating, comp.matrix if strategy.kind == "gatingml" else None)
    transforms = layer_transforms(strategy, flow.channels, flow.markers, pnl, transform=transform,
                                  fcs_compensated=comp.matrix is not None)
    layer = _transformed_layer(columns, transforms)
    time = _time_check(flow, pnl, layer, settings.qc)
    drop = settings.qc.time_drop_unstable if drop_unstable is None else drop_unstable
    result = apply_strategy(flow.sample, strategy.gating, sample_id=strategy.sample_id,
                            keep=time.stable if drop and time.unstable_fraction > 0 else None, events=columns)
    rows = _checks(flow, pnl, comp, result, time, settings.qc, panel_notes, dropped=drop)
    status = worst(r["STATUS"] for r in rows)
    keys = {N.STUDYID: studyid, N.USUBJID: subject, N.SPECIMEN_ID: specimen, N.TIMEPOINT: timepoint,
            "PANEL": pnl.name, "BATCH": None if batch is None else str(batch), "CONTROL": bool(control)}
    subsets = subset_table(result, strategy, pnl, counts=counts, specimen_status=status,
                           min_events=settings.qc.min_subset_events)
    checks = pd.DataFrame(rows + [check_row("specimen", status, None, None, "worst of the checks above")])
    uns = _uns(flow, pnl, strategy, comp, transforms, keys, status)
    adata = build_anndata(flow.sample.get_events(source="raw"), layer, result.membership, time.stable,
                          _var(flow, pnl, transforms), uns)
    return FlowSpecimen(subsets=_keyed(subsets, keys), qc=_keyed(checks, keys), adata=adata, status=status,
                        time_bins=time.bins)


def _compensation(flow: FlowFile, panel: Panel, strategy: Strategy, matrix: str | Path | None) -> Compensation:
    if strategy.kind != "workspace":
        return panel_compensation(flow, panel, matrix=matrix)
    if matrix is not None:
        raise InputError("a FlowJo workspace brings its own compensation; do not give a matrix as well",
                         field="compensation")
    matrices = dict(strategy.gating.comp_matrices)
    wanted = [c.channel for c in panel.fluorescence]
    if not matrices:
        return Compensation(None, "none (the workspace applies no compensation)", tuple(wanted))
    ref, comp = sorted(matrices.items())[0]
    labels = [d.replace("_", "/") for d in comp.detectors] + list(comp.detectors)
    return Compensation(comp, f"workspace matrix {ref}", tuple(c for c in wanted if c not in labels))


def _transformed_layer(columns: _Columns, transforms: list[ChannelTransform]) -> np.ndarray:
    """Every channel compensated and transformed once; gating reuses the strategy's columns."""
    out = np.empty((columns.sample.event_count, len(transforms)), dtype=np.float32)
    for j, ct in enumerate(transforms):
        values = columns.compensated(ct.compensation_ref)[:, j]
        values = ct.apply(values)
        if ct.transform_ref in columns.strategy.transformations:
            columns.put(ct.compensation_ref, j, ct.transform_ref, np.ascontiguousarray(values, dtype=float))
        out[:, j] = values
    return out


def _time_check(flow: FlowFile, panel: Panel, layer: np.ndarray, qc: QCSettings) -> TimeStability:
    name = panel.time_channel
    time = None
    if name and name in flow.channels:
        time = flow.sample.get_events(source="raw")[:, flow.channels.index(name)]
    idx = [flow.channels.index(c.channel) for c in panel.fluorescence]
    labels = [f"{c.channel} ({c.marker})" for c in panel.fluorescence]
    return time_stability(time, layer[:, idx], labels, qc)


def _checks(flow: FlowFile, panel: Panel, comp: Compensation, result: GatingResult, time: TimeStability,
            qc: QCSettings, panel_notes: list[str], *, dropped: bool) -> list[dict]:
    g = panel.gates
    total = flow.event_count
    cells, singlets, live, leuko = (result.count(x) for x in (g.cells, g.singlets, g.live, g.leukocytes))
    considered = int(result.membership.shape[0]) if not dropped else int(time.stable.sum())
    debris = 1 - cells / considered if considered else 1.0
    doublets = 1 - singlets / cells if cells else 1.0
    viability = live / singlets if singlets else 0.0
    uncovered = ", ".join(f"{c} ({panel.channel(c).marker})" for c in comp.uncovered)
    time_status = WARN if dropped and time.status == FAIL else time.status
    rows = [
        check_row("read", WARN if flow.notes else PASS, None, None, "; ".join(flow.notes) or f"FCS {flow.version}"),
        check_row("panel", PASS, None, None, "; ".join(panel_notes) or f"all {len(panel.channels)} channels and markers match"),
        check_row("compensation", FAIL if comp.uncovered else PASS, len(comp.uncovered), 0,
                  f"{comp.source}: does not cover {uncovered}" if comp.uncovered else comp.source),
        check_row("events_total", FAIL if total < qc.min_total_events else PASS, total, qc.min_total_events),
        check_row("events_leukocytes", FAIL if leuko < qc.min_leukocytes else PASS, leuko, qc.min_leukocytes),
        check_row("debris", FAIL if debris > qc.max_debris_fraction else PASS, debris, qc.max_debris_fraction,
                  f"outside {g.cells}"),
        check_row("doublets", FAIL if doublets > qc.max_doublet_fraction else PASS, doublets, qc.max_doublet_fraction,
                  f"{g.cells} outside {g.singlets}"),
        check_row("viability", FAIL if viability < qc.min_viability else PASS, viability, qc.min_viability,
                  f"{g.live} / {g.singlets}"),
        check_row("time_stability", time_status, time.unstable_fraction, qc.time_max_unstable_fraction,
                  time.detail + ("; unstable bins left out of the gating" if dropped and time.unstable_fraction else "")),
    ]
    return rows


def _var(flow: FlowFile, panel: Panel, transforms: list[ChannelTransform]) -> pd.DataFrame:
    known = {c.channel: c for c in panel.channels}
    rows = []
    for i, ch in enumerate(flow.channels):
        c = known.get(ch)
        ct = transforms[i]
        rows.append({"marker": (c.marker if c and c.marker else flow.markers[i]) or "", "kind": c.kind if c else "",
                     "fluorochrome": (c.fluorochrome if c else "") or "",
                     "compensation": ct.compensation_ref or "uncompensated", "transform": ct.transform_ref or "none"})
    return pd.DataFrame(rows, index=pd.Index(flow.channels, name="channel"))


def _uns(flow: FlowFile, panel: Panel, strategy: Strategy, comp: Compensation, transforms: list[ChannelTransform],
         keys: dict, status: str) -> dict:
    matrix = comp.matrix
    return {
        "panel": panel.name, "specimen": keys[N.SPECIMEN_ID], "subject": keys[N.USUBJID] or "",
        "timepoint": keys[N.TIMEPOINT] or "", "qc_status": status, "fcs_version": flow.version,
        "strategy": {"file": strategy.source.name, "kind": strategy.kind},
        "compensation": {"source": comp.source, "uncovered": np.asarray(comp.uncovered, dtype=str),
                         "detectors": np.asarray(matrix.detectors if matrix is not None else [], dtype=str),
                         "spillover": np.asarray(matrix.matrix, dtype=float) if matrix is not None else np.zeros((0, 0))},
        "transforms": _pairs({ct.channel: repr(ct.transform) if ct.transform is not None else "none" for ct in transforms}),
        "reader_notes": np.asarray(flow.notes, dtype=str),
        "keywords": _pairs(technical_keywords(flow.keywords())),
        "versions": {"biomarkers": __version__, "flowkit": fk.__version__},
    }


def _pairs(mapping: dict[str, str]) -> dict[str, np.ndarray]:
    """A str -> str mapping as two arrays (one HDF5 dataset each, not one per key)."""
    return {"name": np.asarray(list(mapping), dtype=str), "value": np.asarray(list(mapping.values()), dtype=str)}


def _keyed(frame: pd.DataFrame, keys: dict) -> pd.DataFrame:
    out = frame.copy()
    for i, (k, v) in enumerate(keys.items()):
        out.insert(i, k, v)
    return out
