"""Composition of a specimen: cells and fractions per cell type and state, and its biomarkers.

``FRACTION`` is of all cells that passed QC (unassigned included, so fractions sum
to 1); ``FRACTION_OF_IMMUNE`` is of cells with an immune label (tumour specimens:
the immune infiltrate); ``FRACTION_OF_PARENT`` is a state's share of its parent type
(exhausted CD8 T among CD8 T cells).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._settings import UNASSIGNED, MarkerPanel

__all__ = ["composition", "summarize", "SUMMARY_TYPES"]

# Cell types whose fraction of immune cells is a per-specimen biomarker column.
SUMMARY_TYPES = ("CD8_T", "CD4_T", "TREG", "NK", "B")


def composition(cell_types: pd.Series, states: pd.Series, panel: MarkerPanel) -> pd.DataFrame:
    """One row per cell type of the panel (zero when absent), other labels seen, ``UNASSIGNED`` and each state."""
    n = len(cell_types)
    counts = cell_types.astype(str).value_counts()
    immune = set(panel.immune_ids)
    labels = list(panel.ids) + sorted(set(counts.index) - set(panel.ids) - {UNASSIGNED}) + [UNASSIGNED]
    n_immune = int(sum(counts.get(t, 0) for t in immune))
    rows = []
    for label in labels:
        cells = int(counts.get(label, 0))
        is_immune = label in immune if label in panel.ids else None
        rows.append({"CELL_TYPE": label, "PARENT_TYPE": None, "IMMUNE": is_immune, "CELLS": cells,
                     "FRACTION": cells / n if n else np.nan,
                     "FRACTION_OF_IMMUNE": (cells / n_immune if n_immune else np.nan) if is_immune else np.nan,
                     "FRACTION_OF_PARENT": np.nan})
    state_values = states.astype(str).to_numpy()
    type_values = cell_types.astype(str).to_numpy()
    for st in panel.states:
        parent_cells = int((type_values == st.parent).sum())
        cells = int(((state_values == st.id) & (type_values == st.parent)).sum())
        rows.append({"CELL_TYPE": st.id, "PARENT_TYPE": st.parent, "IMMUNE": st.parent in immune, "CELLS": cells,
                     "FRACTION": cells / n if n else np.nan,
                     "FRACTION_OF_IMMUNE": cells / n_immune if n_immune and st.parent in immune else np.nan,
                     "FRACTION_OF_PARENT": cells / parent_cells if parent_cells else np.nan})
    return pd.DataFrame(rows)


def summarize(comp: pd.DataFrame) -> dict:
    """The specimen's biomarkers from its composition (fractions of immune cells; CD8/Treg ratio; exhausted share)."""
    by = comp.set_index("CELL_TYPE")
    n_cells = int(comp.loc[comp["PARENT_TYPE"].isna(), "CELLS"].sum())
    n_immune = int(comp.loc[comp["PARENT_TYPE"].isna() & comp["IMMUNE"].eq(True), "CELLS"].sum())

    def cells(t: str) -> int:
        return int(by.at[t, "CELLS"]) if t in by.index else 0

    out = {"N_CELLS": n_cells, "N_IMMUNE": n_immune, "N_UNASSIGNED": cells(UNASSIGNED),
           "IMMUNE_FRACTION": n_immune / n_cells if n_cells else np.nan}
    for t in SUMMARY_TYPES:
        out[f"{t}_FRACTION"] = cells(t) / n_immune if n_immune else np.nan
    cd8, treg = cells("CD8_T"), cells("TREG")
    out["CD8_EXHAUSTED_FRACTION"] = cells("CD8_T_EXHAUSTED") / cd8 if cd8 else np.nan
    out["CD8_TREG_RATIO"] = cd8 / treg if treg else np.nan
    return out
