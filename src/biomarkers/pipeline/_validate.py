"""The input checks of a run, shared by ``biomarkers run`` and ``biomarkers validate``.

``biomarkers run`` calls :func:`check_inputs` before its first step; Nextflow's first
process, ``VALIDATE``, calls :func:`validate_params_file` through
``biomarkers validate``: the same code, so both engines refuse the same inputs with
the same one-line messages. ``validate`` also writes the pairing of every tumour's
files (``samplesheet.tumor_inputs``) as ``validation/tumors.csv``, which the Nextflow
workflow reads instead of pairing rows itself.
"""

from __future__ import annotations

import csv
import glob
import io
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd

from .. import names as N
from ..errors import InputError
from ..io import write_text_atomic
from ..protocol import Protocol, load_protocol
from ..samplesheet import TumorInputs, read_samplesheet, tumor_inputs
from ._params import load_params

__all__ = ["CheckedInputs", "check_inputs", "validate_params_file", "TUMORS_COLUMNS"]

# Parameters that are globs: each must match a file when given.
GLOB_PARAMS = ("custody_exports", "pon")
TUMORS_COLUMNS = ["mode", *(f.name for f in fields(TumorInputs))]


@dataclass(frozen=True)
class CheckedInputs:
    protocol: Protocol
    samplesheet: pd.DataFrame | None
    tumors: list[TumorInputs]


def check_inputs(params: dict[str, Any], *, check_files: bool = True) -> CheckedInputs:
    """Protocol, samplesheet (columns, assays, specimen types and timepoints of the
    protocol, USUBJID format, normal-specimen references, files), the tumour/normal/VCF
    pairing, and every glob parameter matching a file. ``check_files=False`` leaves out
    what needs the files themselves (their existence, the globs): under Nextflow,
    nf-schema and the launch checked them where the files are."""
    protocol = load_protocol(params.get("protocol"))
    samplesheet = None
    tumors: list[TumorInputs] = []
    if params.get("input"):
        samplesheet = read_samplesheet(params["input"], protocol, check_files=check_files)
        try:
            tumors = tumor_inputs(samplesheet)
        except InputError as exc:
            raise exc.with_context(file=params["input"]) from None
    if samplesheet is not None:
        _check_flow(params, samplesheet, check_files=check_files)
    if check_files:
        for name in GLOB_PARAMS:
            if params.get(name) and not glob.glob(str(params[name])):
                raise InputError("no file matches", field=name, value=params[name])
    return CheckedInputs(protocol, samplesheet, tumors)


def _check_flow(params: dict[str, Any], samplesheet: pd.DataFrame, *, check_files: bool) -> None:
    """flow_fcs rows: known panels; with the files at hand, the counts CSV and the workspace's samples."""
    rows = samplesheet[samplesheet[N.SS_ASSAY] == N.ASSAY_FLOW_FCS]
    if rows.empty:
        return
    from ..immune import flow

    flow.check_flow_rows(rows.to_dict("records"), samplesheet=params["input"],
                         counts=params.get("flow_counts") if check_files else None,
                         workspace=params.get("flow_workspace") if check_files else None)


def tumors_csv(tumors: list[TumorInputs]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=TUMORS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for t in tumors:
        writer.writerow({"mode": t.mode, **{k: ("" if v is None else v) for k, v in asdict(t).items()}})
    return out.getvalue()


def validate_params_file(params_file: str | Path | None, overrides: dict[str, Any], *, check_files: bool = True,
                         input_name: str | None = None) -> Path:
    """``biomarkers validate``: the parameters and inputs checked as ``biomarkers run``
    checks them; writes ``<outdir>/validation/tumors.csv`` (one row per tumour specimen:
    its mode and files, paired) and ``params.json``; returns the folder.

    ``input_name``: how a message names the samplesheet, when the one checked is a copy
    (Nextflow's VALIDATE reads it staged as ``run/samplesheet.csv``; the user knows the
    path they gave, with the same rows in the same order)."""
    params = load_params(params_file, overrides, check_files=check_files)
    try:
        checked = check_inputs(params, check_files=check_files)
    except InputError as exc:
        if input_name and params.get("input") and exc.file and Path(exc.file).resolve() == Path(params["input"]).resolve():
            exc.file = input_name
        raise
    folder = Path(params["outdir"]) / "validation"
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / "tumors.csv", tumors_csv(checked.tumors))
    write_text_atomic(folder / "params.json", json.dumps(params, indent=2, sort_keys=True, default=str) + "\n")
    return folder
