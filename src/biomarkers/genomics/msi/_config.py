"""MSI settings: ``assets/msi.yaml`` (or a user's copy), validated by ``msi.schema.json``, loaded once as a frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...assets import load_settings as _load
from ...errors import InputError

__all__ = ["MsiSettings", "ScanSettings", "ReadSettings", "CallSettings", "ScoreSettings", "RuleSettings", "SiteDefinition",
           "BaselineSettings", "load_settings"]


@dataclass(frozen=True)
class ScanSettings:
    min_homopolymer: int
    min_unit: int
    max_unit: int
    min_repeats: int
    max_repeat_bases: int
    flank: int


@dataclass(frozen=True)
class ReadSettings:
    min_mapq: int
    min_coverage: int
    max_reads: int


@dataclass(frozen=True)
class CallSettings:
    alpha: float
    min_shift: float


@dataclass(frozen=True)
class ScoreSettings:
    """Which sites enter the MSI score: homopolymers >= min_homopolymer bases, other units >= min_repeats times."""

    min_homopolymer: int
    min_repeats: int


@dataclass(frozen=True)
class SiteDefinition:
    """The scored-site definition a set of defaults was measured on (scan limits and score limits combined)."""

    min_homopolymer: int
    min_repeats: int
    min_unit: int
    max_unit: int
    max_repeat_bases: int
    flank: int


@dataclass(frozen=True)
class RuleSettings:
    false_positive_rate: float
    min_unstable_sites: int
    msi_h_score: float
    null_site_rate_paired: float
    null_site_rate_tumor_only: float
    calibrated_for: SiteDefinition


@dataclass(frozen=True)
class BaselineSettings:
    min_normals: int
    alpha: float
    min_shift: float


@dataclass(frozen=True)
class MsiSettings:
    scan: ScanSettings
    reads: ReadSettings
    call: CallSettings
    score: ScoreSettings
    rule: RuleSettings
    baseline: BaselineSettings


def load_settings(path: str | Path | None = None) -> MsiSettings:
    """The bundled defaults (``assets/msi.yaml``), or the YAML at ``path``, validated and typed."""
    settings = _load(MsiSettings, path, default="msi.yaml", schema="msi.schema.json")
    if settings.scan.min_unit > settings.scan.max_unit:
        raise InputError("scan.min_unit is larger than scan.max_unit", file=path or "msi.yaml", field="scan.min_unit",
                         value=settings.scan.min_unit)
    return settings
