"""The MSI status rule: scored sites, calibration on normals, and status across purity, depth and shifted fraction.

Length counts are simulated in-process (biomarkers.simulate._msi_lengths: stutter
growing with tract length, shifts on one or both alleles) on a panel of long and
short microsatellites, called on the default site table (all sites) and on an
MSIsensor-like one (long sites only). The full grid and the detection-limit table
of docs/msi.md come from benchmarks/msi_detection_limit.py; these are a few of its
cells. The read counter is tested on BAMs in test_msi.py and test_msi_sim.py.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest

from biomarkers.genomics import msi
from biomarkers.simulate._msi_lengths import call_lengths, design_panel, panel_table, sample_lengths, shifted_sites

DEPTHS = (30, 200)


@pytest.fixture(scope="module")
def panel():
    """150 long and 300 short sites; per depth, a panel of 4 normals as the baseline of each site definition."""
    settings = msi.load_settings()
    rng = np.random.default_rng(14)
    sites = design_panel(rng, 150, 300)
    tables = {"default": panel_table(sites), "msisensor": panel_table(sites, msisensor_like=True)}
    baselines = {}
    for depth in DEPTHS:
        normals = [sample_lengths(rng, sites, depth) for _ in range(4)]
        for name, table in tables.items():
            index = table.attrs["index"]
            baselines[name, depth] = msi.build_baseline(table, [[n[i] for i in index] for n in normals], settings)
    return {"sites": sites, "tables": tables, "baselines": baselines, "settings": settings,
            "long": [s.repeats >= (8 if len(s.unit) == 1 else 5) for s in sites]}


def _calls(panel, rng, depth, purity, fraction):
    """One tumour and its normal, called in both modes on both site tables: {(mode, definition): summary}."""
    shifts = shifted_sites(rng, panel["sites"], fraction, panel["long"])
    tumour = sample_lengths(rng, panel["sites"], depth, purity=purity, shifts=shifts)
    normal = sample_lengths(rng, panel["sites"], depth)
    return {(mode, name): call_lengths(table, tumour, normal, mode, panel["settings"], baseline=panel["baselines"][name, depth])
            for name, table in panel["tables"].items() for mode in ("paired", "tumor_only")}


@pytest.mark.parametrize("depth", DEPTHS)
def test_status_is_right_where_the_truth_is_unambiguous(panel, depth):
    """MSS when nothing shifted (any purity); MSI-H with >= 30 % of long sites shifted at purity >= 0.4 (the
    detection limit at 30x, docs/msi.md) and with half of them shifted at purity 0.2 and 200x; the same status and
    score under both site definitions."""
    rng = np.random.default_rng(depth)
    for purity in (0.2, 0.4, 0.8):
        for fraction, want in ((0.0, "MSS"), (0.3, "MSI-H"), (0.5, "MSI-H")):
            calls = _calls(panel, rng, depth, purity, fraction)
            unambiguous = fraction == 0.0 or purity >= 0.4 or (depth == 200 and fraction == 0.5)
            for (mode, name), row in calls.items():
                if unambiguous:
                    assert row["MSI_STATUS"] == want, (depth, purity, fraction, mode, name, row["MSI_SCORE"])
                assert row["MSI_STATUS"] == calls[mode, "msisensor"]["MSI_STATUS"]
                assert row["MSI_SCORE"] == calls[mode, "msisensor"]["MSI_SCORE"]
                assert row["RULE_SOURCE"] == f"calibrated on 4 normals ({'pairs of normals' if mode == 'paired' else 'each against the others'})"


def test_an_msi_l_tumour_is_not_msi_h_under_either_site_definition(panel):
    """The issue's case: 4 % of long sites shifted at purity 0.6. The former rule (score over all evaluated sites
    >= 3.5 %) called it MSS on the default site table and MSI-H on the MSIsensor-like one; the scored-site score is
    the same on both, and the calibrated rule calls it INDETERMINATE on both."""
    rng = np.random.default_rng(4)
    statuses = set()
    for _ in range(3):
        calls = _calls(panel, rng, 200, 0.6, 0.04)
        default, like = calls["paired", "default"], calls["paired", "msisensor"]
        assert default["SCORE_ALL_SITES"] < 3.5 <= like["SCORE_ALL_SITES"]  # the dilution by short repeats
        assert default["MSI_SCORE"] == like["MSI_SCORE"] == like["SCORE_ALL_SITES"]
        statuses |= {row["MSI_STATUS"] for row in calls.values()}
        assert default["SCORE_BY_CLASS"].count("short") == 5 and "short" not in like["SCORE_BY_CLASS"]
    assert statuses == {"INDETERMINATE"}


def test_the_rule_needs_enough_unstable_sites_and_a_score_beyond_every_normal():
    rule = msi.Rule(mode="paired", null_site_rate=0.002, max_null_score=0.0, false_positive_rate=0.01, min_unstable_sites=5,
                    msi_h_score=10.0, source="test")
    assert msi.decide(0, 0, rule)[0] == "NOT_EVALUABLE"
    assert msi.decide(0, 40, rule) == ("MSS", 5.0, 10.0)  # 2 unstable of 40 is beyond the null (P(X >= 2) < 1 %)
    assert msi.decide(1, 40, rule)[0] == "MSS"
    assert msi.decide(4, 40, rule)[0] == "INDETERMINATE"  # 10 %, but fewer than 5 unstable sites
    assert msi.decide(5, 40, rule)[0] == "MSI-H"
    assert msi.decide(4, 400, rule)[0] == "INDETERMINATE"
    assert msi.decide(40, 400, rule)[0] == "MSI-H"
    # a calibration normal reached 2 %: a specimen must score above it to leave MSS
    noisy = replace(rule, max_null_score=2.0)
    assert msi.decide(8, 400, noisy)[0] == "MSS" and msi.decide(9, 400, noisy)[0] == "INDETERMINATE"
    # a noisy assay: the null reaches past the MSI-H score, which rises with it (11 % is then MSS)
    status, mss_cut, msi_h_cut = msi.decide(44, 400, replace(rule, null_site_rate=0.08))
    assert status == "MSS" and mss_cut == msi_h_cut > 11.0
    assert msi.decide(50, 400, replace(rule, null_site_rate=0.08))[0] == "MSI-H"


def test_binomial_and_chi_square_match_scipy():
    from scipy import stats

    for n, p, fpr in ((40, 0.002, 0.01), (900, 0.004, 0.01), (20000, 0.002, 0.001), (300, 0.05, 0.05)):
        k = msi.null_critical_count(n, p, fpr)
        assert stats.binom.sf(k - 1, n, p) <= fpr < stats.binom.sf(k - 2, n, p), (n, p, fpr, k)
    for k, n in ((0, 3000), (2, 1500), (10, 400)):
        assert msi.upper_rate(k, n) == pytest.approx(stats.beta.ppf(0.95, k + 1, n - k), rel=1e-6)
    for df in (1, 2, 3, 4, 7, 12, 31):
        for x in (0.01, 0.5, 3.0, 12.0, 40.0, 150.0):
            assert msi.chi2_sf(x, df) == pytest.approx(stats.chi2.sf(x, df), rel=1e-9, abs=1e-300), (x, df)


def test_defaults_warn_for_a_site_table_scanned_otherwise(panel, caplog):
    settings = panel["settings"]
    default_scan = {"min_homopolymer": 5, "min_unit": 2, "max_unit": 5, "min_repeats": 3, "max_repeat_bases": 60, "flank": 5}
    like = {**default_scan, "min_homopolymer": 8, "min_repeats": 5}
    for scan in (default_scan, like):  # the same scored sites: the defaults apply as they are
        assert msi.default_rule("paired", settings, scan).source == "assets/msi.yaml defaults"
    with caplog.at_level(logging.WARNING, logger="biomarkers"):
        strict = msi.default_rule("paired", settings, {**default_scan, "min_homopolymer": 10})
        unknown = msi.default_rule("tumor_only", settings, None)
    assert "WARNING: the defaults were calibrated for scored sites with homopolymers >= 8" in strict.source
    assert "this site table's are homopolymers >= 10" in strict.source and "msi baseline" in strict.source
    assert "does not say how it was scanned" in unknown.source
    assert sum("msi rule" in r.getMessage() for r in caplog.records) == 2
    assert (strict.null_site_rate, unknown.null_site_rate) == (settings.rule.null_site_rate_paired,
                                                               settings.rule.null_site_rate_tumor_only)


def test_a_baseline_recalibrates_a_site_table_scanned_otherwise(panel):
    """Long sites only, scanned with homopolymers >= 10: the defaults warn, the baseline's rule (measured on this very
    site table) does not, and the call reports it."""
    table = panel["tables"]["msisensor"].copy()
    table.attrs = {**panel["tables"]["msisensor"].attrs, "scan": {**panel["tables"]["msisensor"].attrs["scan"], "min_homopolymer": 10}}
    rng = np.random.default_rng(9)
    tumour = sample_lengths(rng, panel["sites"], 200, purity=0.6, shifts=shifted_sites(rng, panel["sites"], 0.4, panel["long"]))
    normal = sample_lengths(rng, panel["sites"], 200)
    assert "WARNING" in call_lengths(table, tumour, normal, "paired", panel["settings"])["RULE_SOURCE"]
    row = call_lengths(table, tumour, normal, "paired", panel["settings"], baseline=panel["baselines"]["msisensor", 200])
    assert row["RULE_SOURCE"] == "calibrated on 4 normals (pairs of normals)" and row["MSI_STATUS"] == "MSI-H"
    assert row["NULL_SITE_RATE"] == panel["baselines"]["msisensor", 200].attrs["rules"]["paired"].null_site_rate
