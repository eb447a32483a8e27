"""Per-file quality control: reading, compensation, event counts, debris, doublets, viability, time.

Every check gives PASS, WARN or FAIL with the value it measured and the threshold of
``assets/flow/qc.yaml``; a specimen's status is its worst check. The time-stability
check follows flowAI (Monaco et al., Bioinformatics 2016;32:2473-2480) and PeacoQC
(Emmaneel et al., Cytometry A 2022;101:325-338) in spirit: the acquisition is cut
into equal time bins and a bin is unstable when its event rate, or the mean
transformed signal of a fluorescence channel, departs from the median over bins by
more than ``max_robust_z`` robust standard deviations (1.4826 x MAD) and by more than
an absolute floor (a relative rate change, a shift in transformed units).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._settings import QCSettings

__all__ = ["PASS", "WARN", "FAIL", "STATUSES", "TimeStability", "time_stability", "worst", "check_row"]

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
STATUSES = (PASS, WARN, FAIL)
_MAD_SCALE = 1.4826


def worst(statuses) -> str:
    statuses = list(statuses)
    return max(statuses, key=STATUSES.index) if statuses else PASS


def check_row(check: str, status: str, value: float | None, threshold: float | None, detail: str = "") -> dict:
    return {"CHECK": check, "STATUS": status, "VALUE": None if value is None else float(value),
            "THRESHOLD": None if threshold is None else float(threshold), "DETAIL": detail}


@dataclass(frozen=True)
class TimeStability:
    status: str
    unstable_fraction: float           # share of acquisition time in unstable bins
    stable: np.ndarray                 # per event: True when its bin is stable
    bins: pd.DataFrame                 # per bin: START_S, END_S, EVENTS, RATE_UNSTABLE, SIGNAL_UNSTABLE (channels)
    detail: str


def time_stability(time: np.ndarray | None, signals: np.ndarray, names: list[str], qc: QCSettings) -> TimeStability:
    """Flag time bins whose event rate or mean signal jumps; see the module docstring."""
    n = signals.shape[0]
    if time is None or n == 0 or not np.isfinite(time).all() or np.ptp(time) <= 0:
        return TimeStability(WARN, 0.0, np.ones(n, dtype=bool), pd.DataFrame(), "no usable time channel: not evaluated")
    edges = np.linspace(time.min(), time.max(), qc.time_bins + 1)
    which = np.clip(np.searchsorted(edges, time, side="right") - 1, 0, qc.time_bins - 1)
    counts = np.bincount(which, minlength=qc.time_bins).astype(float)
    rate_bad = _outlying(counts, qc.time_max_robust_z, relative=qc.time_min_rate_change)
    means = np.full((qc.time_bins, signals.shape[1]), np.nan)
    for j in range(signals.shape[1]):
        sums = np.bincount(which, weights=signals[:, j], minlength=qc.time_bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            means[:, j] = sums / counts
    judged = counts >= qc.time_min_events_per_bin
    signal_bad = np.zeros((qc.time_bins, signals.shape[1]), dtype=bool)
    for j in range(signals.shape[1]):
        signal_bad[judged, j] = _outlying(means[judged, j], qc.time_max_robust_z, absolute=qc.time_min_signal_shift)
    unstable = rate_bad | signal_bad.any(axis=1)
    fraction = float(unstable.mean())
    status = PASS if fraction == 0 else (WARN if fraction <= qc.time_max_unstable_fraction else FAIL)
    bins = pd.DataFrame({"START_S": edges[:-1], "END_S": edges[1:], "EVENTS": counts.astype(int),
                         "RATE_UNSTABLE": rate_bad, "SIGNAL_UNSTABLE": [", ".join(np.asarray(names)[row]) for row in signal_bad]})
    detail = _detail(unstable, rate_bad, signal_bad, names, fraction)
    return TimeStability(status, fraction, ~unstable[which], bins, detail)


def _outlying(values: np.ndarray, max_z: float, *, relative: float | None = None, absolute: float | None = None) -> np.ndarray:
    if values.size == 0:
        return np.zeros(0, dtype=bool)
    centre = np.median(values)
    spread = _MAD_SCALE * np.median(np.abs(values - centre))
    deviation = np.abs(values - centre)
    floor = absolute if absolute is not None else (relative or 0.0) * abs(centre)
    # a zero MAD (perfectly flat bins) must not make every tiny difference an outlier
    return (deviation > max_z * spread) & (deviation > floor)


def _detail(unstable, rate_bad, signal_bad, names, fraction) -> str:
    if not unstable.any():
        return f"{unstable.size} time bins, all stable"
    parts = []
    if rate_bad.any():
        parts.append(f"event rate in {int(rate_bad.sum())} bin(s)")
    per_channel = signal_bad.sum(axis=0)
    for j in np.argsort(-per_channel):
        if per_channel[j]:
            parts.append(f"{names[j]} signal in {int(per_channel[j])} bin(s)")
    shown = parts[:4] + (["..."] if len(parts) > 4 else [])
    return f"{int(unstable.sum())} of {unstable.size} bins unstable ({100 * fraction:.1f}% of acquisition time): " + "; ".join(shown)
