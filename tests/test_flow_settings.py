"""The trial's flow facts in assets/flow: loaded into typed settings, checked against the strategy."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from biomarkers.assets import asset_path
from biomarkers.errors import InputError
from biomarkers.immune import flow


def test_bundled_panel_subsets_and_thresholds():
    settings = flow.load_flow_settings()
    panel = settings.panel("PBMC16")
    assert len(panel.channels) == 20 and len(panel.fluorescence) == 16 and panel.time_channel == "Time"
    assert panel.channel("BV510-A").marker == "CD3" and panel.cofactor("BV510-A") == 150
    ids = [s.id for s in panel.subsets]
    for wanted in ("CD45pos", "Lymphocytes", "Singlets", "Live", "T_cells", "CD4_T", "CD8_T", "Treg", "NK",
                   "NK_CD56bright", "NK_CD56dim", "B_cells", "Mono_classical", "Mono_intermediate",
                   "Mono_nonclassical", "M_MDSC", "PMN_MDSC", "CD8_PD1pos", "CD8_Ki67pos"):
        assert wanted in ids
    assert panel.subset("Treg").parent == "CD4_T" and panel.ratios[0].numerator == "CD8_T"
    assert settings.qc.min_viability == 0.8 and settings.qc.time_bins == 50
    with pytest.raises(dataclasses.FrozenInstanceError):
        panel.name = "X"
    # the strategy has every gate the panel needs, with parents as ancestors
    flow.check_strategy(flow.load_gating_ml(panel.strategy), panel)


def _copy(tmp_path, name, edit):
    data = yaml.safe_load(asset_path(f"flow/{name}").read_text())
    edit(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_subset_with_an_unknown_parent_is_refused(tmp_path):
    path = _copy(tmp_path, "subsets.yaml", lambda d: d["panels"]["PBMC16"]["subsets"][8].update(parent="CD4"))
    with pytest.raises(InputError, match=r"subsets\.yaml, field 'panels\.PBMC16\.subsets\.8\.parent': parent is not a subset"):
        flow.load_flow_settings(subsets=path)


def test_qc_threshold_out_of_range_is_refused(tmp_path):
    path = _copy(tmp_path, "qc.yaml", lambda d: d["viability"].update(min_fraction=80))
    with pytest.raises(InputError, match=r"qc\.yaml, field 'viability\.min_fraction'"):
        flow.load_flow_settings(qc=path)


def test_panel_without_a_marker_on_a_fluorescence_channel_is_refused(tmp_path):
    path = _copy(tmp_path, "panels.yaml", lambda d: d["panels"]["PBMC16"]["channels"][4].pop("marker"))
    with pytest.raises(InputError, match=r"panels\.yaml, field 'panels\.PBMC16\.channels\.4\.marker'"):
        flow.load_flow_settings(panels=path)


def test_parent_that_is_not_an_ancestor_gate_is_refused(tmp_path):
    path = _copy(tmp_path, "subsets.yaml", lambda d: d["panels"]["PBMC16"]["subsets"][8].update(parent="CD8_T"))
    panel = flow.load_flow_settings(subsets=path).panel("PBMC16")
    with pytest.raises(InputError, match="subset Treg: its parent 'CD8_T' is not an ancestor of gate 'Treg'"):
        flow.check_strategy(flow.load_gating_ml(panel.strategy), panel)
