"""The trial's own lists from the EDC: the randomization list and the milestone dates.

Read here once, with the checks every reader needs (custody, TMB plots, analysis)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from . import names as N
from .errors import InputError
from .protocol import Protocol

__all__ = ["load_subjects", "load_milestones"]

SUBJECT_COLUMNS = [N.USUBJID, "SITEID", N.ARMCD, N.STRATUM, "RANDDT"]
MILESTONE_COLUMNS = [N.USUBJID, "MILESTONE", "DATE"]


def _read_csv(path: str | Path, columns: list[str], what: str) -> pd.DataFrame:
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(f"{what} not found", file=path) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable CSV file: {str(exc).splitlines()[0]}", file=path) from None
    for col in columns:
        if col not in frame.columns:
            raise InputError("required column is missing from the header", file=path, row="line 1", field=col)
    for col in columns:
        empty = frame.index[frame[col].str.strip() == ""]
        if len(empty):
            raise InputError("required value is empty", file=path, row=f"line {empty[0] + 2}", field=col)
    return frame


def _check_date(frame: pd.DataFrame, col: str, path) -> None:
    for i, value in enumerate(frame[col]):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise InputError("not a date (YYYY-MM-DD)", file=path, row=f"line {i + 2}", field=col, value=value) from None


def load_subjects(path: str | Path, protocol: Protocol | None = None) -> pd.DataFrame:
    """Randomization list: USUBJID, SITEID, ARMCD, STRATUM, RANDDT; one row per subject."""
    frame = _read_csv(path, SUBJECT_COLUMNS, "randomization list")
    dup = frame.index[frame[N.USUBJID].duplicated()]
    if len(dup):
        raise InputError("subject listed twice", file=path, row=f"line {dup[0] + 2}", field=N.USUBJID, value=frame[N.USUBJID][dup[0]])
    _check_date(frame, "RANDDT", path)
    if protocol is not None:
        for i, arm in enumerate(frame[N.ARMCD]):
            if arm not in protocol.arms:
                raise InputError(f"unknown arm (protocol arms: {', '.join(protocol.arms)})", file=path, row=f"line {i + 2}", field=N.ARMCD, value=arm)
        for i, subj in enumerate(frame[N.USUBJID]):
            if not protocol.usubjid_pattern.match(subj):
                raise InputError("subject does not match the study's USUBJID pattern", file=path, row=f"line {i + 2}", field=N.USUBJID, value=subj)
    return frame[SUBJECT_COLUMNS]


def load_milestones(path: str | Path, subjects: pd.DataFrame | None = None) -> dict[str, dict[str, dt.date]]:
    """Milestone dates -> ``{USUBJID: {MILESTONE: date}}``."""
    frame = _read_csv(path, MILESTONE_COLUMNS, "milestones file")
    _check_date(frame, "DATE", path)
    known = set(subjects[N.USUBJID]) if subjects is not None else None
    out: dict[str, dict[str, dt.date]] = {}
    for i, row in enumerate(frame.itertuples(index=False)):
        if known is not None and row.USUBJID not in known:
            raise InputError("subject is not in the randomization list", file=path, row=f"line {i + 2}", field=N.USUBJID, value=row.USUBJID)
        dates = out.setdefault(row.USUBJID, {})
        if row.MILESTONE in dates:
            raise InputError("milestone given twice for the subject", file=path, row=f"line {i + 2}", field="MILESTONE", value=row.MILESTONE)
        dates[row.MILESTONE] = dt.date.fromisoformat(row.DATE)
    return out
