"""Gating figure: each gate's 2-D (or 1-D) plot of its parent's events, with the gate drawn.

Drawn from the specimen's AnnData (the transformed layer and the gate columns of
``obs``), so any specimen can be plotted after the fact. A gate is drawn when its
dimensions are in the transformed layer with the compensation and transform the gate
uses (always, for the trial's strategy); Boolean gates have nothing to draw.
"""

from __future__ import annotations

import math

import anndata as ad
import flowkit as fk
import numpy as np

from ._gate import gate_label
from ._strategy import Strategy

__all__ = ["plot_gating", "save_figure"]

_LIMITS = (-0.15, 1.05)
_IN, _OUT = np.array([0.70, 0.09, 0.17, 0.6]), np.array([0.30, 0.30, 0.30, 0.5])


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path) -> None:
    """Write a figure as PNG and release it."""
    fig.savefig(path, dpi=110, format="png")
    _pyplot().close(fig)


def plot_gating(adata: ad.AnnData, strategy: Strategy, *, max_points: int = 3000, columns: int = 5,
                title: str | None = None):
    """One panel per drawable gate, parents before children; returns a matplotlib Figure."""
    plt = _pyplot()
    drawable = []
    for name, path in strategy.gating.get_gate_ids():
        try:
            gate = strategy.gating.get_gate(name, path, sample_id=strategy.sample_id)
        except fk.exceptions.QuadrantReferenceError:
            continue
        dims = _dims(adata, gate)
        if dims is not None:
            drawable.append((name, path, gate, dims))
    rows = max(1, math.ceil(len(drawable) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.0 * columns, 2.8 * rows), squeeze=False)
    layer = adata.layers["transformed"]
    rng = np.random.default_rng(0)
    for ax, (name, path, gate, dims) in zip(axes.ravel(), drawable):
        parent = np.ones(adata.n_obs, dtype=bool) if path == ("root",) else \
            adata.obs[gate_label(path[-1], path[:-1], strategy.gating)].to_numpy()
        inside = adata.obs[gate_label(name, path, strategy.gating)].to_numpy()
        rows_idx = np.flatnonzero(parent)
        if rows_idx.size > max_points:
            rows_idx = np.sort(rng.choice(rows_idx, max_points, replace=False))
        _draw(ax, layer, rows_idx, inside, dims, gate)
        n_in, n_parent = int(inside.sum()), int(parent.sum())
        pct = 100.0 * n_in / n_parent if n_parent else 0.0
        ax.set_title(f"{name}: {n_in:,} ({pct:.1f}% of {path[-1]})", fontsize=8)
    for ax in axes.ravel()[len(drawable):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.06, top=1 - 0.5 / (2.8 * rows), wspace=0.35, hspace=0.45)
    return fig


def _dims(adata: ad.AnnData, gate) -> list[tuple[int, str, float | None, float | None]] | None:
    """(column, axis label, min, max) per dimension, or None when the gate cannot be drawn."""
    if isinstance(gate, fk.gates.BooleanGate):
        return None
    var = adata.var
    out = []
    for dim in gate.dimensions:
        if isinstance(dim, fk.RatioDimension):
            return None
        dim_id = dim.dimension_ref if isinstance(dim, fk.QuadrantDivider) else dim.id
        if dim_id in var.index:
            j = var.index.get_loc(dim_id)
        elif dim_id in set(var["marker"]):
            j = int(np.flatnonzero(var["marker"].to_numpy() == dim_id)[0])
        else:
            return None
        comp = dim.compensation_ref if dim.compensation_ref not in (None, "uncompensated") else "uncompensated"
        if var["transform"].iloc[j] != (dim.transformation_ref or "none") or \
                (var["kind"].iloc[j] == "fluorescence" and var["compensation"].iloc[j] != comp):
            return None
        marker = var["marker"].iloc[j]
        label = f"{marker} ({var.index[j]})" if marker and marker != var.index[j] else var.index[j]
        out.append((j, label, getattr(dim, "min", None), getattr(dim, "max", None)))
    return out if 1 <= len(out) <= 2 else None


def _draw(ax, layer, rows, inside, dims, gate) -> None:
    x = layer[rows, dims[0][0]]
    colour = np.where(inside[rows][:, None], _IN, _OUT)
    if len(dims) == 1:
        bins = np.linspace(*_LIMITS, 81)
        ax.stairs(np.histogram(x, bins=bins)[0], bins, fill=True, color="#4d4d4d")
        ax.stairs(np.histogram(x[inside[rows]], bins=bins)[0], bins, fill=True, color="#b2182b", alpha=0.8)
        for v in (dims[0][2], dims[0][3]):
            if v is not None:
                ax.axvline(v, color="#2166ac", lw=1)
        ax.set_xlabel(dims[0][1], fontsize=7)
    else:
        y = layer[rows, dims[1][0]]
        ax.scatter(x, y, s=1, c=colour, linewidths=0, rasterized=True)
        _outline(ax, gate, dims)
        ax.set_xlim(*_LIMITS)
        ax.set_ylim(*_LIMITS)
        ax.set_xlabel(dims[0][1], fontsize=7)
        ax.set_ylabel(dims[1][1], fontsize=7)
    ax.tick_params(labelsize=6)


def _outline(ax, gate, dims) -> None:
    from matplotlib.patches import Ellipse, Polygon, Rectangle

    style = {"fill": False, "edgecolor": "#2166ac", "lw": 1.2}
    if isinstance(gate, fk.gates.PolygonGate):
        ax.add_patch(Polygon(np.asarray(gate.vertices, dtype=float), closed=True, **style))
    elif isinstance(gate, fk.gates.RectangleGate):
        (x0, x1), (y0, y1) = [(d[2] if d[2] is not None else _LIMITS[0] - 1, d[3] if d[3] is not None else _LIMITS[1] + 1)
                              for d in dims]
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, **style))
    elif isinstance(gate, fk.gates.EllipsoidGate):
        values, vectors = np.linalg.eigh(np.asarray(gate.covariance_matrix, dtype=float))
        width, height = 2 * np.sqrt(values * gate.distance_square)
        angle = np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1]))
        ax.add_patch(Ellipse(gate.coordinates, height, width, angle=angle, **style))
