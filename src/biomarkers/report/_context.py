"""What a report section reads: the results folder's tables and plots, and the protocol."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import schemas
from ..protocol import Protocol

__all__ = ["ReportContext"]


@dataclass
class ReportContext:
    results: Path
    protocol: Protocol
    cpus: int = 1  # worker processes for the figures the report draws itself
    _tables: dict[str, pd.DataFrame | None] = field(default_factory=dict, repr=False)
    _pngs: dict[str, list[Path]] | None = field(default=None, repr=False)

    @property
    def timepoint_key(self):
        return self.protocol.timepoint_sort_key()

    def table(self, name: str) -> pd.DataFrame | None:
        """The declared table ``name`` from the results folder (read once), or None when the step did not run."""
        if name not in self._tables:
            path = self.results / schemas.TABLES[name].path
            self._tables[name] = schemas.read_table(path, name) if path.is_file() else None
        return self._tables[name]

    def pngs(self, folder: str) -> list[Path]:
        """PNGs a step wrote under the top-level results folder ``folder`` (links followed: Nextflow stages links)."""
        if self._pngs is None:
            self._pngs = _find_pngs(self.results)
        return self._pngs.get(folder, [])

    def png_folders(self) -> list[str]:
        if self._pngs is None:
            self._pngs = _find_pngs(self.results)
        return sorted(self._pngs)


def _find_pngs(results: Path) -> dict[str, list[Path]]:
    """PNGs other steps wrote, by top-level results folder (report/ and analysis/ excluded).

    Symbolic links are followed: Nextflow stages a task's inputs as links.
    """
    found: dict[str, list[Path]] = {}
    for top in sorted(p for p in results.iterdir() if p.is_dir()):
        if top.name in ("report", "analysis") or top.name.startswith("."):
            continue
        for folder, dirs, files in os.walk(top, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.lower().endswith(".png"):
                    found.setdefault(top.name, []).append(Path(folder) / name)
    return found


