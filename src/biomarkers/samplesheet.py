"""The samplesheet: which assay files to analyse, validated as nf-schema would.

The CSV is checked against ``assets/schema_input.json`` (the file ``main.nf`` hands
to nf-schema), including nf-schema's own keywords ``exists`` and ``uniqueEntries``,
and then against the protocol (known specimen types, timepoints). Errors name the
line, the column and the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pandas as pd

from . import names as N
from .assets import load_schema
from .errors import InputError
from .io import read_csv_rows
from .protocol import Protocol

__all__ = ["read_samplesheet", "SAMPLESHEET_SCHEMA", "TumorInputs", "tumor_inputs"]

SAMPLESHEET_SCHEMA = "schema_input.json"
_PATH_FORMATS = {"file-path", "path", "directory-path"}


def _cast(value: str, spec: dict):
    kind = spec.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value  # let the schema report the type error with its message
    if kind == "boolean" and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return value


def read_samplesheet(path: str | Path, protocol: Protocol | None = None, *, subjects: set[str] | None = None,
                     check_files: bool = True) -> pd.DataFrame:
    """Read and validate a samplesheet; return it with file paths made absolute.

    ``subjects``, when given, is the randomization list: a row naming any other
    subject is an error. ``check_files=False`` checks the metadata only (the custody
    check reads the samplesheet where the assay files are not staged).
    """
    path = Path(path)
    schema = load_schema(SAMPLESHEET_SCHEMA)
    item_schema = schema["items"]
    props = item_schema["properties"]
    rows = read_csv_rows(path, what="samplesheet", required=item_schema.get("required", []), known=props,
                         known_from=f"{SAMPLESHEET_SCHEMA}: {', '.join(props)}")
    raw_rows = [(i + 2, row) for i, row in enumerate(rows)]
    if not raw_rows:
        raise InputError("samplesheet has no rows", file=path)

    validator_cls = jsonschema.validators.validator_for(item_schema)
    validator = validator_cls(item_schema)
    records = []
    for line, row in raw_rows:
        if None in row:  # more cells than header columns
            raise InputError("row has more cells than the header has columns", file=path, row=f"line {line}")
        record = {k: _cast(v.strip(), props[k]) for k, v in row.items() if v is not None and v.strip() != ""}
        errors = sorted(validator.iter_errors(record), key=lambda e: list(map(str, e.absolute_path)))
        if errors:
            err = errors[0]
            if err.validator == "required":
                field = err.message.split("'")[1]
                raise InputError("required value is empty", file=path, row=f"line {line}", field=field)
            field = str(err.absolute_path[0]) if err.absolute_path else None
            message = props.get(field, {}).get("errorMessage", err.message)
            if err.validator == "const":  # a rule of allOf: a reference control is a flow_fcs row
                message = f"{field} must be {err.validator_value} on a row with control true"
            raise InputError(message, file=path, row=f"line {line}", field=field, value=record.get(field))
        for key, spec in props.items():
            if key in record and spec.get("format") in _PATH_FORMATS and "://" in record[key]:
                continue  # a URL (s3://, gs://, az://): Nextflow stages it; nf-schema checked it exists
            if key in record and spec.get("format") in _PATH_FORMATS:
                resolved = (path.parent / record[key]).resolve() if not Path(record[key]).is_absolute() else Path(record[key])
                if check_files and spec.get("exists") and not resolved.exists():
                    raise InputError(f"file does not exist: {resolved}", file=path, row=f"line {line}", field=key, value=record[key])
                record[key] = str(resolved)
        record["_line"] = line
        records.append(record)

    unique = schema.get("uniqueEntries", [])
    if unique:
        seen: dict[tuple, int] = {}
        for record in records:
            key = tuple(record.get(k) for k in unique)
            if key in seen:
                raise InputError(
                    f"duplicate entry for {', '.join(unique)} = {', '.join(map(str, key))} (first on line {seen[key]})",
                    file=path, row=f"line {record['_line']}", field=unique[0], value=key[0],
                )
            seen[key] = record["_line"]

    if protocol is not None:
        timepoints = protocol.timepoint_ids()
        for record in records:
            where = {"file": path, "row": f"line {record['_line']}"}
            if record[N.SS_SPECIMEN_TYPE] not in protocol.specimen_types:
                raise InputError("unknown specimen type (not in the protocol)", field=N.SS_SPECIMEN_TYPE, value=record[N.SS_SPECIMEN_TYPE], **where)
            if record.get(N.SS_CONTROL):
                continue  # a flow reference control: donor material, no subject or timepoint of the trial
            if record[N.SS_TIMEPOINT] not in timepoints:
                raise InputError("unknown timepoint (not in the protocol)", field=N.SS_TIMEPOINT, value=record[N.SS_TIMEPOINT], **where)
            if not protocol.usubjid_pattern.match(record[N.SS_SUBJECT]):
                raise InputError(f"subject does not match the study's USUBJID pattern {protocol.usubjid_pattern.pattern}", field=N.SS_SUBJECT, value=record[N.SS_SUBJECT], **where)
    if subjects is not None:
        for record in records:
            if not record.get(N.SS_CONTROL) and record[N.SS_SUBJECT] not in subjects:
                raise InputError("subject is not in the randomization list", file=path, row=f"line {record['_line']}", field=N.SS_SUBJECT, value=record[N.SS_SUBJECT])
    specimens = {r[N.SS_SPECIMEN] for r in records}
    for record in records:
        normal = record.get(N.SS_NORMAL)
        if normal and normal not in specimens:
            raise InputError("normal_specimen is not a specimen of this samplesheet", file=path, row=f"line {record['_line']}", field=N.SS_NORMAL, value=normal)

    columns = list(props) + ["_line"]
    frame = pd.DataFrame.from_records(records, columns=columns)
    return frame.rename(columns={"_line": "line"})


@dataclass(frozen=True)
class TumorInputs:
    """One tumour specimen's sequencing files, paired as every step and Nextflow pair them."""

    subject: str
    specimen: str
    timepoint: str
    tumor_bam: str | None = None         # wes_tumor, else panel_tumor, row of the specimen
    tumor_index: str | None = None
    vcf: str | None = None               # vcf_somatic row of the specimen
    vcf_index: str | None = None
    tumor_sample: str | None = None      # the VCF row's sample_name: the tumour's sample in the VCF
    normal_specimen: str | None = None   # named by the VCF row, else by the tumour BAM row
    normal_bam: str | None = None        # the wes_normal row of normal_specimen, when there is one
    normal_index: str | None = None

    @property
    def mode(self) -> str:
        """``paired`` when the matched normal's BAM is in the samplesheet, else ``tumor_only``."""
        return N.PAIRED if self.normal_bam else N.TUMOR_ONLY


def tumor_inputs(samplesheet: pd.DataFrame) -> list[TumorInputs]:
    """Pair every tumour specimen's BAM, somatic VCF and matched normal BAM; sorted by specimen.

    A tumour specimen is one with a tumour BAM (``wes_tumor`` preferred to ``panel_tumor``)
    or a somatic VCF. Its normal is the ``normal_specimen`` of its VCF row, else of its BAM
    row; two different normals for one tumour is an error. The TMB step takes the specimens
    with a VCF, the MSI step those with a BAM; Nextflow takes the same pairs from
    ``biomarkers validate``.
    """
    def present(value) -> str | None:
        return value if isinstance(value, str) and value else None

    rows = {(r[N.SS_SPECIMEN], r[N.SS_ASSAY]): r for r in samplesheet.to_dict("records")}
    tumors = sorted({spec for spec, assay in rows if assay in (*N.TUMOR_BAM_ASSAYS, N.ASSAY_VCF_SOMATIC)})
    out = []
    for specimen in tumors:
        bam = next((rows[specimen, a] for a in N.TUMOR_BAM_ASSAYS if (specimen, a) in rows), None)
        vcf = rows.get((specimen, N.ASSAY_VCF_SOMATIC))
        first = vcf or bam
        named = {present(r.get(N.SS_NORMAL)) for r in (vcf, bam) if r is not None} - {None}
        if len(named) > 1:
            raise InputError("the tumour's VCF and BAM rows name different normal specimens", row=f"line {first['line']}",
                             field=N.SS_NORMAL, value=" / ".join(sorted(named)))
        normal_specimen = named.pop() if named else None
        normal = next((rows[normal_specimen, a] for a in N.NORMAL_BAM_ASSAYS if (normal_specimen, a) in rows), None)
        out.append(TumorInputs(
            subject=first[N.SS_SUBJECT], specimen=specimen, timepoint=first[N.SS_TIMEPOINT],
            tumor_bam=bam[N.SS_FILE] if bam else None, tumor_index=present(bam.get(N.SS_INDEX)) if bam else None,
            vcf=vcf[N.SS_FILE] if vcf else None, vcf_index=present(vcf.get(N.SS_INDEX)) if vcf else None,
            tumor_sample=present(vcf.get("sample_name")) if vcf else None,
            normal_specimen=normal_specimen,
            normal_bam=normal[N.SS_FILE] if normal else None, normal_index=present(normal.get(N.SS_INDEX)) if normal else None,
        ))
    return out
