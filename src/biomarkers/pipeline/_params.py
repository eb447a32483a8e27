"""Pipeline parameters, declared once in ``nextflow_schema.json``.

The same file drives nf-schema in ``main.nf`` and ``biomarkers run``: options,
types, defaults and the check of a params file all come from it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ..assets import asset_path, load_json, load_yaml, validate
from ..errors import InputError

__all__ = ["params_schema", "param_specs", "param_specs_for_cli", "param_groups", "load_params"]


def params_schema() -> dict:
    return load_json(asset_path("nextflow_schema.json"))


def param_specs() -> dict[str, dict]:
    """Every parameter's JSON Schema, flattened over the schema's groups."""
    schema = params_schema()
    specs: dict[str, dict] = {}
    for group in schema.get("$defs", {}).values():
        specs.update(group.get("properties", {}))
    return specs


def param_specs_for_cli() -> dict[str, dict]:
    """Parameters ``biomarkers run`` offers as options (all of them, for now)."""
    return param_specs()


def param_groups() -> list[tuple[str, str, dict[str, dict]]]:
    """(title, description, parameters) of each group of the schema, in its order: the
    groups ``nextflow run --help`` shows, and ``biomarkers run --help`` too. A group that
    only Nextflow uses says so in its description ("Nextflow only")."""
    return [(group.get("title", key), group.get("description", ""), group.get("properties", {}))
            for key, group in params_schema().get("$defs", {}).items()]


def load_params(params_file: str | Path | None, overrides: dict[str, Any], *, base_dir: Path | None = None,
                check_files: bool = True) -> dict[str, Any]:
    """Merge defaults, a YAML/JSON params file and command-line overrides; validate.

    Paths in a params file resolve against the params file's folder, as the
    samplesheet's do; paths given on the command line resolve against the current
    folder.
    """
    specs = param_specs()
    params: dict[str, Any] = {k: v["default"] for k, v in specs.items() if "default" in v}
    if params_file:
        params_file = Path(params_file)
        loaded = load_yaml(params_file) or {}
        if not isinstance(loaded, dict):
            raise InputError("a params file must be a mapping of parameter names to values", file=params_file)
        for key, value in loaded.items():
            if key not in specs:
                raise InputError("unknown parameter (not in nextflow_schema.json)", file=params_file, field=key)
            params[key] = _resolve(value, specs[key], params_file.parent)
    for key, value in overrides.items():
        if value is not None:
            params[key] = _resolve(value, specs[key], Path.cwd())
    schema = params_schema()
    checked = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in params.items() if v is not None}
    validate(checked, schema, file=params_file or "parameters")
    for key, value in checked.items():
        spec = specs[key]
        if check_files and spec.get("exists") and spec.get("format") in {"file-path", "directory-path", "path"}:
            if not Path(value).exists():
                raise InputError("path does not exist", file=params_file or "command line", field=key, value=value)
    return {k: params.get(k) for k in specs}


def _resolve(value: Any, spec: dict, base: Path) -> Any:
    if value is None or spec.get("format") not in {"file-path", "directory-path", "path"}:
        return value
    if "://" in str(value):  # a URL (s3://, gs://, az://...): Nextflow reads it, nothing to resolve
        return value
    path = Path(str(value))
    return str(path if path.is_absolute() else (base / path).resolve())
