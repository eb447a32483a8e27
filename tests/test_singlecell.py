"""Single-cell RNA (issue 10): readers on real 10x files, bad input, marker annotation of real
PBMCs (pbmc68k_reduced), and recovery of the simulated trial's per-cell truth."""

from __future__ import annotations

import gzip
import importlib.metadata
import json
import shutil
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score

from biomarkers.errors import InputError
from biomarkers.singlecell import (
    QC_NO_CELLS, UNASSIGNED, annotate, annotate_specimen, cluster, load_markers, load_settings, read_counts, write_h5ad,
)

from singlecell_helpers import cell_truth, simulate_sc_trial

TENX = "scrna/10x"

# --- real 10x files ---------------------------------------------------------------

LAYOUTS = {
    "1.2.0/filtered_gene_bc_matrices_h5.h5": (12, 343),
    "1.2.0/filtered_gene_bc_matrices/hg19_chr21": (12, 343),
    "1.2.0/filtered_gene_bc_matrices": (12, 343),  # the folder above its one genome folder
    "3.0.0/filtered_feature_bc_matrix.h5": (1107, 507),
    "3.0.0/filtered_feature_bc_matrix": (1107, 507),
}


@pytest.mark.real_data
@pytest.mark.parametrize("relative", sorted(LAYOUTS))
def test_real_10x_files_read_as_cells_by_genes(real_data, relative):
    path = real_data(f"{TENX}/{relative}")
    adata = read_counts(path)
    assert adata.shape == LAYOUTS[relative]
    # independently: scanpy's own readers give the same matrix
    if path.suffix == ".h5":
        ref = sc.read_10x_h5(path)
    else:
        folder = path if (path / "barcodes.tsv").exists() or (path / "barcodes.tsv.gz").exists() else path / "hg19_chr21"
        ref = sc.read_10x_mtx(folder, var_names="gene_symbols", make_unique=True)
    assert list(adata.obs_names) == list(ref.obs_names)
    assert list(adata.var["gene_ids"]) == list(ref.var["gene_ids"])
    assert (adata.X != ref.X).nnz == 0


@pytest.mark.real_data
def test_real_h5_and_mtx_agree_and_shape_is_the_files_own(real_data):
    h5 = real_data(f"{TENX}/3.0.0/filtered_feature_bc_matrix.h5")
    with h5py.File(h5) as handle:
        n_genes, n_cells = handle["matrix/shape"][()]
    with gzip.open(real_data(f"{TENX}/3.0.0/filtered_feature_bc_matrix/matrix.mtx.gz"), "rt") as handle:
        header = next(line for line in handle if not line.startswith("%"))
    assert [int(v) for v in header.split()[:2]] == [n_genes, n_cells]
    a, b = read_counts(h5), read_counts(real_data(f"{TENX}/3.0.0/filtered_feature_bc_matrix"))
    assert a.shape == (n_cells, n_genes) and (a.X != b.X).nnz == 0


@pytest.mark.real_data
def test_specimen_with_no_cell_after_qc_is_reported_not_fatal(real_data):
    # the 1.2 subset has one count per cell: nothing passes min_genes
    result = annotate_specimen(real_data(f"{TENX}/1.2.0/filtered_gene_bc_matrices_h5.h5"), compartment="pbmc",
                               subject="S-001", specimen="SC-0001", timepoint="BASELINE", studyid="STUDY")
    assert result.status == QC_NO_CELLS and result.adata.n_obs == 0
    steps = result.qc.set_index("STEP")
    assert steps.at["input", "CELLS_AFTER"] == 12 and steps.at["min_genes", "CELLS_AFTER"] == 0
    assert (result.composition["CELLS"] == 0).all() and result.summary["QC"].iloc[0] == QC_NO_CELLS


# --- bad input --------------------------------------------------------------------

def _mtx_folder(tmp_path: Path, *, genes: list[str], barcodes: list[str], dense: np.ndarray) -> Path:
    folder = tmp_path / "mtx"
    folder.mkdir()
    sp_mat = sp.coo_matrix(dense.T)  # genes x cells
    import scipy.io

    scipy.io.mmwrite(str(folder / "matrix.mtx"), sp_mat, field="integer" if np.issubdtype(dense.dtype, np.integer) else "real")
    (folder / "features.tsv").write_text("".join(f"ENSG{i:05d}\t{g}\tGene Expression\n" for i, g in enumerate(genes)))
    (folder / "barcodes.tsv").write_text("".join(f"{b}\n" for b in barcodes))
    return folder


def test_features_file_and_matrix_disagree(tmp_path):
    folder = _mtx_folder(tmp_path, genes=["A", "B", "C"], barcodes=["AC-1", "GT-1"], dense=np.ones((2, 3), dtype=int))
    (folder / "features.tsv").write_text("ENSG1\tA\tGene Expression\nENSG2\tB\tGene Expression\n")
    with pytest.raises(InputError, match=r"3 rows \(genes\) but features.tsv has 2 lines"):
        read_counts(folder)


def test_barcodes_and_matrix_disagree_in_h5(tmp_path):
    from biomarkers.simulate._singlecell import write_10x_h5

    path = write_10x_h5(tmp_path / "m.h5", sp.csr_matrix(np.ones((2, 3))), np.array(["AC-1", "GT-1"]),
                        np.array(["G1", "G2", "G3"]), np.array(["A", "B", "C"]))
    with h5py.File(path, "a") as h5:
        del h5["matrix/barcodes"]
        h5["matrix/barcodes"] = np.array([b"AC-1"])
    with pytest.raises(InputError, match="2 barcodes but the barcodes list has 1"):
        read_counts(path)


def test_duplicated_barcodes_and_genes_made_unique_and_reported(tmp_path):
    folder = _mtx_folder(tmp_path, genes=["CD3D", "CD3D", "MS4A1"], barcodes=["AC-1", "AC-1", "GT-1"],
                         dense=np.arange(9).reshape(3, 3))
    adata = read_counts(folder)
    assert list(adata.var_names) == ["CD3D", "CD3D-1", "MS4A1"]
    assert list(adata.obs_names) == ["AC-1", "AC-1-1", "GT-1"]
    notes = " ".join(adata.uns["biomarkers"]["input_notes"])
    assert "1 duplicated barcodes made unique" in notes and "1 duplicated gene symbols" in notes and "CD3D" in notes


@pytest.mark.parametrize("values, message", [
    (np.log1p(np.arange(12, dtype=float).reshape(4, 3)), "non-integer values"),
    (np.arange(12, dtype=float).reshape(4, 3) - 3, "negative values"),
])
def test_normalized_h5ad_is_refused(tmp_path, values, message):
    path = tmp_path / "norm.h5ad"
    ad.AnnData(X=values.astype(np.float32), obs=pd.DataFrame(index=[f"c{i}" for i in range(4)]),
               var=pd.DataFrame(index=["A", "B", "C"])).write_h5ad(path)
    with pytest.raises(InputError, match=message) as info:
        read_counts(path)
    assert "norm.h5ad" in str(info.value) and "field 'X'" in str(info.value)


def test_not_a_matrix(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(InputError, match="not a count matrix"):
        read_counts(tmp_path / "x.txt")
    (tmp_path / "y.h5").write_text("not hdf5")
    with pytest.raises(InputError, match="not a readable HDF5"):
        read_counts(tmp_path / "y.h5")


def test_processing_file_errors_name_the_field(tmp_path):
    text = Path(load_settings().source).read_text() if Path(load_settings().source).exists() else None
    from biomarkers.assets import asset_path

    text = asset_path("singlecell/processing.yaml").read_text().replace("max_mito_fraction: 0.15", "max_mito_fraction: 1.5")
    bad = tmp_path / "processing.yaml"
    bad.write_text(text)
    with pytest.raises(InputError, match="qc.pbmc.max_mito_fraction"):
        load_settings(bad)


def test_marker_sets_cite_their_sources():
    panels = load_markers()
    for panel in panels.values():
        for item in (*panel.cell_types, *panel.states):
            assert item.sources and all(panel.references[s].count("doi:10.") == 1 for s in item.sources)
    assert {"CD4_T", "CD8_T", "TREG", "NK", "B", "PLASMA", "MONO_CLASSICAL", "MONO_NONCLASSICAL", "DC",
            "PLATELET"} <= set(panels["pbmc"].ids)
    assert {"EPITHELIAL", "FIBROBLAST", "ENDOTHELIAL", "CD8_T", "CD4_T", "TREG", "NK", "B", "PLASMA", "MACROPHAGE",
            "MONOCYTE", "DC", "MAST"} == set(panels["tumor"].ids)
    assert [s.parent for s in panels["tumor"].states] == ["CD8_T"]


# --- real PBMCs: pbmc68k_reduced ----------------------------------------------------

# bulk_labels (Zheng et al. 2017, from correlation with sorted populations) collapsed to
# the seven groups; ours collapse the same way (Treg into CD4 T, plasma into B as
# the bulk labels do, both monocyte subsets into monocyte).
BULK_TO_GROUP = {
    "CD4+/CD25 T Reg": "CD4 T", "CD4+/CD45RO+ Memory": "CD4 T", "CD4+/CD45RA+/CD25- Naive T": "CD4 T",
    "CD8+ Cytotoxic T": "CD8 T", "CD8+/CD45RA+ Naive Cytotoxic": "CD8 T", "CD56+ NK": "NK", "CD19+ B": "B",
    "CD14+ Monocyte": "monocyte", "Dendritic": "dendritic", "CD34+": "progenitor",
}
OURS_TO_GROUP = {
    "CD4_T": "CD4 T", "TREG": "CD4 T", "CD8_T": "CD8 T", "NK": "NK", "B": "B", "PLASMA": "B", "MONO_CLASSICAL": "monocyte",
    "MONO_NONCLASSICAL": "monocyte", "DC": "dendritic", "PROGENITOR": "progenitor", "PLATELET": "platelet",
    UNASSIGNED: "unassigned",
}


@pytest.fixture(scope="session")
def pbmc68k():
    ref = sc.datasets.pbmc68k_reduced()
    # its .raw holds log-normalized values of 765 genes (no counts): cluster and annotate those
    adata = ad.AnnData(X=sp.csr_matrix(ref.raw.X), obs=ref.obs[["bulk_labels"]].copy(), var=pd.DataFrame(index=ref.raw.var_names))
    settings = load_settings()
    cluster(adata, settings=settings.processing)
    report, table = annotate(adata, panel=load_markers()["pbmc"], settings=settings)
    return adata, report, table


def test_pbmc68k_marker_annotation_agrees_with_bulk_labels(pbmc68k):
    adata, _, _ = pbmc68k
    truth = adata.obs["bulk_labels"].map(BULK_TO_GROUP).astype(str)
    ours = adata.obs["cell_type"].astype(str).map(OURS_TO_GROUP)
    assert ours.notna().all()
    ari = adjusted_rand_score(truth, ours)
    assert ari >= 0.60, ari
    # and the confidence is a probability, higher for cells whose own best set is their cluster's
    conf = adata.obs["cell_type_confidence"].dropna()
    assert ((conf > 0) & (conf <= 1)).all()


def test_marker_sets_with_absent_genes_are_reported_and_not_scored(pbmc68k):
    adata, report, _ = pbmc68k
    rows = report.set_index("SET")
    # the 765 genes hold neither FOXP3 nor IL2RA nor CTLA4: Treg is not scored, and said so
    assert not rows.at["TREG", "SCORED"] and "FOXP3" in rows.at["TREG", "MISSING"].split(",")
    assert rows.at["PLATELET", "N_PRESENT"] == 0 and not rows.at["PLATELET", "SCORED"]
    assert rows.at["B", "SCORED"] and "score_B" in adata.obs and "score_TREG" not in adata.obs
    assert "TREG" not in set(adata.obs["cell_type"].astype(str))


# --- simulated trial ----------------------------------------------------------------

@pytest.fixture(scope="session")
def sc_trial(tmp_path_factory):
    return simulate_sc_trial(tmp_path_factory.mktemp("sc_trial"))


def _pick(trial, compartment: str, n: int) -> list[pd.Series]:
    comps = trial.truth["singlecell_compositions"]
    ids = comps.loc[comps["COMPARTMENT"] == compartment, "SPECIMEN_ID"].drop_duplicates().tolist()[:n]
    return [comps[comps["SPECIMEN_ID"] == i].iloc[0] for i in ids]


@pytest.fixture(scope="session")
def sc_results(sc_trial):
    out = {}
    for row in _pick(sc_trial, "pbmc", 2) + _pick(sc_trial, "tumor", 2):
        path = sc_trial.outdir / "scrna" / row.SPECIMEN_ID / "filtered_feature_bc_matrix.h5"
        out[row.SPECIMEN_ID] = annotate_specimen(path, compartment=row.COMPARTMENT, subject=row.USUBJID,
                                                 specimen=row.SPECIMEN_ID, timepoint=row.TIMEPOINT, studyid="STUDY")
    return out


def test_simulated_matrix_reads_the_same_with_scanpy(sc_trial):
    row = _pick(sc_trial, "tumor", 1)[0]
    path = sc_trial.outdir / "scrna" / row.SPECIMEN_ID / "filtered_feature_bc_matrix.h5"
    ours, theirs = read_counts(path), sc.read_10x_h5(path)
    assert ours.shape == theirs.shape == (row.N_DROPLETS, ours.n_vars)
    assert (ours.X != theirs.X).nnz == 0
    assert ours.var_names.str.startswith("MT-").sum() == 13


def test_simulated_cell_types_recovered(sc_trial, sc_results):
    for specimen, result in sc_results.items():
        truth = cell_truth(sc_trial, specimen).loc[result.adata.obs_names]
        ari = adjusted_rand_score(truth["cell_type"], result.adata.obs["cell_type"].astype(str))
        assert ari >= 0.85, (specimen, ari)


def test_simulated_compositions_within_two_points(sc_trial, sc_results):
    comps = sc_trial.truth["singlecell_compositions"]
    checked = 0
    for specimen, result in sc_results.items():
        truth = comps[comps["SPECIMEN_ID"] == specimen].set_index("CELL_TYPE")
        ours = result.composition.set_index("CELL_TYPE")
        big = truth.index[truth["FRACTION"] >= 0.05]
        diff = (ours.loc[big, "FRACTION"] - truth.loc[big, "FRACTION"]).abs() * 100
        assert (diff <= 2.0).all(), (specimen, diff[diff > 2.0].to_dict())
        checked += len(big)
        if "CD8_T" in truth.index and truth.at["CD8_T", "CELLS"] >= 20:
            exhausted = result.summary["CD8_EXHAUSTED_FRACTION"].iloc[0]
            assert abs(exhausted - truth.at["CD8_T", "EXHAUSTED_FRACTION_OF_CD8"]) <= 0.10, specimen
    assert checked >= 20


def test_simulated_doublets_found(sc_trial, sc_results):
    """Documented sensitivity (docs/single-cell.md): Scrublet finds most heterotypic doublets, few singlets."""
    found = total = heterotypic_found = heterotypic = false_calls = singlets = 0
    for specimen, result in sc_results.items():
        truth = cell_truth(sc_trial, specimen)
        removed = result.adata.uns["biomarkers"]["qc_removed"]
        called = set(removed.loc[removed["reason"] == "doublets", "barcode"])
        # doublets that reach the doublet step (not already removed by the count/gene filters)
        reached = set(result.adata.obs_names) | called
        d = truth[truth["doublet"] & truth.index.isin(reached)]
        het = d[d["first_type"] != d["partner_type"]]
        found += d.index.isin(called).sum()
        total += len(d)
        heterotypic_found += het.index.isin(called).sum()
        heterotypic += len(het)
        s = truth[~truth["doublet"] & truth.index.isin(reached)]
        false_calls += s.index.isin(called).sum()
        singlets += len(s)
    assert total >= 50
    assert found / total >= 0.30, found / total
    assert heterotypic_found / heterotypic >= 0.40, heterotypic_found / heterotypic
    assert false_calls / singlets <= 0.01, false_calls / singlets


def test_damaged_cells_removed_by_qc(sc_trial, sc_results):
    for specimen, result in sc_results.items():
        truth = cell_truth(sc_trial, specimen)
        damaged = truth.index[truth["damaged"]]
        assert not set(damaged) & set(result.adata.obs_names)
        steps = result.qc.set_index("STEP")
        assert steps["CELLS_REMOVED"].sum() == len(truth) - result.adata.n_obs
        assert steps.at["input", "CELLS_BEFORE"] == len(truth)


def test_rerun_is_identical(sc_trial, sc_results):
    specimen, first = next(iter(sc_results.items()))
    row = sc_trial.truth["singlecell_compositions"].query("SPECIMEN_ID == @specimen").iloc[0]
    again = annotate_specimen(sc_trial.outdir / "scrna" / specimen / "filtered_feature_bc_matrix.h5",
                              compartment=row.COMPARTMENT, subject=row.USUBJID, specimen=specimen,
                              timepoint=row.TIMEPOINT, studyid="STUDY")
    pd.testing.assert_frame_equal(first.adata.obs, again.adata.obs)
    np.testing.assert_array_equal(first.adata.obsm["X_umap"], again.adata.obsm["X_umap"])
    pd.testing.assert_frame_equal(first.composition, again.composition)


def test_h5ad_keeps_counts_labels_and_provenance(sc_trial, sc_results, tmp_path):
    specimen, result = next(iter(sc_results.items()))
    path = write_h5ad(result, tmp_path / f"{specimen}.h5ad")
    back = ad.read_h5ad(path)
    raw = read_counts(sc_trial.outdir / "scrna" / specimen / "filtered_feature_bc_matrix.h5")
    raw = raw[back.obs_names, back.var_names]
    assert (back.layers["counts"] != raw.X).nnz == 0
    for col in ("cell_type", "cell_type_confidence", "cell_state", "leiden", "doublet_score", "mito_fraction", "n_genes"):
        assert col in back.obs
    uns = back.uns["biomarkers"]
    assert uns["parameters"]["processing"]["seed"] == 0 and uns["versions"]["scanpy"] == importlib.metadata.version("scanpy")
    assert uns["specimen"] == specimen and "X_umap" in back.obsm
    # the written file is a valid input again (counts from layers['counts'])
    assert read_counts(path).shape == back.shape


def test_reference_labels_transfer(sc_trial, sc_results, tmp_path):
    (ref_id, ref_result), (query_id, query_result) = [(k, v) for k, v in sc_results.items()
                                                       if v.adata.uns["biomarkers"]["compartment"] == "pbmc"][:2]
    truth = cell_truth(sc_trial, ref_id).loc[ref_result.adata.obs_names]
    reference = ad.AnnData(X=ref_result.adata.layers["counts"].copy(), obs=pd.DataFrame({"cell_type": truth["cell_type"].to_numpy()},
                           index=ref_result.adata.obs_names), var=pd.DataFrame(index=ref_result.adata.var_names))
    reference.write_h5ad(tmp_path / "reference.h5ad")
    row = sc_trial.truth["singlecell_compositions"].query("SPECIMEN_ID == @query_id").iloc[0]
    result = annotate_specimen(sc_trial.outdir / "scrna" / query_id / "filtered_feature_bc_matrix.h5", compartment="pbmc",
                               subject=row.USUBJID, specimen=query_id, studyid="STUDY", reference=tmp_path / "reference.h5ad")
    q_truth = cell_truth(sc_trial, query_id).loc[result.adata.obs_names]
    assert adjusted_rand_score(q_truth["cell_type"], result.adata.obs["reference_label"]) >= 0.85
    assert (result.adata.obs["cell_type"].astype(str) == result.adata.obs["reference_label"]).all()
    assert result.adata.uns["biomarkers"]["annotation"] == "reference"


def test_reference_without_label_column_is_refused(tmp_path, sc_results):
    result = next(iter(sc_results.values()))
    ad.AnnData(X=result.adata.layers["counts"][:30].copy(), var=pd.DataFrame(index=result.adata.var_names)).write_h5ad(tmp_path / "r.h5ad")
    from biomarkers.singlecell import read_reference

    with pytest.raises(InputError, match="no label column"):
        read_reference(tmp_path / "r.h5ad", settings=load_settings().annotation.reference)


def test_composition_rows_and_biomarkers(sc_results):
    for result in sc_results.values():
        comp = result.composition
        top = comp[comp["PARENT_TYPE"].isna()]
        assert top["FRACTION"].sum() == pytest.approx(1.0)
        assert top["CELLS"].sum() == result.adata.n_obs
        s = result.summary.iloc[0]
        cd8 = top.set_index("CELL_TYPE").at["CD8_T", "CELLS"]
        treg = top.set_index("CELL_TYPE").at["TREG", "CELLS"]
        if treg:
            assert s["CD8_TREG_RATIO"] == pytest.approx(cd8 / treg)
        else:  # no Treg found: the ratio is missing, not infinite
            assert np.isnan(s["CD8_TREG_RATIO"])
        if s["COMPARTMENT"] == "tumor":
            immune = top[top["IMMUNE"].eq(True)]
            assert immune["FRACTION_OF_IMMUNE"].sum() == pytest.approx(1.0)
            assert s["CD8_T_FRACTION"] == pytest.approx(cd8 / immune["CELLS"].sum())


def test_simulated_compositions_follow_the_recorded_model(sc_trial):
    comps = sc_trial.truth["singlecell_compositions"]
    subjects = sc_trial.truth["subjects"].set_index("USUBJID")
    # the latent score is the trial's, not a stand-in
    model = json.loads((sc_trial.outdir / "truth" / "singlecell" / "model.json").read_text())
    assert model["immune_score_source"] == "trial truth (IMMUNE_SCORE)"
    for subject, score in comps.groupby("USUBJID")["IMMUNE_SCORE"].first().items():
        assert score == pytest.approx(subjects.at[subject, "IMMUNE_SCORE"], abs=1e-6)
    # on treatment, the expected CD8 T share of PBMC rises (model: +0.25 log ratio, Treg -0.20)
    pbmc = comps[(comps["COMPARTMENT"] == "pbmc") & (comps["CELL_TYPE"] == "CD8_T")].pivot(
        index="USUBJID", columns="TIMEPOINT", values="EXPECTED_FRACTION").dropna()
    assert len(pbmc) and (pbmc["C2D1"] > pbmc["BASELINE"]).all()
    # realized fractions are counts over singlet, undamaged droplets
    for specimen, group in comps.groupby("SPECIMEN_ID"):
        truth = cell_truth(sc_trial, specimen)
        good = truth[~truth["doublet"] & ~truth["damaged"]]
        assert group["CELLS"].sum() == len(good)
        assert group["N_DOUBLETS"].iloc[0] == truth["doublet"].sum() > 0


def test_parts_and_collect(sc_trial, sc_results, tmp_path):
    from biomarkers.singlecell import collect, write_parts

    parts = []
    for specimen, result in sc_results.items():
        parts += write_parts(result, tmp_path / "parts", specimen)
    assert len(parts) == 4 * len(sc_results)
    out = collect(parts, tmp_path / "results", subjects=sc_trial.subjects)
    pbmc = pd.read_parquet(out["pbmc_sc_composition"])
    tme = pd.read_parquet(out["sc_composition"])
    assert out["pbmc_sc_composition"] == tmp_path / "results" / "immune" / "pbmc_sc_composition.parquet"
    assert out["sc_composition"] == tmp_path / "results" / "tme" / "sc_composition.parquet"
    assert set(pbmc["COMPARTMENT"]) == {"pbmc"} and set(tme["COMPARTMENT"]) == {"tumor"}
    for specimen, result in sc_results.items():
        table = pbmc if result.adata.uns["biomarkers"]["compartment"] == "pbmc" else tme
        rows = table[table["SPECIMEN_ID"] == specimen].set_index("CELL_TYPE")["CELLS"]
        assert rows.to_dict() == result.composition.set_index("CELL_TYPE")["CELLS"].to_dict()
        folder = "immune/pbmc_sc" if table is pbmc else "tme/sc"
        assert (tmp_path / "results" / folder / f"{specimen}.h5ad").exists()
    summary = pd.read_parquet(out["sc_summary"])
    assert summary["QC"].eq("PASS").all() and summary["CD8_T_FRACTION"].between(0, 1).all()
    qc = pd.read_parquet(out["pbmc_sc_qc"])
    assert list(qc.groupby("SPECIMEN_ID")["STEP"].apply(list).iloc[0]) == ["input", "min_genes", "max_genes", "min_counts",
                                                                          "max_mito_fraction", "doublets"]
    pngs = sorted(p.name for p in (tmp_path / "results").rglob("*.png"))
    assert "pbmc_sc_composition.png" in pngs and "sc_composition.png" in pngs
    assert any(name.startswith("pbmc_sc_umap_") for name in pngs) and any(name.startswith("sc_umap_") for name in pngs)
    # a part file of another kind is refused
    (tmp_path / "x.parquet").write_bytes(b"")
    with pytest.raises(InputError, match="not a single-cell part file"):
        collect([tmp_path / "x.parquet"], tmp_path / "results2")


def test_cli_annotate_and_collect(sc_trial, tmp_path, cli):
    row = _pick(sc_trial, "tumor", 1)[0]
    counts = sc_trial.outdir / "scrna" / row.SPECIMEN_ID / "filtered_feature_bc_matrix.h5"
    done = cli("singlecell", "annotate", "--counts", str(counts), "--compartment", "tumor", "--subject", row.USUBJID,
               "--specimen", row.SPECIMEN_ID, "--timepoint", row.TIMEPOINT, "--outdir", str(tmp_path / "parts"))
    assert done.returncode == 0, done.stderr
    parts = sorted((tmp_path / "parts").iterdir())
    assert [p.name.removeprefix(row.SPECIMEN_ID) for p in parts] == [".sc.h5ad", ".sc_composition.parquet",
                                                                     ".sc_qc.parquet", ".sc_summary.parquet"]
    done = cli("singlecell", "collect", "--outdir", str(tmp_path / "results"), "--subjects",
               str(sc_trial.outdir / "subjects.csv"), *map(str, parts))
    assert done.returncode == 0, done.stderr
    summary = pd.read_parquet(tmp_path / "results" / "tme" / "sc_summary.parquet")
    assert summary["SPECIMEN_ID"].tolist() == [row.SPECIMEN_ID] and summary["STUDYID"].iloc[0] == "NCT07007182"
    # bad input: one line, exit 2, nothing written
    bad = tmp_path / "norm.h5ad"
    ad.AnnData(X=np.full((3, 2), 0.5, dtype=np.float32)).write_h5ad(bad)
    done = cli("singlecell", "annotate", "--counts", str(bad), "--compartment", "pbmc", "--subject", "S", "--specimen",
               "SP-BAD1", "--timepoint", "BASELINE", "--outdir", str(tmp_path / "bad"))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "non-integer" in done.stderr
    assert not (tmp_path / "bad").exists()


def test_report_section_shows_the_qc_funnel(sc_trial, sc_results, tmp_path):
    from biomarkers.report._context import ReportContext
    from biomarkers.report._singlecell import singlecell_section
    from biomarkers.singlecell import collect, write_parts

    parts = [p for specimen, result in sc_results.items() for p in write_parts(result, tmp_path / "parts", specimen)]
    collect(parts, tmp_path / "results", subjects=sc_trial.subjects, plots=False)
    from biomarkers.protocol import load_protocol

    html_text = singlecell_section(ReportContext(results=tmp_path / "results", protocol=load_protocol()))
    assert "PBMC (blood): 2 specimens" in html_text and "Tumour: 2 specimens" in html_text
    assert "max_mito_fraction" in html_text and "CD8_TREG_RATIO" in html_text
    assert singlecell_section(ReportContext(results=tmp_path / "empty", protocol=load_protocol())) is None


def test_run_takes_the_users_reference_markers_and_settings(sc_trial, sc_results, tmp_path):
    """`biomarkers run --singlecell_reference/--singlecell_markers/--singlecell_settings` reach the step
    (and Nextflow's SINGLECELL task) and are recorded as inputs with their SHA-256."""
    import csv
    import hashlib
    import shutil

    from biomarkers.cli import main

    (ref_id, ref_result), (query_id, _) = [(k, v) for k, v in sc_results.items()
                                           if v.adata.uns["biomarkers"]["compartment"] == "pbmc"][:2]
    truth = cell_truth(sc_trial, ref_id).loc[ref_result.adata.obs_names]
    reference = ad.AnnData(X=ref_result.adata.layers["counts"].copy(),
                           obs=pd.DataFrame({"cell_type": truth["cell_type"].to_numpy()}, index=ref_result.adata.obs_names),
                           var=pd.DataFrame(index=ref_result.adata.var_names))
    reference.write_h5ad(tmp_path / "reference.h5ad")
    from biomarkers.assets import asset_path

    shutil.copy(asset_path("singlecell/markers.yaml"), tmp_path / "markers.yaml")
    shutil.copy(asset_path("singlecell/processing.yaml"), tmp_path / "processing.yaml")
    row = sc_trial.truth["singlecell_compositions"].query("SPECIMEN_ID == @query_id").iloc[0]
    sheet = tmp_path / "samplesheet.csv"
    with open(sheet, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["subject", "specimen", "timepoint", "specimen_type", "assay", "file"])
        writer.writeheader()
        writer.writerow({"subject": row.USUBJID, "specimen": query_id, "timepoint": row.TIMEPOINT, "specimen_type": "PBMC",
                         "assay": "scrna_pbmc",
                         "file": str(sc_trial.outdir / "scrna" / query_id / "filtered_feature_bc_matrix.h5")})
    out = tmp_path / "out"
    assert main(["--log-level", "WARNING", "run", "--input", str(sheet), "--outdir", str(out), "--only", "singlecell",
                 "--singlecell_reference", str(tmp_path / "reference.h5ad"), "--singlecell_markers",
                 str(tmp_path / "markers.yaml"), "--singlecell_settings", str(tmp_path / "processing.yaml")]) == 0
    adata = ad.read_h5ad(out / "immune" / "pbmc_sc" / f"{query_id}.h5ad")
    assert adata.uns["biomarkers"]["annotation"] == "reference"
    q_truth = cell_truth(sc_trial, query_id).loc[adata.obs_names]
    assert adjusted_rand_score(q_truth["cell_type"], adata.obs["cell_type"].astype(str)) >= 0.85
    inputs = pd.read_parquet(out / "pipeline_info" / "inputs.parquet").set_index("ROLE")
    for role, name in (("singlecell_reference", "reference.h5ad"), ("singlecell_markers", "markers.yaml"),
                       ("singlecell_settings", "processing.yaml")):
        assert inputs.loc[role, "SHA256"] == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
