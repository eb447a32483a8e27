"""Write a complete synthetic trial with known truth (inputs plus a truth/ folder)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--outdir", required=True, help="folder to create the trial in")
    parser.add_argument("--subjects", type=int, default=54, help="number of subjects (default 54)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--violation-rate", type=float, default=0.1,
                        help="rate of injected custody violations; 0 writes a clean trial (default 0.1)")
    parser.add_argument("--stages", nargs="+", metavar="STAGE",
                        help="simulate only these stages and the ones they need (trial, custody, genome, clinical, "
                             "expression, pathology, singlecell, flow; default: all)")
    parser.add_argument("--cpus", type=int, default=None, metavar="N",
                        help="worker processes writing the sequencing files (default: the cores this process may use); "
                             "the files are the same for any number")


def main(args: argparse.Namespace) -> int:
    from ..simulate import simulate_trial

    trial = simulate_trial(args.outdir, n_subjects=args.subjects, seed=args.seed, violation_rate=args.violation_rate,
                           stages=args.stages, cpus=args.cpus)
    print(f"simulated {trial.n_subjects} subjects into {trial.outdir} "
          f"(run it: biomarkers run --params-file {trial.outdir}/params.yaml --outdir results)")
    return 0
