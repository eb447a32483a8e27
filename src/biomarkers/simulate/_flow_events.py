"""Events of one simulated flow cytometry tube: cells, debris, doublets, spillover, time.

Each leukocyte type has a position per marker (a level in logicle units) and a
scatter profile; a cell's true fluorescence is drawn around its levels and brought
back to linear units with the inverse logicle transform. Dead cells take up the
viability dye; doublets add two cells' light (FSC-A doubles, FSC-H does not);
debris is small and dim. The detectors then see the dyes through the spillover
matrix plus noise: observed = true @ S + e. Every event keeps its truth: what it is
(``POPULATION``) and, for CD8+ T cells, whether it is PD-1+ and Ki-67+.
"""

from __future__ import annotations

from dataclasses import dataclass

import flowkit as fk
import numpy as np
import pandas as pd

__all__ = ["TubeSpec", "TubeEvents", "simulate_tube", "spillover_array", "LOGICLE"]

LOGICLE = fk.transforms.LogicleTransform(param_t=262144, param_w=0.5, param_m=4.5, param_a=0)
FULL_SCALE = 262144.0
DEBRIS, DOUBLET, DEAD, CD45_NEGATIVE = "DEBRIS", "DOUBLET", "DEAD", "CD45_NEGATIVE"


@dataclass(frozen=True)
class TubeSpec:
    """What one tube holds: its event count, composition and marker-state fractions."""

    n_events: int
    shares: dict[str, float]            # leukocyte type -> share of CD45+
    state_fractions: dict[str, dict[str, float]]   # state (PD1, KI67) -> type -> positive fraction
    debris: float
    doublets: float
    dead: float
    cd45_negative: float
    duration_s: float
    clog: dict | None = None            # {"gap_fraction", "shift_fraction", "dim_factor"} or None


@dataclass
class TubeEvents:
    data: np.ndarray                    # events x channels, float32, panel channel order
    truth: pd.DataFrame                 # POPULATION, PD1, KI67 per event (file order)


def spillover_array(detectors: list[str], entries: list[list]) -> np.ndarray:
    """S[i, j]: fraction of dye i (primary detector i) seen by detector j; 1 on the diagonal."""
    s = np.eye(len(detectors))
    index = {d: i for i, d in enumerate(detectors)}
    for source, target, value in entries:
        s[index[source], index[target]] = float(value)
    return s


def simulate_tube(spec: TubeSpec, model: dict, channels: list[dict], spill: np.ndarray,
                  rng: np.random.Generator) -> TubeEvents:
    """All events of one tube, in acquisition order, with their per-event truth."""
    fluo = [c for c in channels if c["kind"] == "fluorescence"]
    markers = [c["marker"] for c in fluo]
    n_debris = int(round(spec.n_events * spec.debris))
    n_cells = spec.n_events - n_debris
    n_doublets = int(round(n_cells * spec.doublets))
    n_single = n_cells - n_doublets
    n_dead = int(round(n_single * spec.dead))
    n_neg = int(round((n_single - n_dead) * spec.cd45_negative))
    n_leuko = n_single - n_dead - n_neg

    parts = [
        _cells(n_leuko, spec, model, markers, rng),
        _dead(n_dead, spec, model, markers, rng),
        _cd45_negative(n_neg, model, markers, rng),
        _doublets(n_doublets, spec, model, markers, rng),
        _debris(n_debris, model, markers, rng),
    ]
    true_fluo = np.vstack([p[0] for p in parts])
    scatter = np.vstack([p[1] for p in parts])
    truth = pd.concat([p[2] for p in parts], ignore_index=True)
    order = rng.permutation(len(truth))
    true_fluo, scatter, truth = true_fluo[order], scatter[order], truth.iloc[order].reset_index(drop=True)

    acq = model["acquisition"]
    time, dim = _acquisition_times(len(truth), spec, rng)
    observed = true_fluo * dim[:, None] @ spill + rng.normal(0.0, acq["detector_noise"], true_fluo.shape)
    scatter = scatter + rng.normal(0.0, acq["scatter_noise"], scatter.shape)
    columns = {"fsc_a": scatter[:, 0], "fsc_h": scatter[:, 1], "ssc_a": scatter[:, 2]}
    data = np.empty((len(truth), len(channels)), dtype=np.float32)
    fi = 0
    for j, c in enumerate(channels):
        if c["kind"] == "fluorescence":
            data[:, j] = observed[:, fi]
            fi += 1
        elif c["kind"] == "time":
            data[:, j] = time / acq["timestep"]
        else:
            data[:, j] = columns[{"FSC-A": "fsc_a", "FSC-H": "fsc_h", "SSC-A": "ssc_a"}[c["channel"]]]
    np.minimum(data, acq["top"], out=data)
    return TubeEvents(data=data, truth=truth)


def _levels(model: dict, spec_markers: dict, markers: list[str], n: int, rng: np.random.Generator) -> np.ndarray:
    means = np.array([model["levels"][spec_markers.get(m, "neg")][0] for m in markers])
    sds = np.array([model["levels"][spec_markers.get(m, "neg")][1] for m in markers])
    return means + sds * rng.standard_normal((n, len(markers)))


def _linear(logicle_values: np.ndarray) -> np.ndarray:
    return LOGICLE.inverse(logicle_values)


def _scatter(types: np.ndarray, model: dict, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((len(types), 3))
    ct = model["cell_types"]
    for t in np.unique(types):
        idx = np.flatnonzero(types == t)
        fsc = rng.normal(*ct[t]["fsc"], size=idx.size)
        ssc = rng.normal(*ct[t]["ssc"], size=idx.size)
        out[idx, 0] = fsc
        out[idx, 1] = fsc * rng.normal(0.85, 0.025, size=idx.size)
        out[idx, 2] = ssc
    return np.clip(out, 0.003, 1.0) * FULL_SCALE


def _draw_types(n: int, spec: TubeSpec, rng: np.random.Generator) -> np.ndarray:
    names = sorted(spec.shares)
    p = np.array([spec.shares[t] for t in names])
    return np.asarray(names, dtype=object)[rng.choice(len(names), size=n, p=p / p.sum())]


def _typed_cells(types: np.ndarray, spec: TubeSpec, model: dict, markers: list[str], rng: np.random.Generator):
    """Fluorescence (linear) and marker states of cells of the given types."""
    values = np.empty((types.size, len(markers)))
    states = {s: np.zeros(types.size, dtype=bool) for s in spec.state_fractions}
    marker_of = {"PD1": "PD-1", "KI67": "Ki-67"}
    for t in np.unique(types):
        idx = np.flatnonzero(types == t)
        levels = dict(model["cell_types"][t]["markers"])
        values[idx] = _levels(model, levels, markers, idx.size, rng)
        for state, by_type in spec.state_fractions.items():
            positive = rng.random(idx.size) < by_type.get(t, 0.0)
            states[state][idx] = positive
            j = markers.index(marker_of[state])
            values[idx[positive], j] = _levels(model, {marker_of[state]: "pos"}, [marker_of[state]], int(positive.sum()), rng)[:, 0]
    return _linear(values), states


def _cells(n: int, spec: TubeSpec, model: dict, markers: list[str], rng: np.random.Generator):
    types = _draw_types(n, spec, rng)
    fluo, states = _typed_cells(types, spec, model, markers, rng)
    truth = pd.DataFrame({"POPULATION": types.astype(str), **{s: v for s, v in states.items()}})
    return fluo, _scatter(types, model, rng), truth


def _dead(n: int, spec: TubeSpec, model: dict, markers: list[str], rng: np.random.Generator):
    types = _draw_types(n, spec, rng)
    fluo, _ = _typed_cells(types, spec, model, markers, rng)
    fluo[:, markers.index("Viability")] = _linear(_levels(model, {"Viability": "bright"}, ["Viability"], n, rng))[:, 0]
    scatter = _scatter(types, model, rng)
    scatter[:, :2] *= 0.85        # dying cells shrink and become more granular
    scatter[:, 2] *= 1.2
    return fluo, scatter, _truth(DEAD, n, spec)


def _cd45_negative(n: int, model: dict, markers: list[str], rng: np.random.Generator):
    fluo = _linear(_levels(model, {}, markers, n, rng))
    fsc = rng.normal(0.20, 0.02, n)
    scatter = np.column_stack([fsc, fsc * rng.normal(0.85, 0.025, n), np.abs(rng.normal(0.03, 0.01, n))])
    return fluo, np.clip(scatter, 0.003, 1.0) * FULL_SCALE, _truth(CD45_NEGATIVE, n, None)


def _doublets(n: int, spec: TubeSpec, model: dict, markers: list[str], rng: np.random.Generator):
    a_types, b_types = _draw_types(n, spec, rng), _draw_types(n, spec, rng)
    fa, _ = _typed_cells(a_types, spec, model, markers, rng)
    fb, _ = _typed_cells(b_types, spec, model, markers, rng)
    sa, sb = _scatter(a_types, model, rng), _scatter(b_types, model, rng)
    scatter = np.column_stack([sa[:, 0] + sb[:, 0], np.maximum(sa[:, 1], sb[:, 1]) * rng.normal(1.05, 0.03, n),
                               sa[:, 2] + sb[:, 2]])
    return fa + fb, np.minimum(scatter, FULL_SCALE - 1), _truth(DOUBLET, n, spec)


def _debris(n: int, model: dict, markers: list[str], rng: np.random.Generator):
    fluo = _linear(_levels(model, {"Viability": "dim"}, markers, n, rng))
    fsc = rng.uniform(0.005, 0.10, n)
    scatter = np.column_stack([fsc, fsc * rng.uniform(0.5, 1.0, n), np.abs(rng.normal(0.02, 0.02, n))])
    return fluo, np.clip(scatter, 0.001, 1.0) * FULL_SCALE, _truth(DEBRIS, n, None)


def _truth(population: str, n: int, spec: TubeSpec | None) -> pd.DataFrame:
    states = ("PD1", "KI67") if spec is None else tuple(spec.state_fractions)
    return pd.DataFrame({"POPULATION": [population] * n, **{s: np.zeros(n, dtype=bool) for s in states}})


def _acquisition_times(n: int, spec: TubeSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Arrival times (s, ascending) and a per-event signal factor (1, or dimmed after a clog)."""
    duration = spec.duration_s
    dim = np.ones(n)
    if not spec.clog:
        return np.sort(rng.uniform(0.0, duration, n)), dim
    gap = spec.clog["gap_fraction"] * duration
    start = rng.uniform(0.3, 0.5) * duration
    # events arrive on the time axis without the gap, then everything after it moves on
    times = np.sort(rng.uniform(0.0, duration - gap, n))
    times[times >= start] += gap
    shifted = (times >= start + gap) & (times < start + gap + spec.clog["shift_fraction"] * duration)
    dim[shifted] = spec.clog["dim_factor"]
    return times, dim
