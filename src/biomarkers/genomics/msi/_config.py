"""MSI parameters: ``assets/msi.yaml`` (or a user's copy), validated by ``msi.schema.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...assets import load_config
from ...errors import InputError

__all__ = ["load_msi_config"]


def load_msi_config(path: str | Path | dict | None = None) -> dict[str, Any]:
    """The bundled defaults, or the YAML at ``path`` (validated); a dict passes through validated."""
    if isinstance(path, dict):
        from ...assets import validate

        validate(path, "msi.schema.json", file="msi config")
        config = path
    else:
        config = load_config(path or "msi.yaml", "msi.schema.json")
    scan = config["scan"]
    if scan["min_unit"] > scan["max_unit"]:
        raise InputError("scan.min_unit is larger than scan.max_unit", file=path or "msi.yaml", field="scan.min_unit",
                         value=scan["min_unit"])
    return config
