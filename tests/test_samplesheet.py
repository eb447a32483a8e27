import pytest

from biomarkers.errors import InputError
from biomarkers.protocol import load_protocol
from biomarkers.samplesheet import read_samplesheet

HEADER = "subject,specimen,timepoint,specimen_type,assay,file,normal_specimen\n"
SUBJ = "NCT07007182-01-001"


@pytest.fixture
def sheet(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t.bam").write_bytes(b"")
    (tmp_path / "data" / "n.bam").write_bytes(b"")

    def write(body: str, header: str = HEADER):
        path = tmp_path / "samplesheet.csv"
        path.write_text(header + body)
        return path

    return write


GOOD = (
    f"{SUBJ},S001-DNA1,BASELINE,DNA,wes_tumor,data/t.bam,S001-DNA2\n"
    f"{SUBJ},S001-DNA2,BASELINE,DNA,wes_normal,data/n.bam,\n"
)


def test_valid_sheet_resolves_paths_against_its_folder(sheet, tmp_path):
    frame = read_samplesheet(sheet(GOOD), load_protocol(), subjects={SUBJ})
    assert list(frame["specimen"]) == ["S001-DNA1", "S001-DNA2"]
    assert frame.loc[0, "file"] == str(tmp_path / "data" / "t.bam")
    assert frame.loc[0, "normal_specimen"] == "S001-DNA2"
    assert frame["line"].tolist() == [2, 3]


@pytest.mark.parametrize(
    ("body", "header", "expected"),
    [
        (GOOD, HEADER.replace(",assay", ""), "line 1, field 'assay': required column is missing"),
        (GOOD.replace("wes_normal", "wgs"), HEADER, "line 3, field 'assay': assay must be one of"),
        (GOOD.replace("n.bam", "missing.bam"), HEADER, "line 3, field 'file': file does not exist"),
        (GOOD.replace("DNA,wes_normal", "DNAX,wes_normal"), HEADER, "line 3, field 'specimen_type': unknown specimen type"),
        (GOOD.replace("BASELINE,DNA,wes_normal", "WEEK99,DNA,wes_normal"), HEADER, "line 3, field 'timepoint': unknown timepoint"),
        (GOOD + f"{SUBJ},S001-DNA1,BASELINE,DNA,wes_tumor,data/n.bam,\n", HEADER, "line 4, field 'specimen': duplicate entry"),
        (GOOD.replace(f"{SUBJ},S001-DNA2", "NCT07007182-09-999,S001-DNA2"), HEADER, "line 3, field 'subject': subject is not in the randomization list"),
        (GOOD.replace(",S001-DNA2\n", ",S404-DNA\n"), HEADER, "line 2, field 'normal_specimen': normal_specimen is not a specimen"),
    ],
)
def test_bad_rows_name_line_and_field(sheet, body, header, expected):
    with pytest.raises(InputError) as info:
        read_samplesheet(sheet(body, header), load_protocol(), subjects={SUBJ})
    assert expected in str(info.value)
    assert "samplesheet.csv" in str(info.value)


def test_cli_reports_one_line_and_exit_2(sheet, cli, tmp_path):
    path = sheet(GOOD.replace("wes_normal", "wgs"))
    result = cli("run", "--input", str(path), "--outdir", str(tmp_path / "out"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "field 'assay'" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "pipeline_info").exists()
