"""The simulator's flow stage: realistic FCS files, per-event truth, treatment and immune-score effects."""

from __future__ import annotations

import hashlib
import math
from types import SimpleNamespace

import flowio
import numpy as np
import pandas as pd
import pytest

from biomarkers.immune import flow
from biomarkers.protocol import load_protocol
from biomarkers.simulate import simulate_trial, stage_rng
from biomarkers.simulate._flow import _tube_spec, load_flow_model, simulate_flow
from biomarkers.simulate._flow_events import spillover_array
from flow_helpers import shared_flow_trial


@pytest.fixture(scope="session")
def flow_trial(tmp_path_factory):
    return shared_flow_trial(tmp_path_factory)


def test_files_are_fcs31_with_the_panel_channels_markers_and_spillover(flow_trial):
    panel = flow.load_flow_settings().panel("PBMC16")
    model = load_flow_model()
    row = flow_trial.specimens.query("QC_PROBLEM.isna()").iloc[0]
    path = flow_trial.dir / row.FILE
    assert path.read_bytes()[:6] == b"FCS3.1"
    data = flowio.FlowData(str(path))
    assert data.pnn_labels == [c.channel for c in panel.channels]
    assert [m for m in data.pns_labels if m] == [c.marker for c in panel.fluorescence]
    assert int(data.text["tot"]) == row.N_EVENTS == len(flow_trial.truth_events(row.SPECIMEN_ID))
    tokens = data.text["spillover"].split(",")
    detectors = tokens[1:17]
    assert int(tokens[0]) == 16 and detectors == [c.channel for c in panel.fluorescence]
    matrix = np.array(tokens[17:], dtype=float).reshape(16, 16)
    assert np.allclose(matrix, spillover_array(detectors, model["spillover"]), atol=1e-6)


def test_uncovered_channel_is_absent_from_the_keyword_only(flow_trial):
    problem = flow_trial.problems.query("PROBLEM == 'UNCOVERED_CHANNEL'").iloc[0]
    data = flowio.FlowData(str(flow_trial.fcs(problem.SPECIMEN_ID)))
    tokens = data.text["spillover"].split(",")
    assert int(tokens[0]) == 15 and problem.DETAIL not in tokens and problem.DETAIL in data.pnn_labels


def test_truth_tables_agree_with_the_event_truth(flow_trial):
    specimen = flow_trial.specimens["SPECIMEN_ID"].iloc[2]
    events = flow_trial.truth_events(specimen)
    truth = flow_trial.truth_subsets.query("SPECIMEN_ID == @specimen").set_index("SUBSET")
    leukocytes = ~events["POPULATION"].isin(["DEBRIS", "DOUBLET", "DEAD", "CD45_NEGATIVE"])
    assert truth.loc["CD45pos", "TRUE_EVENTS"] == leukocytes.sum()
    cd8 = events["POPULATION"].eq("CD8_T")
    assert truth.loc["CD8_PD1pos", "TRUE_EVENTS"] == (cd8 & events["PD1"]).sum()
    assert truth.loc["CD8_T", "TRUE_PCT_CD45"] == pytest.approx(100 * cd8.sum() / leukocytes.sum())


MODEL = load_flow_model()


def _spec(stratum: str, timepoint: str, z: float, rng) -> SimpleNamespace:
    model = MODEL
    subjects = pd.DataFrame({"IMMUNE_SCORE": [z]}, index=["S1"])
    effects = {"S1": {t: 0.0 for t in model["cell_types"]}}
    row = SimpleNamespace(USUBJID="S1", CONTROL=False, DRIFT=False, STRATUM=stratum, BASE=timepoint, BATCH=1)
    spec, _ = _tube_spec(row, subjects, effects, model, None, rng)
    return spec


def test_pd1_blockade_raises_pd1_and_ki67_on_cd8_in_cps_positive_only():
    rng = np.random.default_rng(0)
    base = _spec("CPS>=1", "BASELINE", 0.0, rng).state_fractions
    on = _spec("CPS>=1", "C2D1", 0.0, rng).state_fractions
    negative = _spec("CPS<1", "C2D1", 0.0, rng).state_fractions
    model = load_flow_model()["cd8_states"]
    expit = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert base["PD1"]["CD8_T"] == pytest.approx(expit(model["PD1"]["base"]))
    assert on["PD1"]["CD8_T"] == pytest.approx(expit(model["PD1"]["base"] + model["PD1"]["pd1"]))
    assert on["PD1"]["CD8_T"] > base["PD1"]["CD8_T"] + 0.2 and on["KI67"]["CD8_T"] > 2 * base["KI67"]["CD8_T"]
    assert negative["PD1"]["CD8_T"] == pytest.approx(base["PD1"]["CD8_T"])


def test_immune_score_moves_cd8_up_and_treg_and_mdsc_down():
    rng = np.random.default_rng(1)
    low = pd.DataFrame([_spec("CPS<1", "BASELINE", -2.0, rng).shares for _ in range(200)]).mean()
    high = pd.DataFrame([_spec("CPS<1", "BASELINE", 2.0, rng).shares for _ in range(200)]).mean()
    assert high["CD8_T"] > 1.5 * low["CD8_T"]
    assert high["TREG"] < 0.7 * low["TREG"] and high["M_MDSC"] < 0.5 * low["M_MDSC"]


def test_simulated_trial_shows_the_pd1_effect_in_the_truth(flow_trial):
    spec = flow_trial.specimens.query("not CONTROL")
    truth = flow_trial.truth_subsets.query("SUBSET == 'CD8_PD1pos'").set_index("SPECIMEN_ID")
    cd8 = flow_trial.truth_subsets.query("SUBSET == 'CD8_T'").set_index("SPECIMEN_ID")
    spec = spec.assign(PD1_FRACTION=truth.loc[spec["SPECIMEN_ID"], "TRUE_EVENTS"].to_numpy()
                       / cd8.loc[spec["SPECIMEN_ID"], "TRUE_EVENTS"].to_numpy())
    cps = spec[spec["STRATUM"] == "CPS>=1"]
    on = cps[cps["TIMEPOINT"].isin(["C2D1", "PRESURGERY"])]["PD1_FRACTION"].mean()
    base = cps[cps["TIMEPOINT"] == "BASELINE"]["PD1_FRACTION"].mean()
    assert on > base + 0.15


def test_flow_stage_is_deterministic_and_leaves_other_stages_alone(tmp_path):
    protocol = load_protocol()
    digests = []
    for run in ("a", "b"):
        trial = simulate_trial(tmp_path / run, n_subjects=3, seed=11, stages=("trial", "custody"))
        before = {p.relative_to(trial.outdir): hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in sorted(trial.outdir.rglob("*")) if p.is_file()}
        simulate_flow(trial, protocol, stage_rng(11, "flow"))
        after = {p.relative_to(trial.outdir): hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in sorted(trial.outdir.rglob("*")) if p.is_file()}
        assert {k: after[k] for k in before} == before
        digests.append({str(k): v for k, v in after.items() if str(k).startswith(("flow", "truth/flow"))})
    assert digests[0] == digests[1] and any(k.endswith(".fcs") for k in digests[0])
