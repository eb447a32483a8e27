"""Pathology and central-lab results: one table per study, long or wide, CSV or Parquet.

Both layouts are declared in ``assets/pathology.schema.json`` (the file nf-schema reads);
the reader tells them apart by the header (a ``test`` column means long), checks every
row against the layout's schema (types, categories, plausible ranges: CPS and TILs
0-100, ISH ratio >= 0, known antibody clones) and returns one canonical long frame: one
row per specimen and test, numbers in ``VALUE``, categories in ``VALUE_TEXT``, the unit
as reported. The first bad cell stops the read with one line naming the file, the line
and the column.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd

from .. import names as N
from ..assets import load_schema
from ..errors import InputError

__all__ = ["read_pathology", "pathology_by_specimen", "PATHOLOGY_SCHEMA", "PATHOLOGY_COLUMNS", "TESTS", "MMR_TESTS"]

PATHOLOGY_SCHEMA = "pathology.schema.json"
MMR_TESTS = ("MMR_MLH1", "MMR_PMS2", "MMR_MSH2", "MMR_MSH6")
NUMERIC_TESTS = ("CPS", "HER2_ISH_RATIO", "TILS_STROMAL", "LAB")
TESTS = ("CPS", "HER2_IHC", "HER2_ISH", "HER2_ISH_RATIO", *MMR_TESTS, "EBER", "TILS_STROMAL", "LAB")
# Unit of each test when the source gives none (a CPS is a ratio score, TILs a percentage).
_DEFAULT_UNITS = {"CPS": "score", "HER2_ISH_RATIO": "ratio", "TILS_STROMAL": "%"}
# Wide column -> long test; a lab_<NAME> column is a LAB test named NAME.
_WIDE = {"cps": "CPS", "her2_ihc": "HER2_IHC", "her2_ish": "HER2_ISH", "her2_ish_ratio": "HER2_ISH_RATIO",
         "mlh1": "MMR_MLH1", "pms2": "MMR_PMS2", "msh2": "MMR_MSH2", "msh6": "MMR_MSH6", "eber": "EBER",
         "tils_stromal": "TILS_STROMAL"}
PATHOLOGY_COLUMNS = [N.USUBJID, N.SPECIMEN_ID, N.TIMEPOINT, "TEST", "RESULT_NAME", "VALUE", "VALUE_TEXT", "UNIT",
                     "METHOD", "RESULT_DATE", "LAB", "SOURCE_LINE", "SOURCE_COLUMN"]


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """(header, [(line number, {column: value}), ...]) with empty cells left out."""
    name = path.name.lower()
    if not path.exists():
        raise InputError("pathology table not found", file=path)
    if name.endswith((".parquet", ".pq")):
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise InputError(f"not a readable Parquet file: {exc}", file=path) from None
        offset = 1  # rows numbered from 1 (no header line)
    elif name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt")):
        sep = "\t" if ".tsv" in name or name.endswith(".txt") else ","
        try:
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(f"not a readable table: {str(exc).splitlines()[0]}", file=path) from None
        offset = 2  # line 1 is the header
    else:
        raise InputError("pathology table must be .csv, .tsv (optionally .gz) or .parquet", file=path)
    header = [str(c) for c in frame.columns]
    if len(set(header)) != len(header):
        dup = next(c for c in header if header.count(c) > 1)
        raise InputError("column repeats in the header", file=path, row="line 1", field=dup)
    rows = []
    for i, record in enumerate(frame.to_dict("records")):
        cells = {}
        for key, value in record.items():
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            if isinstance(value, str):
                value = value.strip()
                if value == "":
                    continue
            elif isinstance(value, (dt.date, pd.Timestamp)):
                value = pd.Timestamp(value).date().isoformat()
            elif isinstance(value, (np.integer, np.floating)):
                value = value.item()
            cells[str(key)] = value
        rows.append((i + offset, cells))
    return header, rows


def _number(value):
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _raise_schema_error(err: jsonschema.ValidationError, path: Path, line: int, record: dict, cells: dict) -> None:
    field = next((str(p) for p in err.absolute_path), None)
    if err.validator == "required":
        field = err.message.split("'")[1]
        test = record.get("test")
        raise InputError(f"required value is empty{f' for test {test}' if test else ''}", file=path, row=f"line {line}",
                         field=field)
    if err.validator == "additionalProperties":
        field = err.message.split("'")[1]
        raise InputError("unknown column (not in assets/pathology.schema.json)", file=path, row="line 1", field=field)
    if err.validator == "dependentRequired":
        missing = err.message.split("'")[1]
        raise InputError(f"required when {err.message.split('dependency of ')[-1].strip(chr(39))} is given",
                         file=path, row=f"line {line}", field=missing)
    message = err.schema.get("errorMessage") if isinstance(err.schema, dict) else None
    value = cells.get(field) if field else None  # as written in the file
    raise InputError(message or err.message, file=path, row=f"line {line}", field=field, value=value)


def read_pathology(path: str | Path) -> pd.DataFrame:
    """The pathology/central-lab table as canonical long rows (:data:`PATHOLOGY_COLUMNS`)."""
    path = Path(path)
    header, rows = _read_rows(path)
    if not rows:
        raise InputError("pathology table has no rows", file=path)
    schema = load_schema(PATHOLOGY_SCHEMA)
    layout = "long_row" if "test" in header else "wide_row"
    row_schema = {**schema["$defs"][layout], "$defs": schema["$defs"]}
    validator = jsonschema.Draft202012Validator(row_schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    out: list[dict] = []
    for line, cells in rows:
        if layout == "long_row":
            record = dict(cells)
            if record.get("test") in NUMERIC_TESTS and "result" in record:
                record["result"] = _number(record["result"])
            for key in ("subject", "specimen", "timepoint", "test", "name", "unit", "clone", "date", "lab", "comment"):
                if key in record and not isinstance(record[key], str):
                    record[key] = str(record[key]) if not isinstance(record[key], float) else f"{record[key]:g}"
            if record.get("test") in ("HER2_IHC",) and not isinstance(record.get("result"), str):
                record["result"] = f"{record['result']:g}"
        else:
            record = {k: (_number(v) if k in ("cps", "her2_ish_ratio", "tils_stromal") or k.startswith("lab_") else
                          (v if isinstance(v, str) else f"{v:g}")) for k, v in cells.items()}
        errors = sorted(validator.iter_errors(record), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
        if errors:
            _raise_schema_error(_most_specific(errors), path, line, record, cells)
        out.extend(_long_rows(record, layout, line, path))
    frame = pd.DataFrame(out, columns=PATHOLOGY_COLUMNS)
    key = [N.SPECIMEN_ID, "TEST", "RESULT_NAME"]
    dup = frame.duplicated(key, keep=False)
    if dup.any():
        first = frame[dup].iloc[0]
        lines = frame.loc[dup & (frame[key] == first[key]).all(axis=1), "SOURCE_LINE"].tolist()
        raise InputError(f"{first['RESULT_NAME']} reported twice for specimen {first[N.SPECIMEN_ID]} (lines "
                         f"{', '.join(map(str, lines))})", file=path, row=f"line {lines[-1]}", field=first["SOURCE_COLUMN"])
    owners = frame.groupby(N.SPECIMEN_ID)[N.USUBJID].nunique()
    if (owners > 1).any():
        specimen = owners[owners > 1].index[0]
        line = int(frame.loc[frame[N.SPECIMEN_ID] == specimen, "SOURCE_LINE"].max())
        raise InputError("specimen is reported under two subjects", file=path, row=f"line {line}", field="subject")
    return frame


def _most_specific(errors: list[jsonschema.ValidationError]) -> jsonschema.ValidationError:
    """The error of a deepest subschema (the cell's own rule), not the wrapping if/then."""
    return max(errors, key=lambda e: (len(list(e.absolute_path)) > 0, len(list(e.schema_path))))


def _long_rows(record: dict, layout: str, line: int, path: Path) -> list[dict]:
    base = {N.USUBJID: record["subject"], N.SPECIMEN_ID: record["specimen"], N.TIMEPOINT: record["timepoint"],
            "LAB": record.get("lab"), "SOURCE_LINE": line}
    if layout == "long_row":
        test = record["test"]
        items = [(test, record.get("name") if test == "LAB" else test, record["result"], record.get("unit"),
                  record.get("clone"), record.get("date"), "result")]
    else:
        items = []
        for column, value in record.items():
            if column in _WIDE:
                test = _WIDE[column]
                clone = record.get("cps_clone") if test == "CPS" else None
                date = (record.get("cps_date") or record.get("date")) if test == "CPS" else record.get("date")
                if test == "CPS" and not date:
                    raise InputError("required value is empty for a CPS (cps_date or date)", file=path,
                                     row=f"line {line}", field="cps_date")
                items.append((test, test, value, None, clone, date, column))
            elif column.startswith("lab_"):
                name = column[4:]
                unit = record.get(f"unit_{name}")
                if unit is None:
                    raise InputError(f"lab result {name} has no unit", file=path, row=f"line {line}", field=f"unit_{name}")
                items.append(("LAB", name, value, unit, None, record.get("date"), column))
    rows = []
    for test, result_name, value, unit, clone, date, column in items:
        numeric = test in NUMERIC_TESTS
        rows.append({**base, "TEST": test, "RESULT_NAME": result_name,
                     "VALUE": float(value) if numeric else np.nan,
                     "VALUE_TEXT": None if numeric else str(value),
                     "UNIT": unit or _DEFAULT_UNITS.get(test), "METHOD": clone, "RESULT_DATE": date,
                     "SOURCE_COLUMN": column})
    return rows


def pathology_by_specimen(results: pd.DataFrame) -> pd.DataFrame:
    """One row per specimen with each test in a column (labs as LAB_<NAME>), for reading and joining."""
    if results.empty:
        return pd.DataFrame(columns=[N.USUBJID, N.SPECIMEN_ID, N.TIMEPOINT])
    frame = results.copy()
    frame["COLUMN"] = np.where(frame["TEST"] == "LAB", "LAB_" + frame["RESULT_NAME"].astype(str), frame["TEST"])
    frame["CELL"] = frame["VALUE"].where(frame["VALUE"].notna(), frame["VALUE_TEXT"])
    wide = frame.pivot_table(index=[N.USUBJID, N.SPECIMEN_ID, N.TIMEPOINT], columns="COLUMN", values="CELL",
                             aggfunc="first").reset_index()
    wide.columns.name = None
    cps = frame[frame["TEST"] == "CPS"].set_index(N.SPECIMEN_ID)
    wide["CPS_CLONE"] = wide[N.SPECIMEN_ID].map(cps["METHOD"])
    wide["CPS_DATE"] = wide[N.SPECIMEN_ID].map(cps["RESULT_DATE"])
    return wide
