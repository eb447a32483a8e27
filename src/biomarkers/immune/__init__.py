"""Circulating and tumour immune profiling.

``biomarkers.immune.flow``: flow cytometry of blood specimens (FCS files, gating,
subset frequencies and counts, QC).
"""

from . import flow

__all__ = ["flow"]
