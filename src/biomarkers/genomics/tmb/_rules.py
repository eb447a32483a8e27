"""The counting rules: ``assets/tmb.yaml`` (or a user's copy), validated by its JSON Schema."""

from __future__ import annotations

from pathlib import Path
from dataclasses import dataclass

from ...assets import load_settings

__all__ = ["load_rules", "TmbRules", "FILTERS", "TUMOR_ONLY_FILTERS"]

CONFIG = "tmb.yaml"
SCHEMA = "tmb.schema.json"

# The fixed order of the funnel, shared with the simulator's truth. A variant carries
# the first filter that removes it; one that passes them all is counted.
FILTERS: tuple[str, ...] = (
    "filter", "duplicate", "depth", "alt_reads", "vaf", "population", "hotspot",
    "not_coding", "synonymous", "not_callable",
)
TUMOR_ONLY_FILTERS = ("population", "hotspot")


@dataclass(frozen=True)
class VariantRules:
    pass_only: bool
    min_depth: int
    min_alt_reads: int
    min_vaf: float
    count_synonymous: bool


@dataclass(frozen=True)
class PopulationRules:
    max_af: float
    info_fields: tuple[str, ...]
    csq_fields: tuple[str, ...]


@dataclass(frozen=True)
class HotspotRules:
    remove_in_tumor_only: bool


@dataclass(frozen=True)
class ConsequenceRules:
    nonsynonymous: tuple[str, ...]
    synonymous: tuple[str, ...]
    severity: tuple[str, ...]


@dataclass(frozen=True)
class CallableRules:
    min_depth: int
    min_mapq: int
    min_baseq: int


@dataclass(frozen=True)
class TmbRules:
    """The counting rules, typed: every threshold of the funnel and the denominator."""

    variants: VariantRules
    population: PopulationRules
    hotspots: HotspotRules
    off_target_contigs: str
    consequences: ConsequenceRules
    callable: CallableRules
    tmb_high: float
    ci_level: float


def load_rules(path: str | Path | TmbRules | None = None) -> TmbRules:
    """The rules: the bundled defaults (``assets/tmb.yaml``), or the YAML at ``path``; a TmbRules passes through."""
    if isinstance(path, TmbRules):
        return path
    return load_settings(TmbRules, path, default=CONFIG, schema=SCHEMA)
