"""One specimen at a time, against the simulator's truth: subsets, counts, QC, AnnData, bad input."""

from __future__ import annotations

import shutil

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from biomarkers.errors import InputError
from biomarkers.immune import flow
from flow_helpers import rewrite_fcs, shared_flow_trial


def _counted(result) -> pd.DataFrame:
    return result.subsets[["SUBSET", "EVENTS", "PCT_PARENT", "PCT_CD45"]]




@pytest.fixture(scope="session")
def flow_trial(tmp_path_factory):
    return shared_flow_trial(tmp_path_factory)


@pytest.fixture(scope="session")
def clean(flow_trial):
    return flow_trial.specimens.query("QC_PROBLEM.isna() and not CONTROL")


def test_every_subset_of_at_least_1pct_is_within_1_point_of_truth(flow_trial, clean):
    truth = flow_trial.truth_subsets.set_index(["SPECIMEN_ID", "SUBSET"])
    checked = 0
    for specimen in clean["SPECIMEN_ID"]:
        rows = flow_trial.results[specimen].subsets.set_index("SUBSET")
        for subset, row in rows.iterrows():
            if (specimen, subset) not in truth.index or pd.isna(row["PCT_CD45"]):
                continue
            true_pct = truth.loc[(specimen, subset), "TRUE_PCT_CD45"]
            if true_pct >= 1.0:
                assert abs(row["PCT_CD45"] - true_pct) <= 1.0, (specimen, subset, row["PCT_CD45"], true_pct)
                checked += 1
    assert checked >= 15 * len(clean)


def test_gating_error_measured_event_by_event(flow_trial, clean):
    """Per-event truth: misclassified CD8+ T and Treg events are a small share of the truth."""
    specimen = clean["SPECIMEN_ID"].iloc[0]
    events = flow_trial.truth_events(specimen)
    obs = flow_trial.results[specimen].adata.obs
    for gate, types in (("CD8_T", ["CD8_T"]), ("Treg", ["TREG"]), ("B_cells", ["B"]), ("M_MDSC", ["M_MDSC"])):
        truth = events["POPULATION"].isin(types).to_numpy()
        gated = obs[gate].to_numpy()
        assert (truth & ~gated).sum() <= 0.02 * truth.sum() + 2, gate      # missed
        assert (gated & ~truth).sum() <= 0.02 * truth.sum() + 2, gate      # wrongly included
    pd1 = (events["POPULATION"].eq("CD8_T") & events["PD1"]).to_numpy()
    assert abs(int(obs["CD8_PD1pos"].sum()) - int(pd1.sum())) <= 0.03 * pd1.sum() + 3


def test_injected_qc_problems_are_flagged_and_clean_files_are_not(flow_trial):
    status = {s: r.status for s, r in flow_trial.results.items()}
    problems = flow_trial.problems.set_index("SPECIMEN_ID")
    assert sorted(problems["PROBLEM"]) == ["CLOG", "CLOG", "LOW_EVENTS", "LOW_VIABILITY", "UNCOVERED_CHANNEL"]
    expected_check = {"CLOG": "time_stability", "LOW_EVENTS": "events_total", "LOW_VIABILITY": "viability",
                      "UNCOVERED_CHANNEL": "compensation"}
    for specimen, result in flow_trial.results.items():
        if specimen in problems.index:
            assert result.status == "FAIL", specimen
            qc = result.qc.set_index("CHECK")
            assert qc.loc[expected_check[problems.loc[specimen, "PROBLEM"]], "STATUS"] == "FAIL"
        else:
            assert result.status == "PASS", (specimen, result.qc.query("STATUS != 'PASS'").to_dict("records"))
    uncovered = problems.query("PROBLEM == 'UNCOVERED_CHANNEL'")
    detail = flow_trial.results[uncovered.index[0]].qc.set_index("CHECK").loc["compensation", "DETAIL"]
    assert uncovered["DETAIL"].iloc[0] in detail
    assert sum(v == "FAIL" for v in status.values()) == len(problems)


def test_failing_specimens_keep_their_rows_with_the_status(flow_trial):
    table = pd.read_parquet(flow_trial.collected["flow_subsets"])
    failing = flow_trial.problems["SPECIMEN_ID"]
    rows = table[table["SPECIMEN_ID"].isin(failing)]
    assert set(rows["SPECIMEN_ID"]) == set(failing)
    assert (rows["QC_STATUS"] == "FAIL").all()
    assert set(table.loc[~table["SPECIMEN_ID"].isin(failing), "QC_STATUS"]) <= {"PASS", "LOW_EVENTS"}


def test_clog_bins_are_found_where_the_gap_is(flow_trial):
    clogs = flow_trial.problems.query("PROBLEM == 'CLOG'")["SPECIMEN_ID"]
    for specimen in clogs:
        bins = flow_trial.results[specimen].time_bins
        empty = bins["EVENTS"] == 0
        assert empty.sum() >= 2 and bins.loc[empty, "RATE_UNSTABLE"].all()


def test_drop_unstable_leaves_the_clog_out_and_warns(flow_trial):
    specimen = flow_trial.problems.query("PROBLEM == 'CLOG'")["SPECIMEN_ID"].iloc[0]
    kept = flow.gate_specimen(flow_trial.fcs(specimen), specimen=specimen, drop_unstable=True)
    assert kept.status == "WARN"
    obs = kept.adata.obs
    assert not obs.loc[~obs["time_stable"], "Cells"].any()          # unstable events are not gated
    assert obs["time_stable"].mean() < 1.0
    full = flow_trial.results[specimen]
    assert kept.subsets.set_index("SUBSET").loc["CD45pos", "EVENTS"] < full.subsets.set_index("SUBSET").loc["CD45pos", "EVENTS"]


def test_cells_per_microlitre_from_beads_and_lymphocyte_counts(flow_trial, clean):
    truth = flow_trial.truth_subsets.set_index(["SPECIMEN_ID", "SUBSET"])
    methods = set()
    for specimen in clean["SPECIMEN_ID"]:
        rows = flow_trial.results[specimen].subsets.set_index("SUBSET")
        for subset in ("CD8_T", "T_cells", "NK", "B_cells", "Treg"):
            expected = truth.loc[(specimen, subset), "TRUE_CELLS_PER_UL"]
            got = rows.loc[subset, "CELLS_PER_UL"]
            methods.add(rows.loc[subset, "COUNT_METHOD"])
            assert got == pytest.approx(expected, rel=0.06, abs=3.0), (specimen, subset)
        if rows.loc["CD8_T", "COUNT_METHOD"] == "lymphocyte_count":
            assert pd.isna(rows.loc["Mono_classical", "CELLS_PER_UL"])  # not a lymphoid subset
    assert methods == {"beads", "lymphocyte_count"}


def test_ratio_and_parents(flow_trial, clean):
    rows = flow_trial.results[clean["SPECIMEN_ID"].iloc[0]].subsets.set_index("SUBSET")
    assert rows.loc["CD8_Treg_ratio", "RATIO"] == pytest.approx(rows.loc["CD8_T", "EVENTS"] / rows.loc["Treg", "EVENTS"])
    assert rows.loc["Treg", "PCT_PARENT"] == pytest.approx(100 * rows.loc["Treg", "EVENTS"] / rows.loc["CD4_T", "EVENTS"])
    assert rows.loc["CD45pos", "PCT_CD45"] == 100.0 and pd.isna(rows.loc["Live", "PCT_CD45"])


def test_anndata_holds_raw_transformed_gates_and_technical_keywords_only(flow_trial, clean):
    specimen = clean["SPECIMEN_ID"].iloc[0]
    adata = ad.read_h5ad(flow_trial.parts / f"{specimen}.flow.h5ad")
    fcs = flow.read_fcs(flow_trial.fcs(specimen))
    assert adata.shape == (fcs.event_count, 20)
    assert np.allclose(adata.X, fcs.sample.get_events(source="raw").astype(np.float32))
    assert list(adata.var["marker"][3:6]) == ["CD45", "CD8", "CD56"]
    assert adata.obs["CD8_T"].dtype == bool and adata.obs["CD8_T"].sum() == \
        flow_trial.results[specimen].subsets.set_index("SUBSET").loc["CD8_T", "EVENTS"]
    # transformed: the CD45 column is logicle of the compensated signal, in [about -0.2, 1]
    cd45 = adata.layers["transformed"][:, 3]
    assert -0.3 < cd45.min() and cd45.max() <= 1.0
    keywords = dict(zip(adata.uns["flow"]["keywords"]["name"], adata.uns["flow"]["keywords"]["value"]))
    assert "spillover" in keywords and "p4s" in keywords
    assert not {"src", "fil", "date"} & set(keywords)          # specimen IDs, file names, dates left out
    assert adata.uns["flow"]["compensation"]["spillover"].shape == (16, 16)


def test_arcsinh_layer_option(flow_trial, clean):
    specimen = clean["SPECIMEN_ID"].iloc[0]
    result = flow.gate_specimen(flow_trial.fcs(specimen), specimen=specimen, transform="arcsinh")
    default = flow_trial.results[specimen]
    assert result.adata.var["transform"].iloc[3] == "arcsinh:150"
    fcs = flow.read_fcs(flow_trial.fcs(specimen))
    comp = flow.spillover_matrix(fcs).apply(fcs.sample)
    assert np.allclose(result.adata.layers["transformed"][:, 3], np.arcsinh(comp[:, 3] / 150), atol=1e-5)
    pd.testing.assert_frame_equal(_counted(result), _counted(default))   # gates keep their own transforms


def test_compensation_csv_must_cover_the_panel(flow_trial, clean, tmp_path):
    specimen = clean["SPECIMEN_ID"].iloc[0]
    fcs = flow.read_fcs(flow_trial.fcs(specimen))
    matrix = flow.spillover_matrix(fcs)
    table = pd.DataFrame(matrix.matrix, columns=matrix.detectors)
    full = tmp_path / "full.csv"
    table.to_csv(full, index=False)
    same = flow.gate_specimen(flow_trial.fcs(specimen), specimen=specimen, compensation=full)
    pd.testing.assert_frame_equal(_counted(same), _counted(flow_trial.results[specimen]))
    partial = tmp_path / "partial.csv"
    table.drop(columns=["BV786-A"]).drop(index=table.columns.get_loc("BV786-A")).to_csv(partial, index=False)
    with pytest.raises(InputError, match=r"partial\.csv: the compensation matrix does not cover panel PBMC16 channel\(s\) BV786-A \(CD11b\)"):
        flow.gate_specimen(flow_trial.fcs(specimen), specimen=specimen, compensation=partial)
    ragged = tmp_path / "ragged.csv"
    table.iloc[:5].to_csv(ragged, index=False)
    with pytest.raises(InputError, match="must be square"):
        flow.gate_specimen(flow_trial.fcs(specimen), specimen=specimen, compensation=ragged)


def test_markers_differing_by_case_or_spacing_are_accepted_others_refused(flow_trial, clean, tmp_path):
    specimen = clean["SPECIMEN_ID"].iloc[0]
    source = flow_trial.fcs(specimen)
    spaced = tmp_path / "spaced.fcs"
    rewrite_fcs(source, spaced, markers={"CD45": "cd 45", "CD127": " Cd127"})
    result = flow.gate_specimen(spaced, specimen=specimen)
    detail = result.qc.set_index("CHECK").loc["panel", "DETAIL"]
    assert "BUV395-A: marker 'cd 45' taken as 'CD45'" in detail and "BV421-A: marker 'Cd127' taken as 'CD127'" in detail
    assert result.status == "PASS"
    pd.testing.assert_frame_equal(_counted(result), _counted(flow_trial.results[specimen]))
    other = tmp_path / "other.fcs"
    rewrite_fcs(source, other, markers={"PD-1": "PDL1"})
    with pytest.raises(InputError, match=r"other\.fcs, field 'PE-CF594-A \$PnS': channel PE-CF594-A reads marker 'PDL1'"):
        flow.gate_specimen(other, specimen=specimen)


def test_missing_panel_channel_and_bad_counts_are_refused(flow_trial, clean, tmp_path):
    specimen = clean["SPECIMEN_ID"].iloc[0]
    renamed = tmp_path / "renamed.fcs"
    rewrite_fcs(flow_trial.fcs(specimen), renamed, channels={"BV605-A": "BV610-A"})
    with pytest.raises(InputError, match=r"renamed\.fcs: panel PBMC16 channel\(s\) missing from the file: BV605-A \(CD16\)"):
        flow.gate_specimen(renamed, specimen=specimen)
    with pytest.raises(InputError, match="field 'beads_acquired': must be a positive number"):
        flow.AbsoluteCounts(beads_per_test=50000, beads_acquired=0, volume_ul=50)
    with pytest.raises(InputError, match="missing volume_ul"):
        flow.AbsoluteCounts(beads_per_test=50000, beads_acquired=1000)
    with pytest.raises(InputError, match="unknown flow panel"):
        flow.gate_specimen(flow_trial.fcs(specimen), specimen=specimen, panel="TBNK6")


def test_collect_writes_tables_drift_and_gating_figures(flow_trial):
    out = flow_trial.collected
    qc = pd.read_parquet(out["flow_qc"])
    assert set(qc["CHECK"]) == {"read", "panel", "compensation", "events_total", "events_leukocytes", "debris",
                                "doublets", "viability", "time_stability", "specimen"}
    assert len(qc) == 10 * len(flow_trial.specimens)
    drift = pd.read_parquet(out["flow_drift"])
    drifting = flow_trial.specimens.query("DRIFT")["SPECIMEN_ID"]
    flagged = drift[drift["DRIFT"]]
    assert len(drifting) == 1 and set(flagged["SPECIMEN_ID"]) == set(drifting)
    assert "CD8_T" in set(flagged["SUBSET"])
    figures = [k for k in out if k.startswith("gating_")]
    failing = set(flow_trial.problems["SPECIMEN_ID"])
    assert {k.rsplit("_", 1)[-1] for k in figures} >= failing and len(figures) == len(failing) + 1
    assert all(out[k].stat().st_size > 20000 for k in figures)


def test_collect_refuses_duplicates_and_missing_parts(flow_trial, tmp_path):
    part = next(flow_trial.parts.glob("*.flow_subsets.parquet"))
    lonely = tmp_path / part.name
    shutil.copy(part, lonely)
    with pytest.raises(InputError, match="flow part file not found"):
        flow.collect([lonely], tmp_path / "out")
    with pytest.raises(InputError, match="not a flow part file"):
        flow.collect([tmp_path / "x.parquet"], tmp_path / "out")
