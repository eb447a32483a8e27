"""Simulate a trial and run the whole pipeline on it, in one go."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--outdir", required=True, help="results folder; the simulated inputs go to <outdir>/simulated_trial")
    parser.add_argument("--subjects", type=int, default=54, help="number of subjects (default 54)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--cpus", type=int, default=None, metavar="N",
                        help="worker processes for the per-specimen tasks (default: the cores this process may use)")


def main(args: argparse.Namespace) -> int:
    from ..pipeline import run_demo

    status = run_demo(args.outdir, n_subjects=args.subjects, seed=args.seed, cpus=args.cpus)
    for step, state in status.items():
        print(f"{step:>10}: {state}")
    print(f"report: {args.outdir}/report/index.html")
    return 0
