#!/usr/bin/env python3
"""Flow cytometry: the whole per-file step against FlowKit's own gating of the same file and strategy.

Generates (seeded, with the simulator's event model) one FCS 3.1 file of 1,000,000
events x 20 channels on the trial panel (PBMC16: 3 scatter, 16 fluorescence, time),
spillover in its keyword, then times in child processes, alternately:

- **ours**: ``biomarkers flow``'s per-file work, ``gate_specimen`` + ``write_parts``:
  read, check the panel, compensate, transform every channel, time-stability and
  other QC, gate all 25 gates of ``assets/flow/pbmc16.gating.xml``, subset table,
  and write the part files (subsets and QC Parquet, the per-event AnnData ``.h5ad``);
- **FlowKit**: ``Sample(file)`` + ``Session(gating_strategy=parse_gating_xml(...))``,
  ``analyze_samples`` and ``get_analysis_report`` on the same file and strategy (FlowKit
  compensates from the same keyword and transforms per gate; it writes nothing).

Each child reports its wall and CPU time and its peak resident set size (``VmHWM``), so
the generator's memory is not counted. The per-gate counts of both are compared.

    python benchmarks/bench_flow.py [--events 1000000] [--runs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
which, fcs, out = sys.argv[1], sys.argv[2], sys.argv[3]
t0, c0 = time.perf_counter(), time.process_time()
if which == "ours":
    from biomarkers.immune import flow
    result = flow.gate_specimen(fcs, specimen="BENCH-0001")
    flow.write_parts(result, out, "BENCH-0001")
    counts = dict(zip(result.subsets["SUBSET"], result.subsets["EVENTS"]))
else:
    import flowkit as fk
    from biomarkers.assets import asset_path
    sample = fk.Sample(fcs)
    session = fk.Session(gating_strategy=fk.parse_gating_xml(str(asset_path("flow/pbmc16.gating.xml"))),
                         fcs_samples=[sample])
    session.analyze_samples(use_mp=False)
    report = session.get_analysis_report()
    counts = dict(zip(report["gate_name"], report["count"]))
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(json.dumps({"wall": wall, "cpu": cpu, "peak_mb": peak,
                  "counts": {k: int(v) for k, v in counts.items() if v == v and v is not None}}))
"""


def generate(path: Path, n_events: int, seed: int = 7) -> None:
    import numpy as np

    from biomarkers.assets import asset_path, load_config
    from biomarkers.simulate._flow import _write_fcs, load_flow_model
    from biomarkers.simulate._flow_events import TubeSpec, simulate_tube, spillover_array

    model = load_flow_model()
    channels = load_config(asset_path("flow/panels.yaml"), "flow/panels.schema.json")["panels"]["PBMC16"]["channels"]
    detectors = [c["channel"] for c in channels if c["kind"] == "fluorescence"]
    spill = spillover_array(detectors, model["spillover"])
    total = sum(t["share"] for t in model["cell_types"].values())
    spec = TubeSpec(n_events=n_events, shares={k: v["share"] / total for k, v in model["cell_types"].items()},
                    state_fractions={"PD1": {"CD8_T": 0.3, "CD4_TCONV": 0.15}, "KI67": {"CD8_T": 0.06}},
                    debris=0.08, doublets=0.04, dead=0.06, cd45_negative=0.01, duration_s=600.0)
    tube = simulate_tube(spec, model, channels, spill, np.random.default_rng(seed))
    row = SimpleNamespace(SPECIMEN_ID="BENCH-0001", DATE=dt.date(2025, 1, 6))
    _write_fcs(path, tube.data, channels, spill, detectors, row, model, None)


def run_child(which: str, fcs: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", CHILD, which, str(fcs), str(out)], capture_output=True, text=True,
                          env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the generated file here (and reuse it)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_flow.") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        fcs = folder / f"bench_{args.events}.fcs"
        if not fcs.exists():
            t0 = time.perf_counter()
            generate(fcs, args.events)
            print(f"generated {fcs.name}: {args.events:,} events x 20 channels, "
                  f"{fcs.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - t0:.0f} s")
        print(f"load average before: {os.getloadavg()[0]:.1f}")
        ratios = {"wall": [], "cpu": []}
        for run in range(args.runs):
            order = ("ours", "flowkit") if run % 2 == 0 else ("flowkit", "ours")
            result = {which: run_child(which, fcs, folder / f"parts_{run}") for which in order}
            ours, peer = result["ours"], result["flowkit"]
            same = {k: v for k, v in ours["counts"].items() if k in peer["counts"]}
            agree = all(peer["counts"][k] == v for k, v in same.items())
            for key in ratios:
                ratios[key].append(ours[key] / peer[key])
            print(f"run {run + 1}: ours {ours['wall']:.1f} s wall, {ours['cpu']:.1f} s CPU, peak {ours['peak_mb']:.0f} MB | "
                  f"FlowKit {peer['wall']:.1f} s wall, {peer['cpu']:.1f} s CPU, peak {peer['peak_mb']:.0f} MB | "
                  f"ratio wall {ratios['wall'][-1]:.2f}x, CPU {ratios['cpu'][-1]:.2f}x | "
                  f"{len(same)} subset counts {'equal' if agree else 'DIFFER'}")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        print(f"median ratio (ours / FlowKit): wall {statistics.median(ratios['wall']):.2f}x, "
              f"CPU {statistics.median(ratios['cpu']):.2f}x (target: within 1.2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
