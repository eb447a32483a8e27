"""Simulate only the stages the custody tests need (trial, custody): seconds instead of minutes."""

from __future__ import annotations

from biomarkers.simulate import simulate_trial

CUSTODY_STAGES = ("trial", "custody")


def simulate_custody_trial(outdir, **kwargs):
    return simulate_trial(outdir, stages=CUSTODY_STAGES, **kwargs)
