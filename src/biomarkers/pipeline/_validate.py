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
from ._provenance import listed_inputs

__all__ = ["CheckedInputs", "check_inputs", "check_file_contents", "check_staged_file", "validate_params_file",
           "TUMORS_COLUMNS"]

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
    pairing, the sample names inside BAM and VCF files against the rows
    (``genomics.check_sample_names``), the flow counts and workspace, and every glob parameter
    matching a file. ``check_files=False`` leaves out what needs the files themselves (their
    existence, what is inside them, the globs): under Nextflow, nf-schema and the launch check
    existence and globs where the files are, and each INPUT_FILE task checks what is inside
    one file (:func:`check_staged_file`)."""
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
        _check_flow_panels(params, samplesheet)
        if check_files:  # the files are here
            check_file_contents(params, samplesheet)
    if check_files:
        for name in GLOB_PARAMS:
            if params.get(name) and not glob.glob(str(params[name])):
                raise InputError("no file matches", field=name, value=params[name])
    return CheckedInputs(protocol, samplesheet, tumors)


def check_file_contents(params: dict[str, Any], samplesheet: pd.DataFrame, staged: dict[str, str] | None = None) -> None:
    """The checks that read input files: the names inside BAM and VCF files against their rows (sample
    swaps), the flow counts CSV (read whole) and the workspace's samples (each a row's).

    ``staged``: ``{path as given: copy}``: check only what reads these files, reading the copies
    (Nextflow's INPUT_FILE task, one file each); without it, everything, where the files are."""
    records = samplesheet.to_dict("records")
    if staged is None:
        lines = None
    else:
        lines = {r["line"] for r in records if str(r[N.SS_FILE]) in staged}
        records = [{**r, N.SS_FILE: staged.get(str(r[N.SS_FILE]), r[N.SS_FILE])} for r in records]
    if lines is None or lines:
        from ..genomics import check_sample_names

        check_sample_names(records, samplesheet=params["input"], lines=lines)
    flow_rows = [r for r in records if r[N.SS_ASSAY] == N.ASSAY_FLOW_FCS]
    counts, workspace = params.get("flow_counts"), params.get("flow_workspace")
    if staged is not None:
        counts, workspace = staged.get(str(counts)), staged.get(str(workspace))
    if flow_rows and (counts or workspace):
        from ..immune import flow

        flow.check_flow_rows(flow_rows, samplesheet=params["input"], counts=counts, workspace=workspace)


def _check_flow_panels(params: dict[str, Any], samplesheet: pd.DataFrame) -> None:
    """flow_fcs rows: known panels (no file read)."""
    rows = samplesheet[samplesheet[N.SS_ASSAY] == N.ASSAY_FLOW_FCS]
    if rows.empty:
        return
    from ..immune import flow

    flow.check_flow_rows(rows.to_dict("records"), samplesheet=params["input"])


def check_staged_file(params_file: str | Path | None, overrides: dict[str, Any], given: str, staged: str | Path, *,
                      input_name: str | None = None) -> None:
    """``biomarkers validate --staged GIVEN FILE``: Nextflow's INPUT_FILE task, which sees one input file
    staged under another folder. The checks of ``biomarkers run`` that read that file
    (:func:`check_file_contents`), with the same one-line messages: they name the samplesheet the user
    gave (``input_name``) and the file as given, not the copies the task reads."""
    params = load_params(params_file, overrides, check_files=False)
    if not params.get("input"):
        return
    samplesheet = read_samplesheet(params["input"], load_protocol(params.get("protocol")), check_files=False)
    try:
        check_file_contents(params, samplesheet, {given: str(staged)})
    except InputError as exc:
        if input_name and exc.file and Path(exc.file).resolve() == Path(params["input"]).resolve():
            exc.file = input_name
        elif exc.file and Path(exc.file).resolve() == Path(staged).resolve():
            exc.file = given
        raise


def tumors_csv(tumors: list[TumorInputs]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=TUMORS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for t in tumors:
        writer.writerow({"mode": t.mode, **{k: ("" if v is None else v) for k, v in asdict(t).items()}})
    return out.getvalue()


def inputs_csv(listed: list[tuple[str, str, bool]]) -> str:
    """``validation/inputs.csv``: ``role,path,glob`` of every input (Nextflow hashes each file, a glob's matches)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["role", "path", "glob"])
    writer.writerows([role, path, "true" if is_glob else ""] for role, path, is_glob in listed)
    return out.getvalue()


def validate_params_file(params_file: str | Path | None, overrides: dict[str, Any], *, check_files: bool = True,
                         input_name: str | None = None, protocol_name: str | None = None) -> Path:
    """``biomarkers validate``: the parameters and inputs checked as ``biomarkers run``
    checks them; writes ``<outdir>/validation/tumors.csv`` (one row per tumour specimen:
    its mode and files, paired) and ``params.json``; returns the folder.

    ``input_name``: how a message names the samplesheet, when the one checked is a copy
    (Nextflow's VALIDATE reads it staged as ``run/samplesheet.csv``; the user knows the
    path they gave, with the same rows in the same order); ``protocol_name`` likewise for
    the protocol. ``validation/inputs.csv`` lists every input under those names
    (``listed_inputs``, as ``biomarkers run`` records them)."""
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
    named = {**params, "input": input_name or params.get("input")}
    listed = listed_inputs(named, protocol_name or checked.protocol.path, checked.samplesheet)
    write_text_atomic(folder / "inputs.csv", inputs_csv(listed))
    write_text_atomic(folder / "params.json", json.dumps(params, indent=2, sort_keys=True, default=str) + "\n")
    return folder
