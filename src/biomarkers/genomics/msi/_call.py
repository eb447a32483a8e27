"""Per-site tests and the specimen's MSI score and status.

Paired mode (as MSIsensor): a Pearson chi-square test of the tumour's repeat-length
distribution against the normal's (2 x L contingency table), Benjamini-Hochberg
q-values over the evaluated sites, a site unstable when q < alpha and at least
``min_shift`` of the tumour's reads moved off the normal's distribution.

Tumour-only mode: the same test against the baseline's pooled normal counts, with
the statistic divided by the site's dispersion in the normals (how much normals
disagree with each other beyond sampling, >= 1; see :mod:`._baseline`). Sites the
baseline excluded (unstable in the normals) are not evaluated.

Score = 100 x unstable / evaluated sites; MSI-H when score >= the mode's
threshold; NOT_EVALUABLE when no site had enough coverage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ...names import PAIRED
from ._config import MsiSettings
from ._reads import encode_counts

__all__ = ["chi_square", "benjamini_hochberg", "total_variation", "call_sites", "summarise", "MSI_H", "MSS", "NOT_EVALUABLE"]

MSI_H, MSS, NOT_EVALUABLE = "MSI-H", "MSS", "NOT_EVALUABLE"
UNSTABLE, STABLE, LOW_COVERAGE, EXCLUDED = "UNSTABLE", "STABLE", "LOW_COVERAGE", "EXCLUDED"


def chi_square(a: dict[int, int], b: dict[int, int], *, min_expected: float = 1.0) -> tuple[float, int]:
    """Pearson chi-square statistic and degrees of freedom of the 2 x L table of two length distributions.

    Lengths whose expected count is below ``min_expected`` are merged
    into their more populous neighbour first: a stutter length seen 3 times in one
    sample and never in the other is noise, and without pooling such sparse cells
    make the test anti-conservative (false unstable sites at every depth).
    """
    lengths = sorted(set(a) | set(b))
    if len(lengths) < 2:
        return 0.0, 0
    table = np.array([[a.get(k, 0) for k in lengths], [b.get(k, 0) for k in lengths]], dtype=float)
    total = table.sum()
    row_min = table.sum(axis=1).min()
    while table.shape[1] > 1:
        cols = table.sum(axis=0)
        i = int(np.argmin(cols))
        if cols[i] * row_min / total >= min_expected:
            break
        if i == 0:
            j = 1
        elif i == table.shape[1] - 1:
            j = i - 1
        else:
            j = i - 1 if cols[i - 1] >= cols[i + 1] else i + 1
        table[:, j] += table[:, i]
        table = np.delete(table, i, axis=1)
    if table.shape[1] < 2:
        return 0.0, 0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / total
    return float(((table - expected) ** 2 / expected).sum()), table.shape[1] - 1


def total_variation(a: dict[int, int], b: dict[int, int]) -> float:
    """Fraction of ``a``'s reads that would have to move to match ``b``'s distribution (0..1)."""
    na, nb = sum(a.values()), sum(b.values())
    if not na or not nb:
        return float("nan")
    return 0.5 * sum(abs(a.get(k, 0) / na - b.get(k, 0) / nb) for k in set(a) | set(b))


def mean_length(counts: dict[int, int]) -> float:
    n = sum(counts.values())
    return sum(k * v for k, v in counts.items()) / n if n else float("nan")


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH-adjusted q-values (NaN stays NaN)."""
    p = np.asarray(p, dtype=float)
    q = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if not m:
        return q
    order = np.argsort(p[ok], kind="stable")
    ranked = p[ok][order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    q[ok] = out
    return q


def call_sites(sites: pd.DataFrame, tumor: list[dict[int, int]], reference: list[dict[int, int]], settings: MsiSettings, *,
               dispersion: list[float] | None = None, excluded: list[bool] | None = None) -> pd.DataFrame:
    """One row per site: depths, distributions, statistic, p, q, shift and call.

    ``reference`` is the normal's counts (paired) or the baseline's pooled counts
    (tumour-only, with its ``dispersion`` and ``excluded`` flags).
    """
    min_cov = settings.reads.min_coverage
    alpha = settings.call.alpha
    min_shift = settings.call.min_shift
    n = len(sites)
    dispersion = dispersion if dispersion is not None else [1.0] * n
    excluded = excluded if excluded is not None else [False] * n
    t_depth = np.array([sum(c.values()) for c in tumor], dtype=np.int64)
    r_depth = np.array([sum(c.values()) for c in reference], dtype=np.int64)
    stat = np.full(n, np.nan)
    dof = np.zeros(n, dtype=np.int64)
    shift = np.full(n, np.nan)
    delta = np.full(n, np.nan)
    evaluated = (t_depth >= min_cov) & (r_depth >= min_cov) & ~np.asarray(excluded, dtype=bool)
    for i in np.flatnonzero(evaluated):
        x2, df = chi_square(tumor[i], reference[i])
        stat[i] = x2 / max(1.0, dispersion[i])
        dof[i] = df
        shift[i] = total_variation(tumor[i], reference[i])
        delta[i] = mean_length(tumor[i]) - mean_length(reference[i])
    p = np.full(n, np.nan)
    has_df = evaluated & (dof > 0)
    p[has_df] = stats.chi2.sf(stat[has_df], dof[has_df])
    p[evaluated & (dof == 0)] = 1.0
    q = benjamini_hochberg(p)
    call = np.where(np.asarray(excluded, dtype=bool), EXCLUDED, LOW_COVERAGE).astype(object)
    call[evaluated] = STABLE
    unstable = evaluated & (q < alpha) & (shift >= min_shift)
    call[unstable] = UNSTABLE
    return pd.DataFrame({
        "SITE_ID": sites["SITE_ID"].to_numpy(), "CHROM": sites["CHROM"].to_numpy(), "START": sites["START"].to_numpy(),
        "END": sites["END"].to_numpy(), "UNIT": sites["UNIT"].to_numpy(), "REF_REPEATS": sites["REF_REPEATS"].to_numpy(),
        "TUMOR_DEPTH": t_depth, "TUMOR_LENGTHS": [encode_counts(c) for c in tumor],
        "REFERENCE_DEPTH": r_depth, "REFERENCE_LENGTHS": [encode_counts(c) for c in reference],
        "DISPERSION": np.asarray(dispersion, dtype=float), "STATISTIC": stat, "DF": dof, "P_VALUE": p, "Q_VALUE": q,
        "SHIFT": shift, "MEAN_LENGTH_DIFF": delta, "CALL": call,
    })


def summarise(calls: pd.DataFrame, mode: str, settings: MsiSettings) -> dict:
    """Sites scanned, evaluated and unstable; score (%), status and the protocol's MSI-H exclusion flag."""
    scanned = len(calls)
    evaluated = int(calls["CALL"].isin([STABLE, UNSTABLE]).sum())
    unstable = int((calls["CALL"] == UNSTABLE).sum())
    threshold = settings.call.threshold_paired if mode == PAIRED else settings.call.threshold_tumor_only
    if evaluated == 0:
        score, status = float("nan"), NOT_EVALUABLE
    else:
        score = 100.0 * unstable / evaluated
        status = MSI_H if score >= threshold else MSS
    return {
        "MODE": mode, "SITES_SCANNED": scanned, "SITES_EVALUATED": evaluated, "SITES_UNSTABLE": unstable,
        "SITES_EXCLUDED": int((calls["CALL"] == EXCLUDED).sum()), "MSI_SCORE": score, "THRESHOLD": float(threshold),
        "MSI_STATUS": status, "QC": "PASS" if evaluated else "NOT_EVALUABLE",
        "MSI_H_EXCLUSION": None if status == NOT_EVALUABLE else status == MSI_H,
    }
