"""Read ADaM data sets (SAS transport v5/v8, sas7bdat, CSV, Parquet) and check them.

SAS files are read with pyreadstat: ``pandas.read_sas`` misreads some transport
numbers and leaves dates as day counts. Every check reports one line naming the
file, the row (1-based data record) and the variable.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd

from .. import names as N
from ..assets import load_config, load_yaml, validate
from ..errors import InputError
from ._xport import check_xport

__all__ = ["read_adam", "require_variables", "load_outcomes_config", "RECIST_TERMS", "TIME_UNITS_IN_DAYS"]

# RECIST 1.1 overall / best overall response terms, best first.
RECIST_TERMS = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE")
TIME_UNITS_IN_DAYS = {"DAYS": 1.0, "DAY": 1.0, "WEEKS": 7.0, "WEEK": 7.0, "MONTHS": None, "MONTH": None,
                      "YEARS": 365.25, "YEAR": 365.25}

_SAS = {".xpt": "read_xport", ".xport": "read_xport", ".sas7bdat": "read_sas7bdat"}


def read_adam(path: str | Path) -> pd.DataFrame:
    """One ADaM data set as a DataFrame: variables upper-cased, blank strings as missing."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=path)
    name = path.name.lower()
    suffix = path.suffix.lower()
    try:
        if suffix in _SAS:
            import pyreadstat

            if _SAS[suffix] == "read_xport":
                check_xport(path)  # a truncated transport file reads as a shorter one
            frame, _ = getattr(pyreadstat, _SAS[suffix])(str(path))
        elif name.endswith((".csv", ".csv.gz")):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            frame = frame.apply(_numeric_where_possible)
        elif suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            raise InputError("unknown ADaM file type (expected .xpt, .sas7bdat, .csv, .csv.gz or .parquet)", file=path)
    except InputError:
        raise
    except Exception as exc:  # pyreadstat.ReadstatError, pyarrow, csv errors: the file is not what it says
        raise InputError(f"cannot read as {suffix or 'data set'}: {exc}", file=path) from None
    frame.columns = [str(c).upper() for c in frame.columns]
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].map(lambda v: None if isinstance(v, str) and not v.strip() else (v.strip() if isinstance(v, str) else v))
    frame.attrs["path"] = str(path)
    return frame


def _numeric_where_possible(series: pd.Series) -> pd.Series:
    stripped = series.str.strip()
    converted = pd.to_numeric(stripped.replace({"": None, "NA": None}), errors="coerce")
    has_text = stripped.replace({"": None, "NA": None}).notna()
    if (converted.notna() == has_text).all() and has_text.any():
        return converted
    return series


def require_variables(frame: pd.DataFrame, variables: list[str], *, what: str) -> None:
    path = frame.attrs.get("path", what)
    for var in variables:
        if var not in frame.columns:
            raise InputError(f"required {what} variable is missing", file=path, field=var)


def row_of(frame: pd.DataFrame, index) -> int:
    """1-based data record number of a row label of a freshly read frame."""
    return int(frame.index.get_loc(index)) + 1


def check_subjects_known(frame: pd.DataFrame, known: set[str], *, what: str) -> None:
    """Every USUBJID of ``frame`` is in ADSL; else one line listing the unknown ones."""
    ids = frame[N.USUBJID]
    unknown = sorted(set(ids.dropna().astype(str)) - known)
    if unknown:
        first = ids[ids.astype(str) == unknown[0]].index[0]
        shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise InputError(f"{len(unknown)} subject(s) absent from ADSL: {shown}",
                         file=frame.attrs.get("path", what), row=row_of(frame, first), field=N.USUBJID)


def load_outcomes_config(path: str | Path | None = None) -> dict:
    """The bundled ``assets/outcomes.yaml``, with a user file's settings merged over it."""
    config = load_config("outcomes.yaml", schema="outcomes.schema.json")
    if path is None:
        return config
    user = load_yaml(path) or {}
    if not isinstance(user, dict):
        raise InputError("an outcomes config must be a mapping", file=path)
    merged = _merge(copy.deepcopy(config), user)
    validate(merged, "outcomes.schema.json", file=path)
    return merged


def _merge(base: dict, override: dict) -> dict:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and key not in ("stratum_map", "cutoffs", "reference_groups"):
            _merge(base[key], value)
        else:
            base[key] = value
    return base
