"""Repeat-length counts of simulated tumours and normals, without reads: for MSI calibration grids.

A *panel* is a list of microsatellites (unit, reference repeats) with short ones
(homopolymers of 5-7, units repeated 3-4 times) and long ones (homopolymers of
8-20, units repeated 5-12 times), in the proportions of a default exome scan.
For each site a sample gets ``{repeat length in bases: fragments}`` as the
caller's read counter would report it: Poisson depth, PCR stutter growing with
the tract's length (one unit lost or gained), and in a tumour, at a chosen
fraction of the long sites (short ones shift ten times less often, as in real
MSI-H tumours), a somatic shift of -2..+1 units on one or both alleles of the
tumour cells, so ``purity`` (or half of it) of the fragments carry it.

This replaces aligned reads only in calibration grids (thousands of specimens);
the read counter itself is tested on BAMs (tests/test_msi.py, test_msi_sim.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PanelSite", "design_panel", "sample_lengths", "shifted_sites", "panel_table", "call_lengths"]

_UNITS = ["A", "T", "C", "G", "AC", "AG", "CA", "TG", "CAG", "AAG", "AAAG", "AAAT", "AAAAC"]
_SHIFTS = np.array([-2, -1, 1])
_SHIFT_P = np.array([0.3, 0.55, 0.15])


@dataclass(frozen=True)
class PanelSite:
    unit: str
    repeats: int

    @property
    def length(self) -> int:
        return len(self.unit) * self.repeats


def design_panel(rng: np.random.Generator, n_long: int, n_short: int) -> list[PanelSite]:
    """Long and short microsatellites, interleaved (the order a scan would find them in)."""
    sites = []
    for i in range(n_long + n_short):
        long = i * n_long // (n_long + n_short) != (i + 1) * n_long // (n_long + n_short)
        unit = _UNITS[int(rng.integers(len(_UNITS)))]
        if len(unit) == 1:
            repeats = int(rng.integers(8, 21)) if long else int(rng.integers(5, 8))
        else:
            repeats = int(rng.integers(5, 13 if len(unit) == 2 else 9)) if long else int(rng.integers(3, 5))
        sites.append(PanelSite(unit, repeats))
    return sites


def stutter_rate(site: PanelSite) -> float:
    """PCR stutter per fragment: grows with the tract's length, homopolymers twice as prone."""
    return min(0.25, 0.005 * site.length * (2 if len(site.unit) == 1 else 1))


def shifted_sites(rng: np.random.Generator, panel: list[PanelSite], fraction: float, long_sites: list[bool]
                  ) -> dict[int, tuple[int, float]]:
    """Sites an MSI tumour shifted: index -> (units, alleles shifted per tumour cell: 0.5 or 1)."""
    out = {}
    for i, site in enumerate(panel):
        p = fraction if long_sites[i] else fraction / 10
        if rng.random() < p:
            units = int(rng.choice(_SHIFTS, p=_SHIFT_P))
            if site.repeats + units < 2:
                units = 1
            out[i] = (units, 1.0 if rng.random() < 0.5 else 0.5)
    return out


def sample_lengths(rng: np.random.Generator, panel: list[PanelSite], depth: float, *, purity: float = 0.0,
                   shifts: dict[int, tuple[int, float]] | None = None) -> list[dict[int, int]]:
    """Fragment counts per repeat length at every site of ``panel`` for one sample."""
    shifts = shifts or {}
    depths = rng.poisson(depth, size=len(panel))
    site = np.repeat(np.arange(len(panel)), depths)  # one entry per fragment, vectorised over the panel
    unit_len = np.array([len(p.unit) for p in panel])[site]
    lengths = np.array([p.length for p in panel])[site]
    if shifts and purity > 0:
        units = np.zeros(len(panel), dtype=np.int64)
        carried = np.zeros(len(panel))
        for i, (u, alleles) in shifts.items():
            units[i], carried[i] = u, purity * alleles
        moved = rng.random(len(site)) < carried[site]
        lengths = lengths + np.where(moved, units[site] * unit_len, 0)
    rate = np.array([stutter_rate(p) for p in panel])[site]
    u = rng.random(len(site))
    lengths = lengths - np.where(u < rate * 0.7, unit_len, 0) + np.where((u >= rate * 0.7) & (u < rate), unit_len, 0)
    out: list[dict[int, int]] = [{} for _ in panel]
    keys, counts = np.unique(site * 10_000 + lengths, return_counts=True)
    for key, count in zip(keys.tolist(), counts.tolist()):
        out[key // 10_000][key % 10_000] = count
    return out


def panel_table(panel: list[PanelSite], *, msisensor_like: bool = False):
    """The panel as a site table (the columns the caller reads); ``msisensor_like``: only what an MSIsensor-like
    scan finds (homopolymers >= 8, units repeated >= 5), with that scan recorded as a site table's header would."""
    import pandas as pd

    keep = [i for i, s in enumerate(panel) if not msisensor_like or s.repeats >= (8 if len(s.unit) == 1 else 5)]
    frame = pd.DataFrame({
        "SITE_ID": [f"sim:{i}:{panel[i].unit}" for i in keep], "CHROM": "sim", "START": [400 * i for i in keep],
        "END": [400 * i + panel[i].length for i in keep], "UNIT": [panel[i].unit for i in keep],
        "UNIT_LEN": [len(panel[i].unit) for i in keep], "REF_REPEATS": [panel[i].repeats for i in keep]})
    scan = {"min_homopolymer": 8 if msisensor_like else 5, "min_unit": 2, "max_unit": 5,
            "min_repeats": 5 if msisensor_like else 3, "max_repeat_bases": 60, "flank": 5}
    frame.attrs.update(scan=scan, index=keep)
    return frame


def call_lengths(sites, tumour: list[dict[int, int]], reference: list[dict[int, int]], mode: str, settings, rule=None, *,
                 baseline=None) -> dict:
    """The caller's summary row for counts given on the full panel (subset to ``sites``); ``reference`` is the
    normal (paired) or ignored for the baseline's pooled counts (tumour-only with ``baseline``)."""
    from ..genomics.msi import call_sites, decode_counts, default_rule, summarise

    index = sites.attrs["index"]
    t = [tumour[i] for i in index]
    if baseline is not None and mode == "tumor_only":
        ref = [decode_counts(x) for x in baseline["POOLED_LENGTHS"]]
        calls = call_sites(sites, t, ref, settings, dispersion=list(baseline["DISPERSION"]), excluded=list(baseline["EXCLUDED"]))
    else:
        calls = call_sites(sites, t, [reference[i] for i in index], settings)
    if rule is None:
        rules = baseline.attrs.get("rules", {}) if baseline is not None else {}
        rule = rules.get(mode) or default_rule(mode, settings, sites.attrs.get("scan"))
    return summarise(calls, mode, rule)
