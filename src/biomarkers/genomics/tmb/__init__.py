"""Tumour mutational burden (TMB) of one tumour specimen, and the cohort tables.

Public API (plain functions over pysam objects and pandas frames):

- :func:`load_rules` -- the counting rules (``assets/tmb.yaml``).
- :func:`read_bed` -- a target or coding BED, checked and merged (overlaps once).
- :func:`count_variants` -- every split ALT allele of a VCF through the filter funnel.
- :func:`callable_territory` -- bases of the targets with enough depth in the tumour (and
  normal) BAM/CRAM at the mapping- and base-quality thresholds, overlapping mates once.
- :func:`tmb_estimate` / :func:`poisson_interval` -- TMB with its exact 95% interval.
- :func:`count_specimen` -- all of the above for one specimen; :func:`write_parts` -- its part files;
  :func:`count_to_parts` -- both, from files (``biomarkers tmb count``); :func:`collect` -- cohort tables.
"""

from ._bed import Regions, read_bed
from ._alleles import normalize, read_hotspots
from ._count import count_variants
from ._funnel import funnel
from ._vcf import choose_samples, open_vcf
from ._estimate import TmbEstimate, poisson_interval, tmb_estimate
from ._callable import EXCLUDED_FLAGS, TargetDepth, callable_territory, target_depth
from ._rules import FILTERS, load_rules
from ._specimen import collect, count_specimen, count_to_parts, write_parts

__all__ = [
    "FILTERS", "Regions", "TmbEstimate", "choose_samples", "count_variants", "funnel", "load_rules",
    "normalize", "open_vcf", "poisson_interval", "read_bed", "read_hotspots", "tmb_estimate",
    "EXCLUDED_FLAGS", "TargetDepth", "callable_territory", "target_depth", "collect", "count_specimen", "count_to_parts", "write_parts",
]
