#!/usr/bin/env python3
"""MSI status across purity, depth and shifted fraction, under both site definitions: the detection-limit table.

Simulates (biomarkers.simulate._msi_lengths, seeded) a panel of 300 long and 600
short microsatellites, a panel of 4 normals per depth (the baseline, which also
calibrates both modes' rule), and tumours at each purity x depth x fraction of long
sites shifted, each with its matched normal; calls each tumour paired and
tumour-only, on the default site table (all 900 sites) and on an MSIsensor-like
one (the 300 long sites). Prints, as Markdown for docs/msi.md:

- the share of tumours called MSI-H / INDETERMINATE / MSS per cell (paired, one depth);
- the detection limit: per purity and depth, the lowest shifted fraction called MSI-H
  in >= 95 % of the replicates (both modes, both site definitions);
- MSS tumours (fraction 0) called anything but MSS; statuses that differ between the
  two site definitions (expected: none; the score is computed on the same long sites);
- what the former fixed rule (score over all sites >= 3.5 %, paired) would have called.

    python benchmarks/msi_detection_limit.py [--replicates 20] [--depths 30 60 100 200]

About 6 CPU-minutes at the defaults; tests/test_msi_calibration.py runs a few cells.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict

import numpy as np

from biomarkers.genomics import msi
from biomarkers.simulate._msi_lengths import call_lengths, design_panel, panel_table, sample_lengths, shifted_sites

PURITIES = (0.2, 0.3, 0.4, 0.6, 0.8)
FRACTIONS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
DEFINITIONS = ("default", "msisensor")


def baselines(rng, panel, tables, depth, settings, n_normals=4):
    normals = [sample_lengths(rng, panel, depth) for _ in range(n_normals)]
    out = {}
    for name, table in tables.items():
        index = table.attrs["index"]
        out[name] = msi.build_baseline(table, [[n[i] for i in index] for n in normals], settings)
    return out


def run(replicates: int, depths: list[int], seed: int = 2026) -> dict:
    settings = msi.load_settings()
    rng = np.random.default_rng(seed)
    panel = design_panel(rng, 300, 600)
    long_sites = [s.repeats >= (8 if len(s.unit) == 1 else 5) for s in panel]
    tables = {"default": panel_table(panel), "msisensor": panel_table(panel, msisensor_like=True)}
    status = defaultdict(Counter)  # (mode, definition, depth, purity, fraction) -> statuses
    old_rule = defaultdict(Counter)
    rules = {}
    for depth in depths:
        base = baselines(rng, panel, tables, depth, settings)
        rules[depth] = {name: b.attrs["rules"] for name, b in base.items()}
        for purity in PURITIES:
            for fraction in FRACTIONS:
                for _ in range(replicates):
                    shifts = shifted_sites(rng, panel, fraction, long_sites)
                    tumour = sample_lengths(rng, panel, depth, purity=purity, shifts=shifts)
                    normal = sample_lengths(rng, panel, depth)
                    for name, table in tables.items():
                        for mode in ("paired", "tumor_only"):
                            row = call_lengths(table, tumour, normal, mode, settings, baseline=base[name])
                            status[mode, name, depth, purity, fraction][row["MSI_STATUS"]] += 1
                            if mode == "paired":
                                old = "MSI-H" if row["SCORE_ALL_SITES"] >= 3.5 else "MSS"
                                old_rule[name, depth, purity, fraction][old] += 1
    return {"status": status, "old_rule": old_rule, "rules": rules, "replicates": replicates, "depths": depths}


def detection_limit(status, mode, name, depth, purity, replicates) -> float | None:
    for fraction in FRACTIONS[1:]:
        if status[mode, name, depth, purity, fraction]["MSI-H"] >= 0.95 * replicates:
            return fraction
    return None


def report(result: dict) -> str:
    status, reps, depths = result["status"], result["replicates"], result["depths"]
    lines = [f"Replicates per cell: {reps}. Per-site false-positive rate of scored sites in the calibration normals "
             "(upper 95 % bound), paired / tumour-only, by depth: " + "; ".join(
                 f"{d}x {result['rules'][d]['default']['paired'].null_site_rate:.4f} / "
                 f"{result['rules'][d]['default']['tumor_only'].null_site_rate:.4f}" for d in depths), ""]
    show = 100 if 100 in depths else depths[-1]
    lines += [f"Paired calls at {show}x, default site table: MSI-H / INDETERMINATE / MSS out of {reps}", "",
              "| purity \\ shifted fraction | " + " | ".join(f"{f:.0%}" for f in FRACTIONS) + " |",
              "|---" * (len(FRACTIONS) + 1) + "|"]
    for purity in PURITIES:
        cells = [status["paired", "default", show, purity, f] for f in FRACTIONS]
        lines.append(f"| {purity:.1f} | " + " | ".join(f"{c['MSI-H']}/{c['INDETERMINATE']}/{c['MSS']}" for c in cells) + " |")
    lines += ["", "Detection limit: lowest fraction of long sites shifted that is called MSI-H in >= 95 % of tumours "
              "(paired / tumour-only; identical under both site definitions unless marked)", "",
              "| purity | " + " | ".join(f"{d}x" for d in depths) + " |", "|---" * (len(depths) + 1) + "|"]
    for purity in PURITIES:
        cells = []
        for d in depths:
            got = [detection_limit(status, m, n, d, purity, reps) for m in ("paired", "tumor_only") for n in DEFINITIONS]
            fmt = ["-" if g is None else f"{g:.0%}" for g in got]
            cells.append(f"{fmt[0]} / {fmt[2]}" + ("" if fmt[0] == fmt[1] and fmt[2] == fmt[3] else " (differs)"))
        lines.append(f"| {purity:.1f} | " + " | ".join(cells) + " |")
    not_mss = {k: c for k, c in status.items() if k[4] == 0.0 and c["MSS"] != reps}
    differ = [k for k in status if k[1] == "default" and status[k] != status[(k[0], "msisensor", *k[2:])]]
    old = result["old_rule"]
    low = [(d, p, f) for d in depths for p in PURITIES for f in (0.02, 0.05)]
    old_h = {n: sum(old[n, d, p, f]["MSI-H"] for d, p, f in low) for n in DEFINITIONS}
    new_h = {n: sum(status["paired", n, d, p, f]["MSI-H"] for d, p, f in low) for n in DEFINITIONS}
    lines += ["", f"MSS tumours (fraction 0) not called MSS: {sum(reps - c['MSS'] for c in not_mss.values())} of "
              f"{len(status) // len(FRACTIONS) * reps}; cells whose statuses differ between the two site definitions: "
              f"{len(differ)}.",
              f"Tumours with 2-5 % of long sites shifted called MSI-H, paired, default / MSIsensor-like site table "
              f"(of {len(low) * reps} each): {new_h['default']} / {new_h['msisensor']} by the calibrated rule; "
              f"{old_h['default']} / {old_h['msisensor']} by the former rule (score over all evaluated sites >= 3.5 %)."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--depths", type=int, nargs="+", default=[30, 60, 100, 200])
    args = parser.parse_args()
    print(report(run(args.replicates, args.depths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
