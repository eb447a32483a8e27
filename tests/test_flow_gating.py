"""The gating engine: Gating-ML 2.0 conformance, FlowJo's own counts, and FlowKit gate for gate."""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET

import flowkit as fk
import numpy as np
import pytest

from biomarkers.errors import InputError
from biomarkers.immune import flow
from flow_helpers import shared_flow_trial


@pytest.fixture(scope="session")
def flow_trial(tmp_path_factory):
    return shared_flow_trial(tmp_path_factory)


@pytest.mark.real_data
def test_gating_ml_conformance_every_gate_equals_its_truth_file(real_data):
    """Every gate of gml_all_gates.xml with a truth file: per-event membership equal, event for event."""
    sample = flow.read_fcs(real_data("fcs/gate_ref/data1.fcs")).sample
    strategy = flow.load_gating_ml(real_data("fcs/gate_ref/gml_all_gates.xml"))
    result = flow.apply_strategy(sample, strategy.gating)
    truth_dir = real_data("fcs/gate_ref/truth")
    checked = []
    for name, path in strategy.gating.get_gate_ids():
        truth_file = truth_dir / f"Results_{name}.txt"
        if not truth_file.exists():
            assert name in ("Quadrant1", "Quadrant2")  # quadrant owners; their quadrants have truth files
            continue
        truth = np.loadtxt(truth_file, dtype=int).astype(bool)
        got = result.membership[result.columns[(name, path)]].to_numpy()
        assert got.shape == truth.shape
        assert np.array_equal(got, truth), (name, int(got.sum()), int(truth.sum()))
        checked.append(name)
    # every gate type of the specification is in the set: rectangles, ranges, polygons, an ellipse,
    # quadrants, Boolean and/or/not, ratio and scaled (transformed) dimensions, compensation
    assert len(checked) == 49
    assert {"Ellipse1", "And3", "Or2", "Not1", "RatRange1a", "ScaleRange8c", "FSCD-SSCN-FL1N", "ParAnd3"} <= set(checked)


def _flowjo_counts(wsp) -> dict[str, int]:
    """Event counts FlowJo wrote for the sample's populations (SampleNode, not the group template)."""
    root = ET.parse(wsp).getroot()
    counts = {}
    for node in root.iter("SampleNode"):
        for population in node.iter("Population"):
            counts[population.get("name")] = int(population.get("count"))
    return counts


@pytest.mark.real_data
@pytest.mark.parametrize("workspace", ["test_data_diamond_biex_rect.wsp", "test_data_diamond_asinh_rect.wsp",
                                       "test_data_diamond_asinh_rect2.wsp", "simple_diamond_example_quad_gate.wsp"])
def test_flowjo_workspace_counts_equal_flowjos_own(real_data, workspace):
    wsp = real_data(f"fcs/flowjo/{workspace}")
    expected = _flowjo_counts(wsp)
    assert expected and all(v > 0 for v in expected.values())
    sample = flow.read_fcs(real_data("fcs/flowjo/test_data_diamond_01.fcs")).sample
    strategy = flow.load_workspace(wsp, "test_data_diamond_01.fcs")
    result = flow.apply_strategy(sample, strategy.gating, sample_id=strategy.sample_id)
    got = dict(zip(result.counts["GATE"], result.counts["EVENTS"]))
    assert got == expected


@pytest.mark.real_data
def test_workspace_sample_names_and_groups(real_data):
    wsp = real_data("fcs/flowjo/test_data_diamond_biex_rect.wsp")
    assert flow.workspace_samples(wsp) == {"All Samples": ["test_data_diamond_01.fcs"]}
    with pytest.raises(InputError, match="no sample named 'SP0001.fcs'"):
        flow.load_workspace(wsp, "SP0001.fcs")


def test_engine_equals_flowkit_session_gate_for_gate(flow_trial):
    """The trial strategy on a simulated file: membership of every gate equals FlowKit's Session."""
    specimen = flow_trial.specimens.query("not CONTROL and QC_PROBLEM.isna()")["SPECIMEN_ID"].iloc[0]
    path = flow_trial.fcs(specimen)
    settings = flow.load_flow_settings()
    strategy = flow.load_gating_ml(settings.panel("PBMC16").strategy)
    ours = flow.apply_strategy(flow.read_fcs(path).sample, strategy.gating)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session = fk.Session(gating_strategy=fk.parse_gating_xml(str(strategy.source)), fcs_samples=[str(path)])
        session.analyze_samples(use_mp=False)
        sample_id = session.get_sample_ids()[0]
        for name, gate_path in strategy.gating.get_gate_ids():
            theirs = session.get_gate_membership(sample_id, name, gate_path=gate_path)
            assert np.array_equal(ours.membership[name].to_numpy(), theirs), name
    assert ours.count("CD45pos") > 1000


def test_engine_equals_flowkit_with_the_specimen_matrix(flow_trial):
    """With the spillover keyword parsed by us (FCS compensation), identical to FlowKit's own parse."""
    specimen = flow_trial.specimens.query("not CONTROL and QC_PROBLEM.isna()")["SPECIMEN_ID"].iloc[1]
    fcs = flow.read_fcs(flow_trial.fcs(specimen))
    strategy = flow.load_gating_ml(flow.load_flow_settings().panel("PBMC16").strategy)
    ours = flow.apply_strategy(fcs.sample, strategy.gating, fcs_matrix=flow.spillover_matrix(fcs))
    flowkit_parse = flow.apply_strategy(fcs.sample, strategy.gating)
    assert ours.membership.equals(flowkit_parse.membership)


def test_a_gate_on_a_channel_the_file_lacks_is_refused(flow_trial, tmp_path):
    settings = flow.load_flow_settings()
    source = settings.panel("PBMC16").strategy.read_text()
    broken = tmp_path / "broken.gating.xml"
    broken.write_text(source.replace('data-type:name="BV510-A"', 'data-type:name="BV570-A"', 1))
    specimen = flow_trial.specimens["SPECIMEN_ID"].iloc[0]
    with pytest.raises(InputError, match=r"broken\.gating\.xml: gate '.*' uses channel 'BV570-A'"):
        flow.gate_specimen(flow_trial.fcs(specimen), specimen=specimen, gating_ml=broken, settings=settings)


def test_a_strategy_without_a_subset_gate_is_refused(flow_trial, tmp_path):
    settings = flow.load_flow_settings()
    source = settings.panel("PBMC16").strategy.read_text()
    renamed = tmp_path / "renamed.gating.xml"
    renamed.write_text(source.replace('gating:id="Treg"', 'gating:id="Tregs"'))
    specimen = flow_trial.specimens["SPECIMEN_ID"].iloc[0]
    with pytest.raises(InputError, match=r"renamed\.gating\.xml: gate 'Treg' is not a gate of the strategy"):
        flow.gate_specimen(flow_trial.fcs(specimen), specimen=specimen, gating_ml=renamed, settings=settings)
    unreadable = tmp_path / "unreadable.gating.xml"
    unreadable.write_text(source[: len(source) // 2])
    with pytest.raises(InputError, match="not a readable Gating-ML 2.0 file"):
        flow.load_gating_ml(unreadable)
