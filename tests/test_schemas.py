from pathlib import Path

import pandas as pd
import pytest

from biomarkers import schemas
from biomarkers.errors import BiomarkersError, InputError

ROOT = Path(__file__).resolve().parents[1]


def test_data_dictionary_doc_is_generated_from_the_registry():
    doc = (ROOT / "docs" / "data-dictionary.md").read_text()
    assert doc == schemas.data_dictionary_markdown(), "run `make docs` to regenerate docs/data-dictionary.md"


def test_write_table_embeds_dictionary_and_rejects_undeclared_columns(tmp_path):
    frame = pd.DataFrame({"ROLE": ["samplesheet"], "PATH": ["/x.csv"], "BYTES": [3], "SHA256": ["ab"]})
    path = schemas.write_table(frame, "pipeline.inputs", tmp_path, provenance={"step": "test"})
    assert path == tmp_path / "pipeline_info" / "inputs.parquet"
    meta = schemas.table_metadata(path)
    assert meta["table"] == "pipeline.inputs" and meta["provenance"] == {"step": "test"}
    assert [c["name"] for c in meta["columns"]] == ["ROLE", "PATH", "BYTES", "SHA256"]
    pd.testing.assert_frame_equal(schemas.read_table(path), frame)
    with pytest.raises(BiomarkersError, match="undeclared columns \\['EXTRA'\\]"):
        schemas.write_table(frame.assign(EXTRA=1), "pipeline.inputs", tmp_path)
    with pytest.raises(BiomarkersError, match="SHA256 has 1 null"):
        schemas.write_table(frame.assign(SHA256=[None]), "pipeline.inputs", tmp_path)
    # the failed writes left nothing behind but the first, complete file
    assert sorted(p.name for p in (tmp_path / "pipeline_info").iterdir()) == ["inputs.parquet"]


def test_every_table_declares_its_key_columns_and_unique_paths():
    paths = [t.path for t in schemas.TABLES.values()]
    assert len(paths) == len(set(paths))
    for tbl in schemas.TABLES.values():
        assert tbl.path.endswith(".parquet") != tbl.is_dataset  # a dataset's path is its folder
        assert set(tbl.key) <= set(tbl.column_names)
        for marker in tbl.biomarkers:
            assert marker.column in tbl.column_names


def test_concat_parts_sorts_by_key_and_checks_table_name(tmp_path):
    rows = [("b", "/b", 2, "bb"), ("a", "/a", 1, "aa")]
    paths = []
    for i, (role, path, size, digest) in enumerate(rows):
        frame = pd.DataFrame({"ROLE": [role], "PATH": [path], "BYTES": [size], "SHA256": [digest]})
        paths.append(schemas.write_table(frame, "pipeline.inputs", tmp_path / f"part{i}"))
    merged = schemas.concat_parts(paths, "pipeline.inputs")
    assert merged["PATH"].tolist() == ["/a", "/b"]
    with pytest.raises(BiomarkersError, match="holds table 'pipeline.inputs'"):
        schemas.concat_parts(paths, "custody.issues")


def _sites(specimen: str, site_ids: list[str]) -> pd.DataFrame:
    """Rows of genomics.msi_sites for one specimen (values made up, types as declared)."""
    cols = {}
    for col in schemas.TABLES["genomics.msi_sites"].columns:
        kind = col.type
        cols[col.name] = [0.5 if kind == "double" else 1 if kind == "int64" else True if kind == "bool" else "x"] * len(site_ids)
    return pd.DataFrame(cols).assign(SPECIMEN_ID=specimen, SITE_ID=site_ids)


def test_a_partitioned_table_is_one_file_per_specimen_read_as_one_table(tmp_path):
    import duckdb
    import pyarrow.dataset as ds

    parts = tmp_path / "parts"
    a = schemas.write_partition(_sites("SP-B", ["chr1:9:A", "chr1:10:A"]), "genomics.msi_sites", parts / "b", "SP-B")
    b = schemas.write_partition(_sites("SP-A", ["chr2:5:CA"]), "genomics.msi_sites", parts / "a", "SP-A")
    empty = schemas.write_partition(_sites("SP-C", []), "genomics.msi_sites", parts / "c", "SP-C")
    assert schemas.read_table(a)["SITE_ID"].tolist() == ["chr1:10:A", "chr1:9:A"]  # sorted by the key
    assert schemas.table_metadata(empty)["partition"] == {"column": "SPECIMEN_ID", "value": "SP-C"}

    out = tmp_path / "results"
    (out / "genomics" / "msi_sites").mkdir(parents=True)
    folder, values = schemas.collect_partitions([a, b, empty], "genomics.msi_sites", out)
    assert folder == out / "genomics" / "msi_sites" and values == ["SP-A", "SP-B", "SP-C"]
    assert [p.name for p in schemas.dataset_files(folder)] == ["SP-A.parquet", "SP-B.parquet", "SP-C.parquet"]
    assert (folder / "SP-B.parquet").read_bytes() == a.read_bytes()
    merged = schemas.read_table(folder)
    assert merged["SITE_ID"].tolist() == ["chr2:5:CA", "chr1:10:A", "chr1:9:A"] and schemas.count_rows(folder) == 3
    assert ds.dataset(folder, format="parquet").to_table().num_rows == 3  # _common_metadata is not data
    assert pd.read_parquet(folder)["SPECIMEN_ID"].tolist() == ["SP-A", "SP-B", "SP-B"]
    counts = duckdb.sql(f"SELECT SPECIMEN_ID, count(*) FROM read_parquet('{folder}/*.parquet') GROUP BY 1 ORDER BY 1").fetchall()
    assert counts == [("SP-A", 1), ("SP-B", 2)]
    assert schemas.table_metadata(folder)["table"] == "genomics.msi_sites"
    # a folder with no partition yet still has the declared schema
    for data in schemas.dataset_files(folder):
        data.unlink()
    assert list(schemas.read_table(folder).columns) == schemas.TABLES["genomics.msi_sites"].column_names


def test_a_rerun_replaces_the_whole_dataset(tmp_path):
    """A collect publishes its dataset folder whole: no partition of an earlier run (a
    specimen since removed from the samplesheet) stays among the new ones."""
    from biomarkers.io import staged_dir

    parts = [schemas.write_partition(_sites(s, ["x"]), "genomics.msi_sites", tmp_path / "p" / s, s) for s in ("SP-A", "SP-B")]
    out = tmp_path / "results"
    for run in (parts, parts[:1]):
        with staged_dir(out, replace=["genomics/msi_sites"]) as stage:
            schemas.collect_partitions(run, "genomics.msi_sites", stage)
            (stage / "genomics" / "other.txt").write_text("kept beside")
    assert sorted(p.name for p in (out / "genomics" / "msi_sites").iterdir()) == ["SP-A.parquet", "_common_metadata"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p", "results"]  # no staging or replaced folder left


def test_partition_writes_and_collects_refuse_what_does_not_fit(tmp_path):
    with pytest.raises(BiomarkersError, match="another SPECIMEN_ID"):
        schemas.write_partition(_sites("SP-A", ["s"]), "genomics.msi_sites", tmp_path, "SP-B")
    with pytest.raises(InputError, match="cannot name a partition file"):
        schemas.write_partition(_sites("../x", ["s"]), "genomics.msi_sites", tmp_path, "../x")
    with pytest.raises(BiomarkersError, match="write_partition"):
        schemas.write_table(_sites("SP-A", ["s"]), "genomics.msi_sites", tmp_path)
    one = schemas.write_partition(_sites("SP-A", ["s"]), "genomics.msi_sites", tmp_path / "1", "SP-A")
    two = schemas.write_partition(_sites("SP-A", ["t"]), "genomics.msi_sites", tmp_path / "2", "SP-A")
    with pytest.raises(InputError, match="two parts for the same SPECIMEN_ID"):
        schemas.collect_partitions([one, two], "genomics.msi_sites", tmp_path / "out")
    with pytest.raises(InputError, match="not 'genomics.tmb_variants'"):
        schemas.collect_partitions([one], "genomics.tmb_variants", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # checked before anything is written


def test_every_assets_folder_is_in_the_wheel():
    # pyproject's package-data glob `_assets/*` takes files, not folders: each folder needs its own
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"_assets/*"' in pyproject
    for folder in (p for p in (ROOT / "assets").iterdir() if p.is_dir()):
        assert f'"_assets/{folder.name}/*"' in pyproject, folder.name
        assert [p.name for p in folder.iterdir() if p.is_dir()] == [], folder.name
    assert (ROOT / "src" / "biomarkers" / "_assets").resolve() == (ROOT / "assets").resolve()


def test_part_table_names_the_table_or_refuses_the_file_in_one_line(tmp_path):
    frame = pd.DataFrame({"ROLE": ["samplesheet"], "PATH": ["s.csv"], "BYTES": [3], "SHA256": ["ab"]})
    part = schemas.write_table(frame, "pipeline.inputs", tmp_path)
    assert schemas.part_table(part) == "pipeline.inputs"
    with pytest.raises(InputError) as missing:
        schemas.part_table(tmp_path / "gone.parquet")
    assert str(missing.value) == f"{tmp_path / 'gone.parquet'}: part not found"
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet\n")
    with pytest.raises(InputError) as not_parquet:
        schemas.part_table(junk)
    assert str(not_parquet.value).startswith(f"{junk}: not a Parquet part: ")
    assert len(str(not_parquet.value).splitlines()) == 1
