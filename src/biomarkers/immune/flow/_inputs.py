"""The cohort-level inputs of the flow step: absolute counts per specimen, FlowJo workspace samples.

- ``read_counts``: the counts CSV (``assets/flow_counts.schema.json``): per specimen,
  counting-bead numbers or the clinical lymphocyte count per microlitre. A zero, a
  negative or a missing companion number is one line naming the file, line and column.
- ``workspace_assignments``: which FlowJo workspace sample gates which samplesheet FCS
  file. A workspace sample matches a row when its name is the FCS file's name or the
  specimen ID; a workspace sample that matches no row is refused (the workspace names a
  sample the samplesheet does not have), in any sample group.
"""

from __future__ import annotations

import math
from pathlib import Path

import jsonschema

from ...assets import load_schema
from ...errors import InputError
from ...io import load_once, read_csv_rows
from ._stats import AbsoluteCounts
from ._strategy import workspace_samples

__all__ = ["read_counts", "counts_for", "workspace_assignments", "check_flow_rows", "COUNTS_SCHEMA"]

COUNTS_SCHEMA = "flow_counts.schema.json"
ALL_SAMPLES = "All Samples"


def read_counts(path: str | Path) -> dict[str, AbsoluteCounts]:
    """``{specimen: AbsoluteCounts}`` from the counts CSV, every row checked against its schema."""
    path = Path(path)
    schema = load_schema(COUNTS_SCHEMA)
    item = schema["items"]
    props = item["properties"]
    rows = read_csv_rows(path, what="flow counts file", required=item["required"], known=props,
                         known_from=f"{COUNTS_SCHEMA}: {', '.join(props)}")
    validator = jsonschema.Draft202012Validator(item)
    out: dict[str, AbsoluteCounts] = {}
    for line, row in enumerate(rows, start=2):
        record = {k: _number(v) if k != "specimen" else v.strip() for k, v in row.items()
                  if v is not None and v.strip() != ""}
        errors = sorted(validator.iter_errors(record), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
        if errors:
            err = errors[0]
            field = str(err.absolute_path[0]) if err.absolute_path else _missing_field(err)
            message = props.get(field, {}).get("errorMessage", err.message) if err.absolute_path else err.message
            raise InputError(message, file=path, row=f"line {line}", field=field, value=record.get(field))
        specimen = record["specimen"]
        if specimen in out:
            raise InputError("specimen listed twice", file=path, row=f"line {line}", field="specimen", value=specimen)
        out[specimen] = AbsoluteCounts(**{k: float(v) for k, v in record.items() if k != "specimen"})
    return out


def counts_for(path: str | Path | None, specimen: str) -> AbsoluteCounts | None:
    """One specimen's counts from the counts CSV (None when no file or no row)."""
    return load_once(path, read_counts).get(specimen) if path else None  # a worker gates many specimens of one file


def workspace_assignments(workspace: str | Path, rows: list[tuple[str, str]]) -> dict[str, str]:
    """``{specimen: workspace sample}`` for the (specimen, FCS path) rows the workspace gates."""
    samples = sorted({s for names in workspace_samples(workspace).values() for s in names})
    by_name: dict[str, str] = {}
    for specimen, fcs in rows:
        by_name[Path(fcs).name] = specimen
        by_name[specimen] = specimen
    out: dict[str, str] = {}
    for sample in samples:
        if sample not in by_name:
            raise InputError(f"the workspace names sample '{sample}', which is not a flow_fcs file or specimen of the "
                             "samplesheet", file=workspace)
        out[by_name[sample]] = sample
    return out


def _number(text: str):
    try:
        value = float(text)
    except ValueError:
        return text.strip()  # the schema reports it
    return value if math.isfinite(value) else text.strip()


def _missing_field(err: jsonschema.ValidationError) -> str | None:
    if err.validator in ("required", "dependentRequired"):
        parts = err.message.split("'")
        return parts[1] if len(parts) > 1 else None
    return None


def check_flow_rows(rows: list[dict], *, samplesheet: str | Path | None = None, counts: str | Path | None = None,
                    workspace: str | Path | None = None, panels: str | Path | None = None) -> dict[str, str]:
    """The flow inputs of a run checked before any file is gated; ``{specimen: workspace sample}``.

    ``rows`` are the samplesheet's ``flow_fcs`` rows (``specimen``, ``panel``, ``file``,
    ``line``): each panel must be one of ``panels.yaml``; the counts CSV is read whole
    (a bad row fails the run, not one task); every workspace sample must be a row's.
    """
    from ._settings import load_flow_settings

    settings = load_flow_settings(panels=panels)
    for row in rows:
        if row["panel"] not in settings.panels:
            raise InputError(f"unknown flow panel (assets/flow/panels.yaml has {', '.join(sorted(settings.panels))})",
                             file=samplesheet, row=f"line {row['line']}", field="panel", value=row["panel"])
    if counts:
        read_counts(counts)
    if not workspace:
        return {}
    return workspace_assignments(workspace, [(row["specimen"], row["file"]) for row in rows])
