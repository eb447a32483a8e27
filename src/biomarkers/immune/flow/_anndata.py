"""One specimen's events as AnnData, for re-analysis in scanpy.

- ``X``: the events as read (FlowKit's pre-processed "raw": gain and log-amplification
  undone, time in seconds), float32, events x channels;
- ``layers["transformed"]``: compensated and transformed as the strategy declares
  (or arcsinh), float32;
- ``obs``: one boolean column per gate (the gate's name; its path when a name repeats)
  and ``time_stable`` (the event's time bin passed the stability check);
- ``var``: channel ($PnN), marker ($PnS or the panel's), kind, compensation and transform;
- ``uns["flow"]``: panel, specimen, strategy, compensation matrix, reader notes, QC
  status, versions, and the file's technical keywords.

Only technical keywords are kept (an allowlist: instrument, channel parameters,
spillover, time step, event and parameter counts). FCS files often carry patient names,
dates and free-text comments in ``$SRC``, ``$FIL``, ``$SMNO``, ``$COM`` or vendor
keywords; none of those reach an output.
"""

from __future__ import annotations

import re

import anndata as ad
import numpy as np
import pandas as pd

__all__ = ["build_anndata", "technical_keywords"]

_KEEP = re.compile(r"^\$?(cyt|cytsn|tot|par|datatype|mode|byteord|timestep|spillover|spill|vol|"
                   r"p\d+[nsrbegv]|p\d+display|apply compensation|creator|fcs version)$", re.IGNORECASE)


def technical_keywords(keywords: dict[str, str]) -> dict[str, str]:
    """The allowlisted technical keywords of an FCS file (see the module docstring)."""
    return {k: v for k, v in sorted(keywords.items()) if _KEEP.match(k)}


def build_anndata(raw: np.ndarray, transformed: np.ndarray, membership: pd.DataFrame, time_stable: np.ndarray,
                  var: pd.DataFrame, uns: dict) -> ad.AnnData:
    obs = membership.copy()
    obs["time_stable"] = np.asarray(time_stable, dtype=bool)
    obs.index = pd.Index(np.arange(raw.shape[0]).astype(str), name="event")
    adata = ad.AnnData(X=np.asarray(raw, dtype=np.float32), obs=obs, var=var)
    adata.layers["transformed"] = np.asarray(transformed, dtype=np.float32)
    adata.uns["flow"] = uns
    return adata
