"""Per-channel transforms of the transformed layer: as the strategy declares, or arcsinh.

By default every channel gets the compensation and transformation its gates use in
the strategy (logicle for fluorescence and linear for scatter in the trial's
Gating-ML; FlowJo's biex or arcsinh in a workspace). A channel no gate uses gets the
panel defaults: logicle (T=262144, W=0.5, M=4.5, A=0; Parks et al., Cytometry A
2006;69:541-551) for fluorescence, linear (flin, T=262144) for scatter, and time as
acquired (seconds). ``transform="arcsinh"`` replaces the fluorescence transforms by
asinh(x / cofactor), with the panel's per-channel cofactors; gating is unchanged (gates
always use their own declared transforms).
"""

from __future__ import annotations

from dataclasses import dataclass

import flowkit as fk
import numpy as np

from ...errors import InputError
from ._settings import FLUORESCENCE, SCATTER, Panel
from ._strategy import Strategy

__all__ = ["ChannelTransform", "layer_transforms", "DEFAULT_LOGICLE", "DEFAULT_LINEAR", "TRANSFORMS"]

DEFAULT_LOGICLE = fk.transforms.LogicleTransform(param_t=262144, param_w=0.5, param_m=4.5, param_a=0)
DEFAULT_LINEAR = fk.transforms.LinearTransform(param_t=262144, param_a=0)
TRANSFORMS = ("default", "arcsinh")


@dataclass(frozen=True)
class ChannelTransform:
    channel: str
    compensation_ref: str | None   # None: uncompensated
    transform_ref: str | None      # the strategy's id, or "default:logicle" / "default:linear" / "arcsinh:<c>" / None
    transform: object | None       # a FlowKit transform, an _Arcsinh, or None (identity)

    def apply(self, values: np.ndarray) -> np.ndarray:
        if self.transform is None:
            return values
        return np.asarray(self.transform.apply(values.reshape(-1, 1)), dtype=float).reshape(-1)


class _Arcsinh:
    def __init__(self, cofactor: float):
        self.cofactor = float(cofactor)

    def apply(self, values: np.ndarray) -> np.ndarray:
        return np.arcsinh(values / self.cofactor)

    def __repr__(self) -> str:
        return f"asinh(x / {self.cofactor:g})"


def layer_transforms(strategy: Strategy, channels: list[str], markers: list[str], panel: Panel, *,
                     transform: str = "default", fcs_compensated: bool = True) -> list[ChannelTransform]:
    """One transform per file channel, in file order."""
    if transform not in TRANSFORMS:
        raise InputError(f"transform must be one of {', '.join(TRANSFORMS)}", field="transform", value=transform)
    used = _gated_channels(strategy, channels, markers)
    out = []
    for channel in channels:
        kind = _kind(panel, channel)
        comp_ref, xform_ref = used.get(channel, (("FCS" if fcs_compensated else None) if kind == FLUORESCENCE else None, None))
        if transform == "arcsinh" and kind == FLUORESCENCE:
            cofactor = panel.cofactor(channel) if channel in {c.channel for c in panel.channels} else panel.arcsinh_cofactor
            out.append(ChannelTransform(channel, comp_ref, f"arcsinh:{cofactor:g}", _Arcsinh(cofactor)))
        elif xform_ref is not None:
            out.append(ChannelTransform(channel, comp_ref, xform_ref, strategy.gating.transformations[xform_ref]))
        elif kind == FLUORESCENCE:
            out.append(ChannelTransform(channel, comp_ref, "default:logicle", DEFAULT_LOGICLE))
        elif kind == SCATTER:
            out.append(ChannelTransform(channel, None, "default:linear", DEFAULT_LINEAR))
        else:
            out.append(ChannelTransform(channel, None, None, None))
    return out


def _kind(panel: Panel, channel: str) -> str:
    for c in panel.channels:
        if c.channel == channel:
            return c.kind
    low = channel.lower()
    if low.startswith(("fsc", "ssc")):
        return SCATTER
    return "time" if low == "time" else FLUORESCENCE


def _gated_channels(strategy: Strategy, channels: list[str], markers: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """channel -> (compensation ref, transformation ref) of the first gate dimension that uses it."""
    lookup = {}
    for i, ch in enumerate(channels):
        for label in (ch, markers[i], ch.replace("/", "_")):
            if label:
                lookup.setdefault(label, ch)
    used: dict[str, tuple[str | None, str | None]] = {}
    for name, path in strategy.gating.get_gate_ids():
        try:
            gate = strategy.gating.get_gate(name, path, sample_id=strategy.sample_id)
        except fk.exceptions.QuadrantReferenceError:
            continue
        for dim in getattr(gate, "dimensions", []):
            dim_id = getattr(dim, "dimension_ref", None) or getattr(dim, "id", None)
            channel = lookup.get(dim_id)
            if channel is None or channel in used:
                continue
            comp = dim.compensation_ref if dim.compensation_ref not in (None, "uncompensated") else None
            used[channel] = (comp, dim.transformation_ref)
    return used
