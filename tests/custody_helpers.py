"""Simulate only the stages the custody tests need (trial, custody): seconds instead of minutes."""

from __future__ import annotations

from unittest import mock

from biomarkers.simulate import _run, simulate_trial

CUSTODY_STAGES = ("trial", "custody")


def simulate_custody_trial(outdir, **kwargs):
    stages = [s for s in _run.STAGES if s[0] in CUSTODY_STAGES]
    assert [name for name, _ in stages] == list(CUSTODY_STAGES)
    with mock.patch.object(_run, "STAGES", stages):
        return simulate_trial(outdir, **kwargs)
