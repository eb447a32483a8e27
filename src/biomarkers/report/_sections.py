"""The report's sections, in page order; each builds its HTML from a :class:`ReportContext`.

A section is an id (stable: links and tests use it), a title and a builder. Required
sections always appear, saying what is missing when their inputs are absent. A
modality's section (``required=False``) appears when its builder returns HTML, that is
when its step ran; a new modality adds its builder in a module of this package and
one line to :data:`SECTIONS`, before ``survival``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import names as N
from .. import schemas
from ._context import ReportContext
from ._html import figures, img, missing, table
from ._plots import biomarker_distributions, completeness_heatmap
from ._flow import FLOW_FIGURES, flow_section
from ._provenance import provenance_section
from ._singlecell import singlecell_section
from ._tme import tme_section

__all__ = ["Section", "SECTIONS"]


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    build: Callable[[ReportContext], str | None]
    required: bool = True
    # Results sub-folders whose plots this section shows itself (e.g. "immune/flow"); the
    # biomarkers section shows every other step's plots under its modality.
    claims: tuple[str, ...] = ()


def _overview(ctx: ReportContext) -> str:
    subjects = ctx.table("analysis.subjects")
    n_subjects = len(subjects) if subjects is not None else None
    return (f"<p>Study {html.escape(ctx.protocol.studyid)}; results folder <code>{html.escape(str(ctx.results))}</code>. "
            f"{n_subjects if n_subjects is not None else 'Unknown number of'} subjects in the analysis.</p>"
            '<p class="warn">Biomarker-outcome associations in this report are exploratory.</p>')


def _cohort_section(ctx: ReportContext) -> str:
    return _cohort(ctx.table("analysis.subjects"), ctx.table("custody.specimens"), ctx.table("custody.completeness"),
                   ctx.table("analysis.associations")) + _subject_flags(ctx)


def _subject_flags(ctx: ReportContext) -> str:
    """Per-subject flags of every table declaring them (schemas.SubjectFlags): counts per result, and the flagged rows."""
    parts = []
    for tbl in schemas.TABLES.values():
        flags = tbl.subject_flags
        frame = ctx.table(tbl.name) if flags is not None else None
        if frame is None:
            continue
        counts = pd.crosstab(frame[flags.key_column], frame[flags.value_column])
        counts.columns.name = None
        flagged = frame[frame[flags.value_column] == "FLAGGED"]
        shown = [c for c in (N.USUBJID, N.ARMCD, N.STRATUM, flags.key_column, "SEVERITY", "EVIDENCE", "SOURCE") if c in frame.columns]
        parts += [f"<h3>{html.escape(tbl.description.split(':')[0])} ({tbl.path})</h3>", table(counts.reset_index()),
                  f"<h4>Flagged ({len(flagged)})</h4>", table(flagged[shown], max_rows=200)]
    return "\n" + "\n".join(parts) if parts else ""


def _custody_section(ctx: ReportContext) -> str:
    return _ledger_status(ctx) + _custody(ctx.results, ctx.table("custody.completeness"), ctx.table("custody.issues"),
                                          ctx.timepoint_key, ctx.pngs("custody"))


def _ledger_status(ctx: ReportContext) -> str:
    """The ledger the custody tables come from: head hash, signing, anchor status, data cut-off (table metadata)."""
    path = ctx.results / schemas.TABLES["custody.issues"].path
    if not path.is_file():
        return ""
    prov = schemas.table_metadata(path).get("provenance", {})
    if "ledger_head" not in prov:
        return ""
    anchor = str(prov.get("ledger_anchor", "not recorded"))
    cls = "warn" if anchor == "no anchor" else "note"
    cutoff = prov.get("data_cutoff")
    source = prov.get("data_cutoff_source")
    return (f'<p>Custody ledger: {prov.get("ledger_events", "?")} events, head hash <code>{html.escape(str(prov["ledger_head"]))}</code>; '
            f'{html.escape(str(prov.get("ledger_signing", "signing not recorded")))}.</p>'
            f'<p class="{cls}">Anchor: {html.escape(anchor)}.</p>'
            + (f'<p class="note">Data cut-off {html.escape(str(cutoff))}'
               + (f" ({html.escape(str(source))})" if source else "") + ".</p>" if cutoff else "") + "\n")


def _biomarkers_section(ctx: ReportContext) -> str:
    claimed = tuple(f"{c.rstrip('/')}/" for s in SECTIONS for c in s.claims)
    pngs = {folder: [p for p in ctx.pngs(folder) if not p.relative_to(ctx.results).as_posix().startswith(claimed)]
            for folder in ctx.png_folders() if folder != "custody"}
    pngs = {folder: found for folder, found in pngs.items() if found}
    return _biomarkers(ctx.results, ctx.table("analysis.biomarkers_long"), ctx.timepoint_key, pngs, cpus=ctx.cpus)


def _cohort(subjects: pd.DataFrame | None, specimens: pd.DataFrame | None, comp: pd.DataFrame | None, assoc: pd.DataFrame | None) -> str:
    parts = []
    if subjects is None:
        parts.append(missing("analysis/subjects.parquet (run the analysis step with ADSL, ADTTE and ADRS)"))
    else:
        counts = pd.crosstab(subjects[N.ARMCD], subjects[N.STRATUM].fillna("(none)"), margins=True, margins_name="Total")
        counts.columns.name = None
        parts += ["<h3>Randomized subjects by arm and stratum</h3>", table(counts.reset_index())]
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
        parts += ["<h3>Outcomes by arm</h3>", table(per_arm), "<h3>Best overall response (RECIST 1.1)</h3>", table(bor.reset_index())]
    if specimens is not None:
        primary = specimens[specimens["LEVEL"] == 0] if "LEVEL" in specimens.columns else specimens
        tab = pd.crosstab(primary[N.SPECIMEN_TYPE], primary[N.TIMEPOINT].fillna("-"))
        tab.columns.name = None
        parts += ["<h3>Primary specimens collected (specimen type x timepoint)</h3>", table(tab.reset_index())]
    elif comp is not None:
        tab = comp[comp["COLLECTED"]].pivot_table(index=N.SPECIMEN_TYPE, columns=N.TIMEPOINT, values=N.USUBJID, aggfunc="nunique", fill_value=0)
        parts += ["<h3>Subjects with a specimen collected (specimen type x timepoint)</h3>", table(tab.reset_index())]
    else:
        parts.append(missing("custody tables (specimens collected)"))
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
        parts.append(missing("custody tables (run the custody step)"))
    if comp is not None:
        expected = comp[comp["EXPECTED"]]
        done = int(expected["COLLECTED"].sum())
        parts.append(f"<p>{done} of {len(expected)} expected specimens collected "
                     f"({100 * done / max(len(expected), 1):.1f}%).</p>")
        png = completeness_heatmap(comp, tp_key)
        if png:
            parts.append(img(png, "custody completeness heatmap"))
    if issues is not None:
        parts.append(f"<h3>Custody issues ({len(issues)})</h3>")
        if len(issues):
            summary = issues.groupby(["SEVERITY", "RULE"]).size().rename("N").reset_index()
            parts += [table(summary), table(issues, max_rows=100)]
        else:
            parts.append('<p class="note">No custody issues.</p>')
    parts += figures(results, pngs)
    return "\n".join(parts)


def _biomarkers(results: Path, long: pd.DataFrame | None, tp_key, pngs_by_folder: dict[str, list[Path]], *,
                cpus: int = 1) -> str:
    parts = []
    modalities = set(pngs_by_folder)
    if long is not None and len(long):
        modalities |= set(long["MODALITY"])
        summary = long.groupby(["MODALITY", "BIOMARKER", N.TIMEPOINT], dropna=False).agg(
            N=(N.USUBJID, "nunique"), QC_PASS=("QC_PASS", "sum"), MEDIAN=("VALUE", "median"), MIN=("VALUE", "min"), MAX=("VALUE", "max")).reset_index()
        parts += ["<h3>Biomarker values (all modalities)</h3>", table(summary)]
    if not modalities:
        parts.append(missing("biomarker tables (no modality step has run)"))
    plots = biomarker_distributions(long, tp_key, cpus=cpus) if long is not None else []
    for modality in sorted(modalities):
        parts.append(f'<section id="modality-{html.escape(modality)}"><h3>{html.escape(modality)}</h3>')
        parts += [f"<figure>{img(png, name)}<figcaption>{html.escape(name)} by timepoint</figcaption></figure>"
                  for m, name, png in plots if m == modality]
        parts += figures(results, pngs_by_folder.get(modality, []))
        parts.append("</section>")
    return "\n".join(parts)


def _survival(results: Path, assoc: pd.DataFrame | None) -> str:
    plots = sorted((results / "analysis" / "plots").glob("km_*.png"))
    if assoc is None:
        return missing("analysis/associations.parquet (run the analysis step)")
    parts = ['<p class="warn">Exploratory: biomarker subgroups were not powered, p-values are unadjusted for multiplicity.</p>']
    parts += figures(results, plots)
    km = assoc[(assoc["TEST"] == "Kaplan-Meier")]
    cols = ["BIOMARKER", "CUTOFF", "ENDPOINT", "POPULATION", "GROUP", "N", "N_EVENTS", "ESTIMATE", "CI_LOWER", "CI_UPPER", "NOTE"]
    parts += ["<h3>Median survival (months, 95% CI)</h3>", table(km[cols], max_rows=400)]
    return "\n".join(parts)


def _forest(results: Path, assoc: pd.DataFrame | None) -> str:
    if assoc is None:
        return missing("analysis/associations.parquet (run the analysis step)")
    parts = ['<p class="warn">Exploratory: every estimate and p-value is shown with its n; none is adjusted for multiplicity.</p>']
    forest = results / "analysis" / "plots" / "forest.png"
    if forest.is_file():
        parts.append(img(forest.read_bytes(), "forest plot of Cox hazard ratios"))
    cmp_rows = assoc[assoc["ROW_TYPE"] == "COMPARISON"]
    cols = ["BIOMARKER", "CUTOFF", "ENDPOINT", "POPULATION", "GROUP", "TEST", "N", "N_EVENTS", "ESTIMATE_TYPE", "ESTIMATE",
            "CI_LOWER", "CI_UPPER", "P_VALUE", "ADJUSTED_FOR", "NOTE"]
    rates = assoc[(assoc["ROW_TYPE"] == "GROUP") & (assoc["ESTIMATE_TYPE"] == "RATE")]
    parts += ["<h3>Comparisons</h3>", table(cmp_rows[cols], max_rows=400),
              "<h3>Response rates (ORR, DCR) with exact 95% CI</h3>",
              table(rates[["BIOMARKER", "ENDPOINT", "POPULATION", "GROUP", "N", "N_EVENTS", "ESTIMATE", "CI_LOWER", "CI_UPPER"]], max_rows=400)]
    return "\n".join(parts)


def _tables(ctx: ReportContext) -> str:
    results = ctx.results
    rows = []
    for tbl in schemas.TABLES.values():
        path = results / tbl.path
        if path.is_file() or (tbl.is_dataset and path.is_dir()):
            shown = f"{tbl.path}/ ({len(schemas.dataset_files(path))} files)" if tbl.is_dataset else tbl.path
            rows.append({"file": shown, "table": tbl.name, "rows": schemas.count_rows(path), "description": tbl.description})
    return table(pd.DataFrame(rows)) + '<p class="note">Column definitions: docs/data-dictionary.md, and each file\'s Parquet metadata (key "biomarkers").</p>'




SECTIONS: list[Section] = [
    Section("overview", "Overview", _overview),
    Section("cohort", "Cohort", _cohort_section),
    Section("custody", "Specimens and chain of custody", _custody_section),
    Section("tme", "Tumour microenvironment", tme_section, required=False,
            claims=("tme", "pathology")),
    Section("biomarkers", "Biomarkers: QC and distributions", _biomarkers_section),
    Section("singlecell", "Single-cell RNA: QC and composition", singlecell_section, required=False),
    Section("flow", "Flow cytometry: gating, subsets over time, QC", flow_section, required=False,
            claims=(FLOW_FIGURES,)),
    Section("survival", "Outcomes by biomarker: Kaplan-Meier", lambda ctx: _survival(ctx.results, ctx.table("analysis.associations"))),
    Section("forest", "Hazard ratios and response rates", lambda ctx: _forest(ctx.results, ctx.table("analysis.associations"))),
    Section("tables", "Output tables", _tables),
    Section("provenance", "Provenance: software, parameters, inputs", provenance_section, required=False),
]
