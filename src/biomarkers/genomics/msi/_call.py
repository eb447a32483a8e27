"""Per-site tests and the specimen's MSI score and status.

Paired mode (as MSIsensor): a Pearson chi-square test of the tumour's repeat-length
distribution against the normal's (2 x L contingency table), Benjamini-Hochberg
q-values over the evaluated sites, a site unstable when q < alpha and at least
``min_shift`` of the tumour's reads moved off the normal's distribution.

Tumour-only mode: the same test against the baseline's pooled normal counts, with
the statistic divided by the site's dispersion in the normals (how much normals
disagree with each other beyond sampling, >= 1; see :mod:`._baseline`). Sites the
baseline excluded (unstable in the normals) are not evaluated.

Sites are tested in two families, each with its own Benjamini-Hochberg
q-values: the *scored* sites (long repeats, see :mod:`._rule`) and the others.
Score = 100 x unstable / evaluated scored sites; the status comes from the
calibrated rule (:func:`._rule.decide`): MSS, INDETERMINATE, MSI-H, or
NOT_EVALUABLE when no scored site had enough coverage.
"""

from __future__ import annotations

import math

import numpy as np

from ._config import MsiSettings
from ._reads import encode_counts
from ._rule import INDETERMINATE, MSI_H, MSS, NOT_EVALUABLE, Rule, decide, scored_mask, site_classes

__all__ = ["chi_square", "chi2_sf", "benjamini_hochberg", "total_variation", "call_sites", "site_columns", "summarise", "MSI_H", "MSS",
           "INDETERMINATE", "NOT_EVALUABLE"]

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
    # plain lists: tables have a handful of columns, numpy's per-call overhead would dominate
    row_a = [a.get(k, 0) for k in lengths]
    row_b = [b.get(k, 0) for k in lengths]
    n_a, n_b = sum(row_a), sum(row_b)
    total = n_a + n_b
    row_min = min(n_a, n_b)
    cols = [x + y for x, y in zip(row_a, row_b)]
    while len(cols) > 1:
        i = min(range(len(cols)), key=cols.__getitem__)  # the first smallest column, as numpy's argmin
        if cols[i] * row_min / total >= min_expected:
            break
        if i == 0:
            j = 1
        elif i == len(cols) - 1:
            j = i - 1
        else:
            j = i - 1 if cols[i - 1] >= cols[i + 1] else i + 1
        row_a[j] += row_a[i]
        row_b[j] += row_b[i]
        cols[j] += cols[i]
        del row_a[i], row_b[i], cols[i]
    if len(cols) < 2:
        return 0.0, 0
    x2 = 0.0
    for x, y, c in zip(row_a, row_b, cols):
        e_a, e_b = n_a * c / total, n_b * c / total
        x2 += (x - e_a) ** 2 / e_a + (y - e_b) ** 2 / e_b
    return x2, len(cols) - 1


def total_variation(a: dict[int, int], b: dict[int, int]) -> float:
    """Fraction of ``a``'s reads that would have to move to match ``b``'s distribution (0..1)."""
    na, nb = sum(a.values()), sum(b.values())
    if not na or not nb:
        return float("nan")
    return 0.5 * sum(abs(a.get(k, 0) / na - b.get(k, 0) / nb) for k in set(a) | set(b))


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for a chi-square with integer ``df`` (closed forms; as scipy.stats.chi2.sf, without importing scipy)."""
    if df <= 0:
        return 1.0
    if x <= 0:
        return 1.0
    half = x / 2.0
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for i in range(1, df // 2):
            term *= half / i
            total += term
        return min(1.0, math.exp(-half) * total)
    root = math.sqrt(x)
    total, term = 0.0, 1.0 / root  # x^(-1/2), then x^((2i-1)/2) / (1*3*...*(2i-1))
    for i in range(1, (df - 1) // 2 + 1):
        term *= x / (2 * i - 1)
        total += term
    return min(1.0, math.erfc(root / math.sqrt(2.0)) + math.sqrt(2.0 / math.pi) * math.exp(-half) * total)


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


def call_sites(sites, tumor: list[dict[int, int]], reference: list[dict[int, int]], settings: MsiSettings, *,
               dispersion: list[float] | None = None, excluded: list[bool] | None = None):
    """One row per site: depths, distributions, statistic, p, q, shift and call (a pandas frame).

    ``reference`` is the normal's counts (paired) or the baseline's pooled counts
    (tumour-only, with its ``dispersion`` and ``excluded`` flags). q-values are
    computed within the scored sites and within the others.
    """
    import pandas as pd

    return pd.DataFrame(site_columns(sites, tumor, reference, settings, dispersion=dispersion, excluded=excluded))


def site_columns(sites, tumor: list[dict[int, int]], reference: list[dict[int, int]], settings: MsiSettings, *,
                 dispersion=None, excluded=None) -> dict[str, np.ndarray]:
    """:func:`call_sites` as a mapping of column name to array (no pandas: the per-specimen command's path)."""
    t = site_tests(sites, tumor, reference, settings, dispersion=dispersion, excluded=excluded)

    def column(name, dtype=object):
        return np.asarray(sites[name], dtype=dtype)

    return {
        "SITE_ID": column("SITE_ID"), "CHROM": column("CHROM"), "START": column("START", np.int64),
        "END": column("END", np.int64), "UNIT": column("UNIT"), "REF_REPEATS": column("REF_REPEATS", np.int64),
        "TUMOR_DEPTH": t["t_depth"], "TUMOR_LENGTHS": np.array([encode_counts(c) for c in tumor], dtype=object),
        "REFERENCE_DEPTH": t["r_depth"], "REFERENCE_LENGTHS": np.array([encode_counts(c) for c in reference], dtype=object),
        "DISPERSION": t["dispersion"], "STATISTIC": t["stat"], "DF": t["dof"], "P_VALUE": t["p"], "Q_VALUE": t["q"],
        "SHIFT": t["shift"], "MEAN_LENGTH_DIFF": t["delta"], "CALL": t["call"], "SCORED": t["scored"],
    }


def site_tests(sites, tumor: list[dict[int, int]], reference: list[dict[int, int]], settings: MsiSettings, *,
               dispersion=None, excluded=None) -> dict[str, np.ndarray]:
    """The per-site test as arrays (no frame): depths, statistic, df, p, q, shift, mean difference, call, scored."""
    min_cov = settings.reads.min_coverage
    n = len(tumor)
    dispersion = np.ones(n) if dispersion is None else np.asarray(dispersion, dtype=float)
    excluded = np.zeros(n, dtype=bool) if excluded is None else np.asarray(excluded, dtype=bool)
    scored = np.array(scored_mask(sites["UNIT_LEN"], sites["REF_REPEATS"], settings), dtype=bool)
    t_depth = np.fromiter((sum(c.values()) for c in tumor), dtype=np.int64, count=n)
    r_depth = np.fromiter((sum(c.values()) for c in reference), dtype=np.int64, count=n)
    stat = np.full(n, np.nan)
    dof = np.zeros(n, dtype=np.int64)
    shift = np.full(n, np.nan)
    delta = np.full(n, np.nan)
    p = np.full(n, np.nan)
    evaluated = (t_depth >= min_cov) & (r_depth >= min_cov) & ~excluded
    for i in np.flatnonzero(evaluated).tolist():
        a, b = tumor[i], reference[i]
        x2, df = chi_square(a, b)
        x2 /= max(1.0, float(dispersion[i]))
        stat[i], dof[i] = x2, df
        p[i] = chi2_sf(x2, df) if df else 1.0
        shift[i] = total_variation(a, b)
        delta[i] = mean_length(a) - mean_length(b)
    q = np.full(n, np.nan)
    for family in (scored, ~scored):
        q[family] = benjamini_hochberg(p[family])
    call = np.where(excluded, EXCLUDED, LOW_COVERAGE).astype(object)
    call[evaluated] = STABLE
    call[evaluated & (q < settings.call.alpha) & (shift >= settings.call.min_shift)] = UNSTABLE
    return {"t_depth": t_depth, "r_depth": r_depth, "dispersion": dispersion, "stat": stat, "dof": dof, "p": p, "q": q,
            "shift": shift, "delta": delta, "call": call, "scored": scored}


def scored_counts(call: np.ndarray, scored: np.ndarray) -> tuple[int, int]:
    """(unstable, evaluated) among the scored sites."""
    on = call[scored]
    return int((on == UNSTABLE).sum()), int(((on == UNSTABLE) | (on == STABLE)).sum())


def summarise(calls, mode: str, rule: Rule) -> dict:
    """Sites evaluated and unstable (all and scored), score (%), score per repeat class, status and the rule behind it."""
    call = np.asarray(calls["CALL"], dtype=object)
    scored = np.asarray(calls["SCORED"], dtype=bool)
    evaluated_all = int(np.isin(call, [STABLE, UNSTABLE]).sum())
    unstable_all = int((call == UNSTABLE).sum())
    unstable, evaluated = scored_counts(call, scored)
    status, mss_cut, msi_h_cut = decide(unstable, evaluated, rule)
    by_class: dict[str, list[int]] = {}
    for name, c in zip(site_classes((len(u) for u in calls["UNIT"]), scored), call):
        counts = by_class.setdefault(name, [0, 0])
        counts[0] += c == UNSTABLE
        counts[1] += c in (STABLE, UNSTABLE)
    return {
        "MODE": mode, "SITES_SCANNED": len(call), "SITES_EVALUATED": evaluated_all, "SITES_UNSTABLE": unstable_all,
        "SITES_EXCLUDED": int((call == EXCLUDED).sum()), "SCORE_SITES": evaluated, "SCORE_UNSTABLE": unstable,
        "MSI_SCORE": 100.0 * unstable / evaluated if evaluated else float("nan"),
        "SCORE_ALL_SITES": 100.0 * unstable_all / evaluated_all if evaluated_all else float("nan"),
        "SCORE_BY_CLASS": ", ".join(f"{k} {u}/{n}" for k, (u, n) in sorted(by_class.items())),
        "MSS_CUTOFF": mss_cut, "THRESHOLD": msi_h_cut, "MIN_UNSTABLE_SITES": rule.min_unstable_sites,
        "NULL_SITE_RATE": rule.null_site_rate, "RULE_FPR": rule.false_positive_rate, "RULE_SOURCE": rule.source,
        "MSI_STATUS": status, "QC": "NOT_EVALUABLE" if status == NOT_EVALUABLE else "PASS",
        "MSI_H_EXCLUSION": {MSI_H: True, MSS: False}.get(status),
    }
