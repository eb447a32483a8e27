"""Simulate a trial and run the whole pipeline on it, in one go."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--outdir", required=True, help="results folder; the simulated inputs go to <outdir>/simulated_trial")
    parser.add_argument("--subjects", type=int, default=54, help="number of subjects (default 54)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..pipeline import load_params, run_pipeline
    from ..simulate import simulate_trial

    outdir = Path(args.outdir)
    trial = simulate_trial(outdir / "simulated_trial", n_subjects=args.subjects, seed=args.seed)
    params = load_params(trial.outdir / "params.yaml", {"outdir": str(outdir), "seed": args.seed})
    status = run_pipeline(params)
    for step, state in status.items():
        print(f"{step:>10}: {state}")
    report = outdir / "report" / "index.html"
    if report.exists():
        print(f"report: {report}")
    return 0
