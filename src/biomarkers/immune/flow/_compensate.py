"""Compensation matrices: the file's spillover keyword or a CSV matrix given per panel.

A spillover matrix S (rows: fluorochromes as their primary detectors, columns:
detectors) describes how much of each dye's signal reaches the other detectors;
observed = true @ S, so compensated = observed @ S^-1 (FlowKit's ``Matrix.apply``,
Roederer, Cytometry 2001;45:194-205).

Coverage rule: every fluorescence channel of the panel must be a detector of the
matrix. A CSV matrix that misses one is configuration the user gave: an
:class:`InputError` naming the channels. A file whose own spillover keyword misses one
(or has no keyword) is an acquisition problem: the specimen is gated with what the
keyword covers and fails the ``compensation`` QC check, which names the channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import flowkit as fk
import numpy as np
import pandas as pd

from ...errors import InputError
from ._read import FlowFile
from ._settings import Panel

__all__ = ["Compensation", "spillover_matrix", "read_matrix_csv", "panel_compensation"]

SPILLOVER_KEYWORDS = ("spillover", "spill", "comp")


@dataclass(frozen=True)
class Compensation:
    matrix: fk.Matrix | None
    source: str                      # "spillover keyword", the CSV path, or "none"
    uncovered: tuple[str, ...] = ()  # panel fluorescence channels the matrix does not cover


def spillover_matrix(flow: FlowFile) -> fk.Matrix | None:
    """The file's $SPILLOVER (or SPILL) keyword as a FlowKit matrix; None when absent."""
    meta = flow.sample.get_metadata()
    key = next((k for k in SPILLOVER_KEYWORDS if str(meta.get(k, "")).strip()), None)
    if key is None:
        return None
    tokens = [t.strip() for t in str(meta[key]).split(",")]
    try:
        n = int(float(tokens[0]))
        names = tokens[1:1 + n]
        values = np.array([float(t) for t in tokens[1 + n:]], dtype=float)
    except (ValueError, IndexError):
        raise InputError(f"the ${key.upper()} keyword is not a spillover matrix (n, n channel names, n x n numbers)",
                         file=flow.path) from None
    if n < 1 or len(names) != n or values.size != n * n:
        raise InputError(f"the ${key.upper()} keyword declares {n} channels but holds {len(names)} names and "
                         f"{values.size} values", file=flow.path)
    _check_in_file(names, flow, f"the ${key.upper()} keyword")
    return fk.Matrix(values.reshape(n, n), names, _markers(flow, names))


def read_matrix_csv(path: str | Path, flow: FlowFile | None = None) -> fk.Matrix:
    """A compensation matrix as CSV (or TSV): a header of detector names, then n rows of n numbers."""
    path = Path(path)
    try:
        table = pd.read_csv(path, sep=None, engine="python")
    except FileNotFoundError:
        raise InputError("compensation matrix not found", file=path) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable compensation matrix CSV: {str(exc).splitlines()[0]}", file=path) from None
    names = [str(c).strip() for c in table.columns]
    if table.shape != (len(names), len(names)):
        raise InputError(f"a compensation matrix must be square: {len(names)} detector names but {table.shape[0]} rows",
                         file=path)
    try:
        values = table.to_numpy(dtype=float)
    except ValueError:
        raise InputError("the compensation matrix holds a value that is not a number", file=path) from None
    if not np.all(np.isfinite(values)):
        raise InputError("the compensation matrix holds a missing or infinite value", file=path)
    if flow is not None:
        _check_in_file(names, flow, f"the compensation matrix {path.name}")
    return fk.Matrix(values, names, _markers(flow, names) if flow is not None else None)


def panel_compensation(flow: FlowFile, panel: Panel, *, matrix: str | Path | None = None) -> Compensation:
    """The matrix a panel's file is compensated with, and the panel channels it leaves uncovered."""
    source = matrix if matrix is not None else panel.compensation
    wanted = [c.channel for c in panel.fluorescence]
    if source != "spillover":
        comp = read_matrix_csv(source, flow)
        missing = [c for c in wanted if c not in comp.detectors]
        if missing:
            raise InputError(f"the compensation matrix does not cover panel {panel.name} channel(s) "
                             f"{', '.join(_label(panel, c) for c in missing)}", file=source)
        return Compensation(comp, str(source))
    comp = spillover_matrix(flow)
    if comp is None:
        return Compensation(None, "none", tuple(wanted))
    return Compensation(comp, "spillover keyword", tuple(c for c in wanted if c not in comp.detectors))


def _check_in_file(names: list[str], flow: FlowFile, what: str) -> None:
    unknown = [n for n in names if n not in flow.channels]
    if unknown:
        raise InputError(f"{what} names channel(s) the file does not have: {', '.join(unknown)}", file=flow.path)
    scatter = [n for n in names if n.lower()[:4] in ("fsc-", "ssc-") or n.lower() == "time"]
    if scatter:
        raise InputError(f"{what} names scatter or time channel(s): {', '.join(scatter)}", file=flow.path)


def _markers(flow: FlowFile | None, names: list[str]) -> list[str]:
    if flow is None:
        return ["" for _ in names]
    return [flow.markers[flow.channels.index(n)] or "" for n in names]


def _label(panel: Panel, channel: str) -> str:
    marker = panel.channel(channel).marker
    return f"{channel} ({marker})" if marker else channel
