"""Tumour-only baseline from normal BAMs: each site's expected length distribution and its variability.

For every site, the normals with enough spanning reads are pooled (the expected
distribution). Each such normal is then tested against the pool of the others
(chi-square, as in paired mode): the mean of statistic/df over normals is the
site's *dispersion*, how much normals disagree beyond sampling (floored at 1;
tumour statistics are divided by it). A site where any normal departs from the
others at BH q < ``baseline.alpha`` (and by at least ``baseline.min_shift`` of its
reads: a germline length polymorphism moves about half) is unstable in the normals and excluded, as is
a site with fewer than ``baseline.min_normals`` covered normals. With a single
normal the dispersion cannot be estimated (it is 1) and nothing is excluded for
instability: MSIsensor-pro asks for >= 20 normals; docs/msi.md says why.

With >= 2 normals the baseline also calibrates the status rule (:mod:`._rule`):
each normal is called against the pool of the others (the tumour-only null) and
against the next normal (the paired null), over the sites the baseline keeps;
the unstable scored sites they show give each mode's per-site false-positive
rate, written into the header as ``##rule_paired=`` and ``##rule_tumor_only=``.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from ...errors import InputError
from ...names import PAIRED, TUMOR_ONLY
from ._call import benjamini_hochberg, chi2_sf, chi_square, scored_counts, site_tests, total_variation
from ._config import MsiSettings
from ._reads import encode_counts
from ._rule import Rule, calibrated_rule
from ._tsv import Columns, read_headed_columns, write_headed_tsv

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["build_baseline", "write_baseline", "read_baseline", "read_baseline_columns", "sites_digest"]

FORMAT_TAG = "biomarkers-msi-baseline/1"
BASELINE_COLUMNS = ["SITE_ID", "N_NORMALS", "POOLED_DEPTH", "POOLED_LENGTHS", "DISPERSION", "EXCLUDED", "REASON"]


def sites_digest(sites: pd.DataFrame) -> str:
    """Digest of a site table's sites (IDs and flanks): a baseline only fits the table it was built on."""
    text = "".join(f"{a}\t{b}\t{c}\n" for a, b, c in zip(sites["SITE_ID"], sites["LEFT_FLANK"], sites["RIGHT_FLANK"]))
    return hashlib.sha256(text.encode()).hexdigest()


def build_baseline(sites: pd.DataFrame, normals: list[list[dict[int, int]]], settings: MsiSettings) -> pd.DataFrame:
    """``normals[j][i]``: counts of normal j at site i -> one baseline row per site."""
    import pandas as pd

    min_cov = settings.reads.min_coverage
    min_normals = settings.baseline.min_normals
    alpha = settings.baseline.alpha
    min_shift = settings.baseline.min_shift
    n_sites = len(sites)
    covered = [[j for j in range(len(normals)) if sum(normals[j][i].values()) >= min_cov] for i in range(n_sites)]
    pooled: list[dict[int, int]] = []
    for i in range(n_sites):
        pool: dict[int, int] = {}
        for j in covered[i]:
            for k, v in normals[j][i].items():
                pool[k] = pool.get(k, 0) + v
        pooled.append(pool)
    dispersion = np.ones(n_sites)
    # p-values of each normal against the others, per normal over sites, for the FDR
    loo_p = np.full((len(normals), n_sites), np.nan)
    for i in range(n_sites):
        if len(covered[i]) < 2:
            continue
        ratios = []
        for j in covered[i]:
            own = normals[j][i]
            rest = {k: pooled[i].get(k, 0) - own.get(k, 0) for k in pooled[i]}
            rest = {k: v for k, v in rest.items() if v}
            x2, df = chi_square(own, rest)
            ratios.append(x2 / df if df else 0.0)
            # sparse tables make chi-square anti-conservative: as in calls, a departure must also be sizeable
            big = total_variation(own, rest) >= min_shift
            loo_p[j, i] = (chi2_sf(x2, df) if df else 1.0) if big else 1.0
        dispersion[i] = max(1.0, float(np.mean(ratios)))
    unstable_in_normals = np.zeros(n_sites, dtype=bool)
    for j in range(len(normals)):
        unstable_in_normals |= np.nan_to_num(benjamini_hochberg(loo_p[j]), nan=1.0) < alpha
    n_cov = np.array([len(c) for c in covered])
    reason = np.where(unstable_in_normals, "unstable in normals",
                      np.where(n_cov < min_normals, f"fewer than {min_normals} normals with >= {min_cov} reads", ""))
    frame = pd.DataFrame({
        "SITE_ID": sites["SITE_ID"].to_numpy(), "N_NORMALS": n_cov,
        "POOLED_DEPTH": [sum(p.values()) for p in pooled], "POOLED_LENGTHS": [encode_counts(p) for p in pooled],
        "DISPERSION": np.round(dispersion, 6), "EXCLUDED": reason != "", "REASON": reason,
    })
    frame.attrs["rules"] = calibrate(sites, normals, pooled, covered, frame["DISPERSION"].to_numpy(), reason != "", settings)
    return frame


def calibrate(sites: pd.DataFrame, normals: list[list[dict[int, int]]], pooled: list[dict[int, int]], covered: list[list[int]],
              dispersion: np.ndarray, excluded: np.ndarray, settings: MsiSettings) -> dict[str, Rule]:
    """Each mode's rule from the normals called as if they were tumours (no rule with fewer than 2 normals)."""
    n = len(normals)
    if n < 2:
        return {}
    tumour_only, paired = [], []
    for j in range(n):
        # the pool of the other normals at each site where normal j entered the pool
        loo = [{k: v - normals[j][i].get(k, 0) for k, v in pooled[i].items() if v - normals[j][i].get(k, 0)}
               if j in covered[i] else pooled[i] for i in range(len(pooled))]
        tests = site_tests(sites, normals[j], loo, settings, dispersion=dispersion, excluded=excluded)
        tumour_only.append(scored_counts(tests["call"], tests["scored"]))
    for a in range(n if n >= 3 else 1):  # each normal against the next one (one pair of two normals)
        tests = site_tests(sites, normals[a], normals[(a + 1) % n], settings, excluded=excluded)
        paired.append(scored_counts(tests["call"], tests["scored"]))
    source = f"calibrated on {n} normals"
    rules = {TUMOR_ONLY: calibrated_rule(TUMOR_ONLY, tumour_only, settings, f"{source} (each against the others)"),
             PAIRED: calibrated_rule(PAIRED, paired, settings, f"{source} (pairs of normals)")}
    return {mode: rule for mode, rule in rules.items() if rule is not None}


def write_baseline(baseline: pd.DataFrame, sites: pd.DataFrame, path: str | Path, *, n_normals: int) -> Path:
    header = [f"##format={FORMAT_TAG}", f"##reference_digest={sites.attrs.get('digest') or ''}",
              f"##sites_digest={sites_digest(sites)}", f"##normals={n_normals}"]
    rules = baseline.attrs.get("rules", {})
    header += [f"##rule_{mode}={rules[mode].to_header()}" for mode in (PAIRED, TUMOR_ONLY) if mode in rules]
    return write_headed_tsv(path, header, baseline[BASELINE_COLUMNS])


def read_baseline_columns(path: str | Path, sites) -> Columns:
    """Read a baseline into plain columns (no pandas), in the order of ``sites``; refuse one built on another site table."""
    header, table = read_headed_columns(path, what="baseline", format_tag=FORMAT_TAG, command="baseline",
                                        types={"N_NORMALS": int, "POOLED_DEPTH": int, "DISPERSION": float, "EXCLUDED": bool})
    meta = dict(header)
    # the digest covers the sites' IDs in order: a matching baseline has one row per site, in the same order
    if meta.get("sites_digest") != sites_digest(sites) or list(table["SITE_ID"]) != list(sites["SITE_ID"]):
        raise InputError(f"the baseline was built on another site table than {Path(sites.attrs.get('path', 'the one given')).name}; "
                         "rebuild it with `biomarkers msi baseline`", file=path)
    rules = {}
    for mode in (PAIRED, TUMOR_ONLY):
        if meta.get(f"rule_{mode}"):
            try:
                rule = Rule.from_header(meta[f"rule_{mode}"], mode)
            except (ValueError, TypeError, KeyError):
                raise InputError(f"the baseline's ##rule_{mode} header is not readable", file=path) from None
            rules[mode] = replace(rule, source=f"{Path(path).name}: {rule.source}")
    table.attrs.update(n_normals=int(meta.get("normals", 0) or 0), rules=rules)
    return table


def read_baseline(path: str | Path, sites) -> pd.DataFrame:
    """Read a baseline as a frame, aligned to ``sites``; refuse one built on another site table."""
    import pandas as pd

    table = read_baseline_columns(path, sites)
    frame = pd.DataFrame({name: table[name] for name in BASELINE_COLUMNS})
    frame.attrs.update(table.attrs)
    return frame
