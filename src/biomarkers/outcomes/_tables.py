"""Biomarker tables of the analysis: the long table and the one-row-per-subject wide table.

Nothing here names a modality. Every registered table that declares biomarkers
(``schemas.Biomarker``) and exists under the results folder contributes; a new
modality slots in by declaring its biomarkers in ``schemas.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import names as N
from .. import schemas
from ..errors import InputError
from ..protocol import Protocol
from ._adam import check_subjects_known

__all__ = ["biomarker_tables", "biomarkers_long", "analysis_wide", "biomarker_cutoffs"]

LONG_COLUMNS = schemas.TABLES["analysis.biomarkers_long"].column_names


def biomarker_tables(results: str | Path) -> list[tuple[schemas.Table, Path]]:
    """Registered tables that declare biomarkers and exist under ``results``, in registry order."""
    found = []
    for tbl in schemas.TABLES.values():
        if tbl.name.startswith("analysis.") or not tbl.biomarkers:
            continue
        path = Path(results) / tbl.path
        if path.is_file():
            found.append((tbl, path))
    return found


def biomarkers_long(results: str | Path, subjects: pd.DataFrame) -> pd.DataFrame:
    """``analysis.biomarkers_long`` from every biomarker table under ``results``.

    ``subjects`` holds STUDYID and USUBJID of every ADSL subject (before any population
    flag). A subject in a biomarker table but not in ADSL is an input error (listed,
    not dropped).
    """
    studyid = dict(zip(subjects[N.USUBJID], subjects[N.STUDYID]))
    frames = []
    for tbl, path in biomarker_tables(results):
        frame = schemas.read_table(path)
        frame.attrs["path"] = str(path)
        if N.USUBJID not in frame.columns:
            raise InputError("biomarker table has no USUBJID column", file=path, field=N.USUBJID)
        check_subjects_known(frame, set(studyid), what=tbl.name)
        frame = frame[frame[N.USUBJID].notna()]  # rows of no subject (a flow reference control) join no outcome
        for marker in tbl.biomarkers:
            frames.append(_long_rows(frame, tbl, marker, studyid))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in LONG_COLUMNS})
    long = pd.concat(frames, ignore_index=True)
    return long.sort_values([N.USUBJID, "BIOMARKER", N.TIMEPOINT, N.SPECIMEN_ID], kind="stable", na_position="first").reset_index(drop=True)


def _long_rows(frame: pd.DataFrame, tbl: schemas.Table, marker: schemas.Biomarker, studyid: dict) -> pd.DataFrame:
    for column, value in marker.where:  # a long table: only this biomarker's rows
        frame = frame[frame[column] == value]
    col_type = next(c.type for c in tbl.columns if c.name == marker.column)
    numeric = pa.types.is_integer(col_type) or pa.types.is_floating(col_type) or pa.types.is_boolean(col_type)
    values = frame[marker.column]
    text = None
    if not numeric:
        text = _as_text(values)
    elif isinstance(marker.cutoff, str) and marker.cutoff in frame.columns:
        text = _as_text(frame[marker.cutoff])
    if marker.qc_column and marker.qc_column in frame.columns:
        qc = frame[marker.qc_column].astype(object).where(frame[marker.qc_column].notna(), None)
        qc_pass = qc.isin(marker.qc_pass)
    else:
        qc = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        qc_pass = pd.Series(True, index=frame.index)
    usubjid = frame[N.USUBJID].astype(str)
    return pd.DataFrame({
        N.STUDYID: frame[N.STUDYID] if N.STUDYID in frame.columns else usubjid.map(studyid),
        N.USUBJID: usubjid,
        N.SPECIMEN_ID: frame[N.SPECIMEN_ID] if N.SPECIMEN_ID in frame.columns else None,
        N.TIMEPOINT: frame[N.TIMEPOINT] if N.TIMEPOINT in frame.columns else None,
        "BIOMARKER": marker.name,
        "MODALITY": marker.modality,
        "VALUE": values.astype(float) if numeric else np.nan,
        "VALUE_TEXT": text if text is not None else None,
        "UNIT": marker.unit or None,
        "QC_STATUS": qc,
        "QC_PASS": qc_pass.astype(bool),
        "SOURCE_TABLE": tbl.name,
    })


def _as_text(values: pd.Series) -> pd.Series:
    """Categorical values as text (booleans become TRUE/FALSE), missing as None."""
    def one(v):
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return None
        if isinstance(v, (bool, np.bool_)):
            return "TRUE" if v else "FALSE"
        return str(v)

    return pd.Series([one(v) for v in values], index=values.index, dtype=object)


def biomarker_cutoffs(config: dict) -> dict[str, tuple[str, float | str | None]]:
    """``{biomarker name: (column stem, cut-off)}`` from the declarations, config overriding."""
    overrides = config["associations"].get("cutoffs", {})
    out: dict[str, tuple[str, float | str | None]] = {}
    stems: set[str] = set()
    for tbl in schemas.TABLES.values():
        if tbl.name.startswith("analysis."):
            continue
        for marker in tbl.biomarkers:
            stem = schemas.column_label(marker.name)
            if marker.name in out or stem in stems:  # first declaration wins, as in analysis.wide
                continue
            stems.add(stem)
            out[marker.name] = (stem, overrides.get(marker.name, marker.cutoff))
    return out


def _group(values: pd.Series, texts: pd.Series, cutoff) -> tuple[pd.Series, str | None]:
    """Group labels and a description of the cut-off."""
    if isinstance(cutoff, (int, float)) and not isinstance(cutoff, bool):
        groups = pd.Series(np.where(values.isna(), None, np.where(values >= cutoff, "HIGH", "LOW")), index=values.index)
        return groups, f">= {cutoff:g}"
    if cutoff == "median":
        median = float(values.median()) if values.notna().any() else np.nan
        groups = pd.Series(np.where(values.isna(), None, np.where(values > median, "HIGH", "LOW")), index=values.index)
        return groups, f"> median ({median:.4g})"
    if texts.notna().any():
        return texts.where(texts.notna(), None), "categories"
    return pd.Series([None] * len(values), index=values.index, dtype=object), None


def analysis_wide(subjects: pd.DataFrame, long: pd.DataFrame, results: str | Path, protocol: Protocol,
                  config: dict) -> tuple[pd.DataFrame, dict[str, str]]:
    """``analysis.wide`` (one row per subject) and ``{biomarker: cut-off description}``."""
    declared = schemas.refresh_analysis_wide()
    wide = subjects.copy()
    wide = pd.concat([wide, _custody(results, subjects), _subject_flags(results, subjects)], axis=1)
    baseline_tps = config["associations"]["baseline_timepoints"]
    order = protocol.timepoint_sort_key()
    described: dict[str, str] = {}
    passed = long[long["QC_PASS"].astype(bool)] if len(long) else long
    columns: dict[str, pd.Series] = {}
    for name, (stem, cutoff) in biomarker_cutoffs(config).items():
        rows = passed[passed["BIOMARKER"] == name] if len(passed) else passed
        bl_value, bl_text, change = {}, {}, {}
        for subject, group in (rows.groupby(N.USUBJID) if len(rows) else []):
            tps = group[N.TIMEPOINT]
            base_rows = group[tps.isna()]
            for tp in baseline_tps:
                if (tps == tp).any():
                    base_rows = group[tps == tp]
                    break
            if len(base_rows):
                bl_value[subject] = base_rows["VALUE"].mean() if base_rows["VALUE"].notna().any() else np.nan
                texts = base_rows["VALUE_TEXT"].dropna()
                bl_text[subject] = texts.iloc[0] if len(texts) else None
            later = group[tps.notna() & ~tps.isin(baseline_tps) & group["VALUE"].notna()]
            if len(later) and subject in bl_value and not pd.isna(bl_value[subject]):
                last_tp = max(later[N.TIMEPOINT], key=order)
                change[subject] = later.loc[later[N.TIMEPOINT] == last_tp, "VALUE"].mean() - bl_value[subject]
        baseline = wide[N.USUBJID].map(bl_value).astype(float)
        baseline_text = wide[N.USUBJID].map(bl_text).astype(object)
        baseline_text = baseline_text.where(baseline_text.notna(), None)
        groups, text = _group(baseline, baseline_text, cutoff)
        # gathered, then joined at once: one insert per column fragments the frame
        columns.update({f"{stem}_BL": baseline, f"{stem}_BL_TEXT": baseline_text,
                        f"{stem}_CHG": wide[N.USUBJID].map(change).astype(float), f"{stem}_GROUP": groups})
        if text and groups.notna().any():
            described[name] = text
    wide = pd.concat([wide, pd.DataFrame(columns, index=wide.index)], axis=1)
    return wide[declared.column_names], described


def _subject_flags(results: str | Path, subjects: pd.DataFrame) -> pd.DataFrame:
    """The columns of every table that declares per-subject flags (``schemas.SubjectFlags``); null when it is absent."""
    columns = {}
    for tbl in schemas.TABLES.values():
        flags = tbl.subject_flags
        if flags is None or tbl.name.startswith("analysis."):
            continue
        path = Path(results) / tbl.path
        frame = schemas.read_table(path) if path.is_file() else None
        for name in flags.names:
            values = {}
            if frame is not None:
                rows = frame[frame[flags.key_column] == name]
                values = dict(zip(rows[N.USUBJID], rows[flags.value_column]))
            columns[f"{flags.prefix}{name}"] = subjects[N.USUBJID].map(values).astype(object)
    out = pd.DataFrame(columns, index=subjects.index)
    return out.where(out.notna(), None)


def _custody(results: str | Path, subjects: pd.DataFrame) -> pd.DataFrame:
    path = Path(results) / schemas.TABLES["custody.completeness"].path
    out = pd.DataFrame(index=subjects.index, columns=["CUSTODY_EXPECTED", "CUSTODY_COLLECTED", "CUSTODY_COMPLETENESS"], dtype=float)
    if not path.is_file():
        return out.astype({"CUSTODY_EXPECTED": "Int32", "CUSTODY_COLLECTED": "Int32"})
    comp = schemas.read_table(path)
    expected = comp[comp["EXPECTED"].astype(bool)]
    counts = expected.groupby(N.USUBJID).agg(E=("EXPECTED", "size"), C=("COLLECTED", "sum"))
    ids = subjects[N.USUBJID]
    out["CUSTODY_EXPECTED"] = ids.map(counts["E"]).astype("Int32")
    out["CUSTODY_COLLECTED"] = ids.map(counts["C"]).astype("Int32")
    out["CUSTODY_COMPLETENESS"] = (out["CUSTODY_COLLECTED"].astype(float) / out["CUSTODY_EXPECTED"].astype(float))
    return out
