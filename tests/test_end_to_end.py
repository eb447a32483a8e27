"""End to end: ``biomarkers demo`` (the README's first command) on a small simulated trial.

Runs the CLI twice into two folders (with --cpus 1, then --cpus 2) and checks that
every step ran, every published table exists and agrees with the simulated truth where
the truth is exact, that the two runs are byte-identical, and that no direct identifier reaches an output or the log.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from biomarkers.schemas import TABLES, read_table

SUBJECTS = 6
EXPECTED_TABLES = [
    "custody/specimens.parquet", "custody/events.parquet", "custody/lineage.parquet",
    "custody/issues.parquet", "custody/completeness.parquet",
    "genomics/tmb.parquet", "genomics/tmb_variants",
    "genomics/msi.parquet", "genomics/msi_sites",
    "analysis/subjects.parquet", "analysis/biomarkers_long.parquet",
    "analysis/associations.parquet", "analysis/analysis_wide.parquet",
    "pipeline_info/inputs.parquet",
    "immune/pbmc_sc_summary.parquet", "immune/pbmc_sc_composition.parquet", "immune/pbmc_sc_qc.parquet",
    "tme/sc_summary.parquet", "tme/sc_composition.parquet", "tme/sc_qc.parquet", "tme/signatures.parquet",
    "immune/flow_subsets.parquet", "immune/flow_qc.parquet", "immune/flow_drift.parquet",
]


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    from conftest import run_cli

    # Both runs write to the same path (paths are inputs too: they are recorded in
    # pipeline_info); the first run's folder is moved aside before the second.
    base = tmp_path_factory.mktemp("demo")
    outdir = base / "results"
    runs = []
    # The first run's per-specimen tasks run in this process, the second's in two worker
    # processes (--cpus): the outputs must not depend on it.
    for name, cpus in (("first", "1"), ("second", "2")):
        proc = run_cli("demo", "--outdir", str(outdir), "--subjects", str(SUBJECTS), "--seed", "3", "--cpus", cpus)
        assert proc.returncode == 0, proc.stderr[-2000:]
        kept = base / name
        outdir.rename(kept)
        runs.append((kept, proc))
    return runs


def _outputs(outdir: Path) -> dict[str, str]:
    """Every file the pipeline wrote (not the simulated inputs), with its SHA-256."""
    files = {}
    for path in sorted(outdir.rglob("*")):
        rel = path.relative_to(outdir).as_posix()
        if path.is_file() and not rel.startswith("simulated_trial/"):
            files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def test_every_step_runs_and_publishes_its_tables(demo_runs):
    outdir, proc = demo_runs[0]
    for step in ("custody", "tmb", "msi", "singlecell", "flow", "tme", "analysis", "report"):
        assert re.search(rf"^\s*{step}: done$", proc.stdout, re.M), proc.stdout
    for rel in EXPECTED_TABLES:
        # a partitioned dataset (no .parquet suffix) is a folder of one file per specimen
        assert (outdir / rel).is_file() if rel.endswith(".parquet") else (outdir / rel).is_dir(), rel
    html = (outdir / "report" / "index.html").read_text()
    assert "<img" in html and "exploratory" in html.lower()


def test_published_tables_follow_the_registry(demo_runs):
    outdir, _ = demo_runs[0]
    for rel in EXPECTED_TABLES:
        frame = read_table(outdir / rel)
        declared = [t for t in TABLES.values() if t.path == rel]
        assert len(declared) == 1, rel
        assert list(frame.columns) == [c.name for c in declared[0].columns], rel


def test_results_agree_with_the_simulated_truth(demo_runs):
    outdir, _ = demo_runs[0]
    truth_dir = outdir / "simulated_trial" / "truth"
    tmb = read_table(outdir / "genomics" / "tmb.parquet").set_index("SPECIMEN_ID")
    tmb_truth = pd.read_csv(truth_dir / "tmb.csv").set_index("SPECIMEN_ID")
    assert set(tmb.index) == set(tmb_truth.index) and len(tmb) >= SUBJECTS
    for column in ("CALLABLE_BASES", "N_COUNTED"):
        assert (tmb.loc[tmb_truth.index, column] == tmb_truth[column]).all(), column
    msi = read_table(outdir / "genomics" / "msi.parquet").set_index("SPECIMEN_ID")
    msi_truth = pd.read_csv(truth_dir / "msi.csv").set_index("SPECIMEN_ID")
    assert (msi.loc[msi_truth.index, "MSI_STATUS"] == msi_truth["STATUS"]).all()
    # MSI-H is an exclusion criterion: every MSI-H specimen is flagged
    assert (msi["MSI_STATUS"] == "MSI-H").sum() == (msi_truth["STATUS"] == "MSI-H").sum()
    # single-cell: one summary row per simulated specimen, in its compartment's table
    sc_truth = pd.read_csv(truth_dir / "singlecell" / "compositions.csv")
    for table, compartment in (("immune/pbmc_sc_summary.parquet", "pbmc"), ("tme/sc_summary.parquet", "tumor")):
        summary = read_table(outdir / table)
        assert set(summary["SPECIMEN_ID"]) == set(sc_truth.loc[sc_truth["COMPARTMENT"] == compartment, "SPECIMEN_ID"]) != set()
    # flow: every simulated FCS file gated, exactly the injected QC problems failing, its biomarkers analysed
    flow_truth = pd.read_csv(truth_dir / "flow" / "specimens.csv")
    flow_qc = read_table(outdir / "immune" / "flow_qc.parquet")
    status = flow_qc[flow_qc["CHECK"] == "specimen"].set_index("SPECIMEN_ID")["STATUS"]
    assert set(status.index) == set(flow_truth["SPECIMEN_ID"])
    assert set(status[status == "FAIL"].index) == set(flow_truth.loc[flow_truth["QC_PROBLEM"].notna(), "SPECIMEN_ID"])
    long = read_table(outdir / "analysis" / "biomarkers_long.parquet")
    assert "Flow CD8 T of CD45" in set(long["BIOMARKER"]) and "immune.flow_subsets" in set(long["SOURCE_TABLE"])
    subjects = read_table(outdir / "analysis" / "subjects.parquet")
    wide = read_table(outdir / "analysis" / "analysis_wide.parquet")
    assert len(subjects) == len(wide) == SUBJECTS
    assert wide["USUBJID"].is_unique


def test_site_and_variant_tables_are_one_file_per_specimen(demo_runs):
    """genomics/msi_sites/ and tmb_variants/ are partitioned datasets: one file per tumour
    specimen of the summary table, read as one table by pyarrow.dataset and DuckDB, whose
    counts agree with the summaries."""
    import duckdb
    import pyarrow.dataset as ds

    outdir, _ = demo_runs[0]
    for summary_name, folder_name, count_sql, summary_column in (
            ("msi.parquet", "msi_sites", "count(*) FILTER (WHERE CALL = 'UNSTABLE')", "SITES_UNSTABLE"),
            ("tmb.parquet", "tmb_variants", "count(*) FILTER (WHERE COUNTED)", "N_COUNTED")):
        summary = read_table(outdir / "genomics" / summary_name).set_index("SPECIMEN_ID")
        folder = outdir / "genomics" / folder_name
        assert sorted(p.name for p in folder.glob("*.parquet")) == sorted(f"{s}.parquet" for s in summary.index)
        rows = duckdb.sql(f"SELECT SPECIMEN_ID, {count_sql}, count(*) FROM read_parquet('{folder}/*.parquet') "
                          "GROUP BY SPECIMEN_ID ORDER BY SPECIMEN_ID").fetchall()
        assert {r[0]: r[1] for r in rows} == {k: v for k, v in summary[summary_column].items() if k in {r[0] for r in rows}}
        assert ds.dataset(folder, format="parquet").count_rows() == sum(r[2] for r in rows) > 0
    n_variants = read_table(outdir / "genomics" / "tmb.parquet")["N_VARIANTS"].sum()
    assert ds.dataset(outdir / "genomics" / "tmb_variants", format="parquet").count_rows() == n_variants


def test_two_runs_are_byte_identical(demo_runs):
    (first, _), (second, _) = demo_runs
    a, b = _outputs(first), _outputs(second)
    assert a.keys() == b.keys()
    differing = [k for k in a if a[k] != b[k]]
    assert not differing, differing


def _readable_text(path: Path) -> str:
    """What a reader of the file sees: Parquet cells, column names and metadata; text
    files as text (embedded PNGs dropped). Compressed bytes would match anything."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        metadata = {k.decode(): v.decode(errors="replace") for k, v in (table.schema.metadata or {}).items()}
        return "\n".join([" ".join(table.column_names), str(metadata), table.to_pandas().to_csv(index=False)])
    if path.suffix == ".png":
        return ""
    if path.suffix == ".h5ad":  # HDF5: its annotations, not its compressed bytes
        import anndata

        adata = anndata.read_h5ad(path)
        return "\n".join([adata.obs.to_csv(), adata.var.to_csv(), repr(adata.uns), " ".join(adata.obsm), " ".join(adata.layers)])
    if path.suffix == ".gz":
        import gzip

        return gzip.decompress(path.read_bytes()).decode(errors="replace")
    return re.sub(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+", "", path.read_text(errors="replace"))


def _identifier_pattern(values) -> re.Pattern:
    """Direct identifiers by name (column names, labels) and by value."""
    names = r"BRTHDTC|birth ?date|date of birth|DOB|MRN|medical record number|patient name|SUBJNAME"
    return re.compile(r"(?i)\b(" + names + r")\b" + "".join("|" + re.escape(str(v)) for v in values))


def test_no_identifier_names_in_outputs_or_log(demo_runs):
    """No output or log names a direct identifier. The simulated ADSL holds none, so this
    alone cannot show that identifiers are dropped: the next test puts some in."""
    outdir, proc = demo_runs[0]
    pattern = _identifier_pattern([])
    for rel in _outputs(outdir):
        match = pattern.search(_readable_text(outdir / rel))
        assert not match, (rel, match)
    assert not pattern.search(proc.stdout + proc.stderr)


def test_identifiers_put_into_adsl_reach_no_output_or_log(demo_runs, tmp_path):
    """An ADSL carrying birth dates, names and record numbers: the analysis and the report
    run on it and none of those values or names reaches what they write or log; the same
    scan finds them in a Parquet copy of that ADSL, so it would see them."""
    import shutil

    from conftest import run_cli

    outdir, _ = demo_runs[0]
    adam = outdir / "simulated_trial" / "adam"
    adsl = pyreadstat.read_xport(adam / "adsl.xpt")[0]
    n = len(adsl)
    adsl["BRTHDTC"] = [f"19{50 + i:02d}-0{1 + i % 9}-{10 + i:02d}" for i in range(n)]
    adsl["SUBJNAME"] = [f"Wei Zhangsun {chr(65 + i)}" for i in range(n)]
    adsl["MRN"] = [f"H{4820113 + 7919 * i}" for i in range(n)]
    injected = tmp_path / "adsl.xpt"
    pyreadstat.write_xport(adsl, str(injected), table_name="ADSL", file_format_version=5)
    pattern = _identifier_pattern([*adsl["BRTHDTC"], *adsl["SUBJNAME"], *adsl["MRN"]])
    control = tmp_path / "control" / "adsl.parquet"
    control.parent.mkdir()
    adsl[["USUBJID", "MRN"]].rename(columns={"MRN": "X1"}).to_parquet(control)
    assert pattern.search(_readable_text(control))  # a value alone, under a harmless column name, is caught

    results = tmp_path / "results"
    shutil.copytree(outdir, results, ignore=shutil.ignore_patterns("simulated_trial", "analysis", "report"))
    runs = [run_cli("analysis", "--results", str(results), "--adsl", str(injected), "--adtte", str(adam / "adtte.xpt"),
                    "--adrs", str(adam / "adrs.xpt")),
            run_cli("report", "--results", str(results))]
    for proc in runs:
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert not pattern.search(proc.stdout + proc.stderr)
    written = sorted(p for folder in ("analysis", "report") for p in (results / folder).rglob("*") if p.is_file())
    assert results / "analysis" / "subjects.parquet" in written and results / "report" / "index.html" in written
    assert len(read_table(results / "analysis" / "subjects.parquet")) == n
    for path in written:
        match = pattern.search(_readable_text(path))
        assert not match, (path.relative_to(results), match)


def test_one_spelling_of_each_mode_in_the_outputs(demo_runs):
    """Modes in outputs use names.py's spelling (paired, tumor_only); no other spelling of tumour-only anywhere."""
    import pyarrow.parquet as pq

    from biomarkers import names as N

    outdir, _ = demo_runs[0]
    other = re.compile(r"tumou?r[-_ ]only")
    modes: dict[str, set[str]] = {}
    elsewhere = []
    for rel in _outputs(outdir):
        if not rel.endswith(".parquet"):
            continue
        frame = pq.read_table(outdir / rel).to_pandas()
        if "MODE" in frame.columns:
            modes[rel] = set(frame["MODE"].dropna())
        for column in frame.columns:
            if frame[column].dtype == object:
                elsewhere += [(rel, column, v) for v in set(frame[column].dropna().astype(str))
                              if other.search(v) and v != N.TUMOR_ONLY and not v.startswith("{")]
    assert {"genomics/tmb.parquet", "genomics/msi.parquet"} <= set(modes)
    assert all(values <= set(N.MODES) for values in modes.values()), modes
    assert not elsewhere, elsewhere
