"""Build ``<results>/report/index.html`` from whatever the steps wrote."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from .. import names as N
from .. import schemas
from ..io import write_text_atomic
from ..log import get_logger
from ..protocol import Protocol, load_protocol
from ._plots import biomarker_distributions, completeness_heatmap

__all__ = ["build_report", "SECTIONS"]

log = get_logger("report")

# Every report has these sections, in this order (ids are stable: tests and links use them).
SECTIONS = {
    "overview": "Overview",
    "cohort": "Cohort",
    "custody": "Specimens and chain of custody",
    "biomarkers": "Biomarkers: QC and distributions",
    "survival": "Outcomes by biomarker: Kaplan-Meier",
    "forest": "Hazard ratios and response rates",
    "tables": "Output tables",
}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fff}
header{background:#263238;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;font-size:13px;color:#cfd8dc}
nav{padding:8px 24px;background:#eceff1;font-size:13px;position:sticky;top:0}nav a{margin-right:14px;color:#263238}
main{padding:8px 24px 40px;max-width:1300px}section{margin-top:22px;border-top:1px solid #cfd8dc}
h2{font-size:17px;margin:14px 0 8px}h3{font-size:14px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:12px;margin:6px 0}th,td{border:1px solid #cfd8dc;padding:3px 7px;text-align:right}
th{background:#eceff1}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eceff1;margin:6px 0}.note{font-size:12px;color:#555}
.warn{background:#fff3e0;border-left:4px solid #ef6c00;padding:6px 10px;font-size:13px}
figure{margin:0 0 12px}figcaption{font-size:12px;color:#555}
"""


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _table(frame: pd.DataFrame, max_rows: int = 200) -> str:
    if not len(frame):
        return '<p class="note">No rows.</p>'
    shown = frame.head(max_rows).copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = [f"{v:.3g}" if pd.notna(v) else "" for v in shown[col]]
        else:
            shown[col] = [str(v) if v is not None and not (isinstance(v, float) and np.isnan(v)) and v is not pd.NA else "" for v in shown[col]]
    text = shown.to_html(index=False, escape=True, border=0)
    if len(frame) > max_rows:
        text += f'<p class="note">First {max_rows} of {len(frame)} rows; all are in the Parquet table.</p>'
    return text


def _read(results: Path, name: str) -> pd.DataFrame | None:
    path = results / schemas.TABLES[name].path
    return schemas.read_table(path) if path.is_file() else None


def _timepoint_key(protocol: Protocol):
    from ..outcomes._tables import timepoint_order

    key = timepoint_order(protocol)
    return lambda label: key(str(label))


def _missing(what: str) -> str:
    return f'<p class="note">Not available: {html.escape(what)}.</p>'


def _cohort(subjects: pd.DataFrame | None, specimens: pd.DataFrame | None, comp: pd.DataFrame | None, assoc: pd.DataFrame | None) -> str:
    parts = []
    if subjects is None:
        parts.append(_missing("analysis/subjects.parquet (run the analysis step with ADSL, ADTTE and ADRS)"))
    else:
        counts = pd.crosstab(subjects[N.ARMCD], subjects[N.STRATUM].fillna("(none)"), margins=True, margins_name="Total")
        counts.columns.name = None
        parts += ["<h3>Randomized subjects by arm and stratum</h3>", _table(counts.reset_index())]
        per_arm = subjects.groupby(N.ARMCD).agg(
            N=(N.USUBJID, "size"), PFS_EVENTS=("PFS_EVENT", "sum"), OS_EVENTS=("OS_EVENT", "sum"),
            ORR=("RESPONDER", "mean"), DCR=("DISEASE_CONTROL", "mean")).reset_index()
        if assoc is not None:
            km = assoc[(assoc["BIOMARKER"] == N.ARMCD) & (assoc["ROW_TYPE"] == "GROUP") & (assoc["TEST"] == "Kaplan-Meier")]
            for endpoint in ("PFS", "OS"):
                rows = km[km["ENDPOINT"] == endpoint].set_index("GROUP")
                per_arm[f"MEDIAN_{endpoint}_MONTHS (95% CI)"] = [
                    _median_text(rows.loc[a]) if a in rows.index else "" for a in per_arm[N.ARMCD]]
        bor = pd.crosstab(subjects[N.ARMCD], subjects["BOR"])
        bor.columns.name = None
        parts += ["<h3>Outcomes by arm</h3>", _table(per_arm), "<h3>Best overall response (RECIST 1.1)</h3>", _table(bor.reset_index())]
    if specimens is not None:
        primary = specimens[specimens["LEVEL"] == 0] if "LEVEL" in specimens.columns else specimens
        tab = pd.crosstab(primary[N.SPECIMEN_TYPE], primary[N.TIMEPOINT].fillna("-"))
        tab.columns.name = None
        parts += ["<h3>Primary specimens collected (specimen type x timepoint)</h3>", _table(tab.reset_index())]
    elif comp is not None:
        tab = comp[comp["COLLECTED"]].pivot_table(index=N.SPECIMEN_TYPE, columns=N.TIMEPOINT, values=N.USUBJID, aggfunc="nunique", fill_value=0)
        parts += ["<h3>Subjects with a specimen collected (specimen type x timepoint)</h3>", _table(tab.reset_index())]
    else:
        parts.append(_missing("custody tables (specimens collected)"))
    return "\n".join(parts)


def _median_text(rec) -> str:
    if pd.isna(rec["ESTIMATE"]):
        return "not reached"
    lower = "NE" if pd.isna(rec["CI_LOWER"]) else f"{rec['CI_LOWER']:.1f}"
    upper = "NE" if pd.isna(rec["CI_UPPER"]) else f"{rec['CI_UPPER']:.1f}"
    return f"{rec['ESTIMATE']:.1f} ({lower}-{upper})"


def _custody(results: Path, comp, issues, tp_key, pngs) -> str:
    parts = []
    if comp is None and issues is None:
        parts.append(_missing("custody tables (run the custody step)"))
    if comp is not None:
        expected = comp[comp["EXPECTED"]]
        done = int(expected["COLLECTED"].sum())
        parts.append(f"<p>{done} of {len(expected)} expected specimens collected "
                     f"({100 * done / max(len(expected), 1):.1f}%).</p>")
        png = completeness_heatmap(comp, tp_key)
        if png:
            parts.append(_img(png, "custody completeness heatmap"))
    if issues is not None:
        parts.append(f"<h3>Custody issues ({len(issues)})</h3>")
        if len(issues):
            summary = issues.groupby(["SEVERITY", "RULE"]).size().rename("N").reset_index()
            parts += [_table(summary), _table(issues, max_rows=100)]
        else:
            parts.append('<p class="note">No custody issues.</p>')
    parts += _figures(results, pngs)
    return "\n".join(parts)


def _figures(results: Path, pngs: list[Path]) -> list[str]:
    return [f"<figure>{_img(p.read_bytes(), p.stem)}<figcaption>{html.escape(str(p.relative_to(results)))}</figcaption></figure>" for p in pngs]


def _biomarkers(results: Path, long: pd.DataFrame | None, tp_key, pngs_by_folder: dict[str, list[Path]]) -> str:
    parts = []
    modalities = set(pngs_by_folder)
    if long is not None and len(long):
        modalities |= set(long["MODALITY"])
        summary = long.groupby(["MODALITY", "BIOMARKER", N.TIMEPOINT], dropna=False).agg(
            N=(N.USUBJID, "nunique"), QC_PASS=("QC_PASS", "sum"), MEDIAN=("VALUE", "median"), MIN=("VALUE", "min"), MAX=("VALUE", "max")).reset_index()
        parts += ["<h3>Biomarker values (all modalities)</h3>", _table(summary)]
    if not modalities:
        parts.append(_missing("biomarker tables (no modality step has run)"))
    plots = biomarker_distributions(long, tp_key) if long is not None else []
    for modality in sorted(modalities):
        parts.append(f'<section id="modality-{html.escape(modality)}"><h3>{html.escape(modality)}</h3>')
        parts += [f"<figure>{_img(png, name)}<figcaption>{html.escape(name)} by timepoint</figcaption></figure>"
                  for m, name, png in plots if m == modality]
        parts += _figures(results, pngs_by_folder.get(modality, []))
        parts.append("</section>")
    return "\n".join(parts)


def _survival(results: Path, assoc: pd.DataFrame | None) -> str:
    plots = sorted((results / "analysis" / "plots").glob("km_*.png"))
    if assoc is None:
        return _missing("analysis/associations.parquet (run the analysis step)")
    parts = ['<p class="warn">Exploratory: biomarker subgroups were not powered, p-values are unadjusted for multiplicity.</p>']
    parts += _figures(results, plots)
    km = assoc[(assoc["TEST"] == "Kaplan-Meier")]
    cols = ["BIOMARKER", "CUTOFF", "ENDPOINT", "POPULATION", "GROUP", "N", "N_EVENTS", "ESTIMATE", "CI_LOWER", "CI_UPPER", "NOTE"]
    parts += ["<h3>Median survival (months, 95% CI)</h3>", _table(km[cols], max_rows=400)]
    return "\n".join(parts)


def _forest(results: Path, assoc: pd.DataFrame | None) -> str:
    if assoc is None:
        return _missing("analysis/associations.parquet (run the analysis step)")
    parts = ['<p class="warn">Exploratory: every estimate and p-value is shown with its n; none is adjusted for multiplicity.</p>']
    forest = results / "analysis" / "plots" / "forest.png"
    if forest.is_file():
        parts.append(_img(forest.read_bytes(), "forest plot of Cox hazard ratios"))
    cmp_rows = assoc[assoc["ROW_TYPE"] == "COMPARISON"]
    cols = ["BIOMARKER", "CUTOFF", "ENDPOINT", "POPULATION", "GROUP", "TEST", "N", "N_EVENTS", "ESTIMATE_TYPE", "ESTIMATE",
            "CI_LOWER", "CI_UPPER", "P_VALUE", "ADJUSTED_FOR", "NOTE"]
    rates = assoc[(assoc["ROW_TYPE"] == "GROUP") & (assoc["ESTIMATE_TYPE"] == "RATE")]
    parts += ["<h3>Comparisons</h3>", _table(cmp_rows[cols], max_rows=400),
              "<h3>Response rates (ORR, DCR) with exact 95% CI</h3>",
              _table(rates[["BIOMARKER", "ENDPOINT", "POPULATION", "GROUP", "N", "N_EVENTS", "ESTIMATE", "CI_LOWER", "CI_UPPER"]], max_rows=400)]
    return "\n".join(parts)


def _tables(results: Path) -> str:
    rows = []
    for tbl in schemas.TABLES.values():
        path = results / tbl.path
        if path.is_file():
            import pyarrow.parquet as pq

            rows.append({"file": tbl.path, "table": tbl.name, "rows": pq.read_metadata(path).num_rows, "description": tbl.description})
    return _table(pd.DataFrame(rows)) + '<p class="note">Column definitions: docs/data-dictionary.md, and each file\'s Parquet metadata (key "biomarkers").</p>'


def _pngs(results: Path) -> dict[str, list[Path]]:
    """PNGs other steps wrote, by top-level results folder (report/ and analysis/ excluded).

    Symbolic links are followed: Nextflow stages a task's inputs as links.
    """
    found: dict[str, list[Path]] = {}
    for top in sorted(p for p in results.iterdir() if p.is_dir()):
        if top.name in ("report", "analysis") or top.name.startswith("."):
            continue
        for folder, dirs, files in os.walk(top, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.lower().endswith(".png"):
                    found.setdefault(top.name, []).append(Path(folder) / name)
    return found


def build_report(results: str | Path, *, protocol: Protocol | None = None) -> Path:
    """Write ``<results>/report/index.html``; return its path."""
    results = Path(results)
    if not results.is_dir():
        from ..errors import InputError

        raise InputError("results folder not found", file=results)
    protocol = protocol or load_protocol()
    tp_key = _timepoint_key(protocol)
    subjects = _read(results, "analysis.subjects")
    long = _read(results, "analysis.biomarkers_long")
    assoc = _read(results, "analysis.associations")
    specimens = _read(results, "custody.specimens")
    comp = _read(results, "custody.completeness")
    issues = _read(results, "custody.issues")
    pngs = _pngs(results)
    custody_pngs = pngs.pop("custody", [])
    n_subjects = len(subjects) if subjects is not None else None
    overview = (f"<p>Study {html.escape(protocol.studyid)}; results folder <code>{html.escape(str(results))}</code>. "
                f"{n_subjects if n_subjects is not None else 'Unknown number of'} subjects in the analysis.</p>"
                '<p class="warn">Biomarker-outcome associations in this report are exploratory.</p>')
    bodies = {
        "overview": overview,
        "cohort": _cohort(subjects, specimens, comp, assoc),
        "custody": _custody(results, comp, issues, tp_key, custody_pngs),
        "biomarkers": _biomarkers(results, long, tp_key, pngs),
        "survival": _survival(results, assoc),
        "forest": _forest(results, assoc),
        "tables": _tables(results),
    }
    nav = "".join(f'<a href="#{sid}">{html.escape(title)}</a>' for sid, title in SECTIONS.items())
    sections = "\n".join(f'<section id="{sid}"><h2>{html.escape(title)}</h2>\n{bodies[sid]}\n</section>' for sid, title in SECTIONS.items())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(protocol.studyid)} biomarkers report</title><style>{_CSS}</style></head>
<body><header><h1>{html.escape(protocol.studyid)}: biospecimens, biomarkers and outcomes</h1>
<p>biomarkers {html.escape(__version__)}; exploratory analyses</p></header>
<nav>{nav}</nav>
<main>
{sections}
</main></body></html>
"""
    path = write_text_atomic(results / "report" / "index.html", page)
    log.info("report: %s (%d KiB)", path, path.stat().st_size // 1024)
    return path
