"""MSI settings: ``assets/msi.yaml`` (or a user's copy), validated by ``msi.schema.json``, loaded once as a frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...assets import load_settings as _load
from ...errors import InputError

__all__ = ["MsiSettings", "ScanSettings", "ReadSettings", "CallSettings", "BaselineSettings", "load_settings"]


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
    threshold_paired: float
    threshold_tumor_only: float


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
    baseline: BaselineSettings


def load_settings(path: str | Path | None = None) -> MsiSettings:
    """The bundled defaults (``assets/msi.yaml``), or the YAML at ``path``, validated and typed."""
    settings = _load(MsiSettings, path, default="msi.yaml", schema="msi.schema.json")
    if settings.scan.min_unit > settings.scan.max_unit:
        raise InputError("scan.min_unit is larger than scan.max_unit", file=path or "msi.yaml", field="scan.min_unit",
                         value=settings.scan.min_unit)
    return settings
