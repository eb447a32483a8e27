"""Report section of the tumour microenvironment: expression signatures and pathology results.

The section claims the ``tme/`` and ``pathology/`` plot folders, so the tumour
single-cell plots written under ``tme/`` appear here too."""

from __future__ import annotations

import pandas as pd

from .. import names as N
from .. import schemas
from ._context import ReportContext
from ._html import figures, table

__all__ = ["tme_section"]


def tme_section(ctx: ReportContext) -> str | None:
    """Signature scores (per signature and timepoint, with what was missing) and the pathology results;
    None when neither step output exists."""
    scores, results = ctx.table("tme.signatures"), ctx.table("pathology.results")
    if scores is None and results is None:
        return None
    parts = []
    if scores is not None:
        parts.append("<h3>Expression signatures</h3>")
        norm = ", ".join(sorted(scores["NORMALIZATION"].unique()))
        parts.append(f"<p>{scores[N.SPECIMEN_ID].nunique()} tumour specimens; expression scale: {norm}. "
                     "Scores are exploratory; cut-offs as declared in assets/signatures.yaml.</p>")
        summary = scores.groupby(["SIGNATURE", N.TIMEPOINT], dropna=False).agg(
            SPECIMENS=(N.SPECIMEN_ID, "nunique"), SCORED=("STATUS", lambda s: int((s == "SCORED").sum())),
            MEDIAN=("SCORE", "median"), MIN=("SCORE", "min"), MAX=("SCORE", "max")).reset_index()
        declared = [b.name for b in schemas.TABLES["tme.signatures"].biomarkers]  # the signatures file's order
        order = {s: i for i, s in enumerate(dict.fromkeys([*declared, *sorted(scores["SIGNATURE"].unique())]))}
        summary = summary.sort_values(["SIGNATURE", N.TIMEPOINT], key=lambda c: c.map(order) if c.name == "SIGNATURE" else c)
        parts.append(table(summary, max_rows=400))
        gaps = scores[(scores["GENES_MISSING"].fillna("") != "") | (scores["STATUS"] != "SCORED")]
        if len(gaps):
            parts += ["<h4>Missing genes and unscored signatures</h4>",
                      table(gaps[[N.SPECIMEN_ID, "SIGNATURE", "STATUS", "GENES_MISSING", "NOTE"]], max_rows=100)]
        parts += figures(ctx.results, ctx.pngs("tme"))
    if results is not None:
        parts.append("<h3>Pathology and central-lab results</h3>")
        numeric = results[results["VALUE"].notna()]
        if len(numeric):
            stats = numeric.groupby(["TEST", "RESULT_NAME", N.TIMEPOINT, "UNIT"], dropna=False).agg(
                N=("VALUE", "size"), MEDIAN=("VALUE", "median"), MIN=("VALUE", "min"), MAX=("VALUE", "max")).reset_index()
            parts.append(table(stats))
        categorical = results[results["VALUE_TEXT"].notna()]
        if len(categorical):
            counts = pd.crosstab([categorical["TEST"], categorical[N.TIMEPOINT]], categorical["VALUE_TEXT"])
            counts.columns.name = None
            parts.append(table(counts.reset_index()))
        clones = results.loc[results["TEST"] == "CPS", "METHOD"].value_counts()
        if len(clones):
            parts.append("<p>PD-L1 clones: " + ", ".join(f"{c} {n}" for c, n in clones.items()) + ".</p>")
        parts += figures(ctx.results, ctx.pngs("pathology"))
    return "\n".join(parts)
