"""The counting rules: ``assets/tmb.yaml`` (or a user's copy), validated by its JSON Schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...assets import load_config

__all__ = ["load_rules", "FILTERS", "TUMOR_ONLY_FILTERS"]

CONFIG = "tmb.yaml"
SCHEMA = "tmb.schema.json"

# The fixed order of the funnel, shared with the simulator's truth. A variant carries
# the first filter that removes it; one that passes them all is counted.
FILTERS: tuple[str, ...] = (
    "filter", "duplicate", "depth", "alt_reads", "vaf", "population", "hotspot",
    "not_coding", "synonymous", "not_callable",
)
TUMOR_ONLY_FILTERS = ("population", "hotspot")


def load_rules(path: str | Path | None = None) -> dict[str, Any]:
    """The rules as a plain dict: the bundled defaults, or the file at ``path``."""
    return load_config(path or CONFIG, SCHEMA)
