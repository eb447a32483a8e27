from pathlib import Path

import pandas as pd
import pytest

from biomarkers import schemas
from biomarkers.errors import BiomarkersError

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
        assert tbl.path.endswith(".parquet")
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


def test_every_assets_folder_is_in_the_wheel():
    # pyproject's package-data glob `_assets/*` takes files, not folders: each folder needs its own
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"_assets/*"' in pyproject
    for folder in (p for p in (ROOT / "assets").iterdir() if p.is_dir()):
        assert f'"_assets/{folder.name}/*"' in pyproject, folder.name
        assert [p.name for p in folder.iterdir() if p.is_dir()] == [], folder.name
    assert (ROOT / "src" / "biomarkers" / "_assets").resolve() == (ROOT / "assets").resolve()
