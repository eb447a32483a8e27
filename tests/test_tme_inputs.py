"""Bad expression and pathology input: one line naming the file, the gene or row, and the field."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from biomarkers.errors import InputError
from biomarkers.tme import load_gene_map, read_expression, read_pathology, score_signatures


def _matrix(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, values, expected", [
    ("gene_id\tA\tB\nCD8A\t1\t2\nCD8A\t3\t4\n", "counts", "gene CD8A, field 'gene_id': duplicated gene"),
    ("gene_id\tA\tA\nCD8A\t1\t2\n", "counts", "field 'A': duplicated sample"),
    ("gene_id\tA\tB\nCD8A\t1\tx7\n", "counts", "gene CD8A, field 'B': value is not a number (got 'x7')"),
    ("gene_id\tA\tB\nCD8A\t1\t\n", "counts", "gene CD8A, field 'B': value is missing"),
    ("gene_id\tA\tB\nCD8A\t1\t2\nGZMA\t-3\t2\n", "counts", "gene GZMA, field 'A': value is negative (got -3.0)"),
    ("gene_id\tA\tB\nCD8A\t1\t2.5\n", "counts",
     "gene CD8A, field 'B': counts must be whole numbers (declare TPM with values 'tpm') (got 2.5)"),
    ("gene_id,A,B\nCD8A,1,2\n", "counts", "line 1: header has one column: is the file comma-separated?"),
])
def test_bad_matrix_is_one_line_naming_gene_and_field(tmp_path, text, values, expected):
    path = _matrix(tmp_path / "m.tsv", text)
    with pytest.raises(InputError) as err:
        read_expression(path, values=values)
    message = str(err.value)
    assert message == f"{path}, {expected}" or message == f"{path}: {expected}"
    assert "\n" not in message and err.value.exit_code == 2


def test_tpm_that_does_not_sum_to_a_million_is_a_warning(tmp_path, caplog):
    path = _matrix(tmp_path / "t.csv", "gene_id,A,B\nCD8A,500000,10\nGZMA,500000,20.5\n")
    with caplog.at_level(logging.WARNING, logger="biomarkers"):
        adata = read_expression(path, values="tpm")
    assert adata.shape == (2, 2)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "1 of 2 TPM columns do not sum to about 1,000,000" in warned[0] and "B (30)" in warned[0]


def test_ids_that_map_to_nothing(tmp_path):
    path = _matrix(tmp_path / "m.tsv", "gene_id\tA\n" + "".join(f"{1000 + i}\t{i}\n" for i in range(50)))
    adata = read_expression(path, values="counts")
    with pytest.raises(InputError) as err:
        score_signatures(adata)
    assert str(err.value).startswith(f"{path}, field 'gene_id': no gene of any signature found among the matrix's 50 gene IDs (0 match")


def test_unreadable_and_unknown_files(tmp_path):
    with pytest.raises(InputError, match="expression file not found"):
        read_expression(tmp_path / "none.tsv", values="counts")
    odd = _matrix(tmp_path / "m.xlsx", "x")
    with pytest.raises(InputError, match="unknown expression file type"):
        read_expression(odd, values="counts")
    with pytest.raises(InputError, match="values must be one of counts, tpm"):
        read_expression(odd, values="fpkm")
    lengths = _matrix(tmp_path / "len.tsv", "gene_id\tlength\nCD8A\t-5\n")
    with pytest.raises(InputError) as err:
        read_expression(_matrix(tmp_path / "m.tsv", "gene_id\tA\nCD8A\t1\n"), values="counts", gene_lengths=lengths)
    assert str(err.value) == f"{lengths}, line 2, field 'gene CD8A': length must be a positive number of bases (got '-5')"


def test_bad_gene_map(tmp_path):
    bad = _matrix(tmp_path / "map.csv", "symbol,ensembl_id\nGZMA,ENSG1\n")
    with pytest.raises(InputError) as err:
        load_gene_map(bad)
    assert str(err.value).startswith(f"{bad}, line 2, field 'ensembl_id': does not match")
    unknown = _matrix(tmp_path / "map2.csv", "symbol,colour\nGZMA,red\n")
    with pytest.raises(InputError, match="field 'colour': unknown column"):
        load_gene_map(unknown)


# --- pathology ---------------------------------------------------------------------------

HEADER = "subject,specimen,timepoint,test,result,unit,clone,date,name\n"
GOOD = "NCT07007182-01-001,SP01001-0001,BASELINE,CPS,5,,22C3,2025-02-01,\n"


@pytest.mark.parametrize("row, expected", [
    ("NCT07007182-01-001,SP01001-0001,BASELINE,CPS,150,,22C3,2025-02-01,",
     "line 3, field 'result': PD-L1 CPS must be a number from 0 to 100 (got '150')"),
    ("NCT07007182-01-001,SP01001-0001,BASELINE,HER2_IHC,4+,,,2025-02-01,",
     "line 3, field 'result': HER2 IHC must be one of 0, 1+, 2+, 3+ (got '4+')"),
    ("NCT07007182-01-001,SP01001-0002,BASELINE,CPS,3,,E1L3N,2025-02-01,",
     "line 3, field 'clone': PD-L1 antibody clone must be one of 22C3, 28-8, SP263 (got 'E1L3N')"),
    ("NCT07007182-01-001,SP01001-0001,BASELINE,TILS_STROMAL,-4,%,,2025-02-01,",
     "line 3, field 'result': stromal TILs must be a percentage from 0 to 100 (got '-4')"),
    ("NCT07007182-01-001,SP01001-0001,BASELINE,HER2_ISH_RATIO,-0.5,,,2025-02-01,",
     "line 3, field 'result': HER2 ISH ratio (HER2/CEP17) must be a number >= 0 (got '-0.5')"),
    ("NCT07007182-01-001,SP01001-0001,BASELINE,MMR_MLH1,ABSENT,,,2025-02-01,",
     "line 3, field 'result': MMR protein IHC must be RETAINED or LOST (got 'ABSENT')"),
    ("NCT07007182-01-001,SP01001-0001,BASELINE,LAB,12,,,2025-02-01,TMB",
     "line 3, field 'unit': required value is empty for test LAB"),
    ("NCT07007182-01-001,SP01001-0002,BASELINE,CPS,3,,22C3,,",
     "line 3, field 'date': required value is empty for test CPS"),
    ("NCT07007182-01-001,SP01001-0001,BASELINE,CPS,7,,22C3,2025-02-09,",
     "line 3, field 'result': CPS reported twice for specimen SP01001-0001 (lines 2, 3)"),
    ("NCT07007182-01-001,SP01001-0001,BASELINE,KI67,30,%,,2025-02-01,",
     "line 3, field 'test': test must be one of CPS, HER2_IHC, HER2_ISH, HER2_ISH_RATIO, MMR_MLH1, MMR_PMS2, MMR_MSH2, "
     "MMR_MSH6, EBER, TILS_STROMAL, LAB (got 'KI67')"),
    ("NCT07007182-01-001,SP01001-0001,BASELINE,EBER,POSITIVE,,,01/02/2025,",
     "line 3, field 'date': date must be an ISO 8601 date (YYYY-MM-DD) (got '01/02/2025')"),
])
def test_bad_pathology_is_one_line_naming_row_and_field(tmp_path, row, expected):
    path = _matrix(tmp_path / "p.csv", HEADER + GOOD + row + "\n")
    with pytest.raises(InputError) as err:
        read_pathology(path)
    assert str(err.value) == f"{path}, {expected}"


def test_bad_wide_pathology(tmp_path):
    path = _matrix(tmp_path / "w.csv", "subject,specimen,timepoint,cps,cps_clone,cps_date,her2_ihc,lab_TMB\n"
                                       "NCT07007182-01-001,SP01001-0001,BASELINE,12,22C3,2025-02-01,4+,\n")
    with pytest.raises(InputError) as err:
        read_pathology(path)
    assert str(err.value) == f"{path}, line 2, field 'her2_ihc': HER2 IHC must be one of 0, 1+, 2+, 3+ (got '4+')"
    path = _matrix(tmp_path / "w2.csv", "subject,specimen,timepoint,lab_TMB\nNCT07007182-01-001,SP01001-0001,BASELINE,9.5\n")
    with pytest.raises(InputError) as err:
        read_pathology(path)
    assert str(err.value) == f"{path}, line 2, field 'unit_TMB': lab result TMB has no unit"
    path = _matrix(tmp_path / "w3.csv", "subject,specimen,timepoint,cps,cps_date\nNCT07007182-01-001,SP01001-0001,BASELINE,5,2025-01-01\n")
    with pytest.raises(InputError) as err:
        read_pathology(path)
    assert str(err.value) == f"{path}, line 2, field 'cps_clone': required when cps is given"
    path = _matrix(tmp_path / "w4.csv", "subject,specimen,timepoint,colour\nNCT07007182-01-001,SP01001-0001,BASELINE,red\n")
    with pytest.raises(InputError) as err:
        read_pathology(path)
    assert str(err.value) == f"{path}, line 1, field 'colour': unknown column (not in assets/pathology.schema.json)"


def test_long_wide_csv_and_parquet_read_the_same(tmp_path):
    long = _matrix(tmp_path / "long.csv", HEADER + GOOD +
                   "NCT07007182-01-001,SP01001-0001,BASELINE,HER2_IHC,2+,,,2025-02-01,\n"
                   "NCT07007182-01-001,SP01001-0001,BASELINE,HER2_ISH_RATIO,2.4,ratio,,2025-02-01,\n"
                   "NCT07007182-01-001,SP01001-0001,BASELINE,MMR_MSH6,LOST,,,2025-02-01,\n"
                   "NCT07007182-01-001,SP01001-0001,BASELINE,TILS_STROMAL,20,%,,2025-02-01,\n"
                   "NCT07007182-01-001,SP01001-0001,BASELINE,LAB,12.5,mut/Mb,,2025-02-01,TMB\n")
    wide = _matrix(tmp_path / "wide.csv", "subject,specimen,timepoint,date,cps,cps_clone,cps_date,her2_ihc,her2_ish_ratio,"
                                          "msh6,tils_stromal,lab_TMB,unit_TMB\n"
                                          "NCT07007182-01-001,SP01001-0001,BASELINE,2025-02-01,5,22C3,2025-02-01,2+,2.4,LOST,20,12.5,mut/Mb\n")
    a = read_pathology(long)
    b = read_pathology(wide)
    pd.read_csv(long, dtype=str, keep_default_na=False).to_parquet(tmp_path / "long.parquet")
    c = read_pathology(tmp_path / "long.parquet")
    cols = ["USUBJID", "SPECIMEN_ID", "TIMEPOINT", "TEST", "RESULT_NAME", "VALUE", "VALUE_TEXT", "UNIT", "METHOD", "RESULT_DATE"]
    key = ["TEST", "RESULT_NAME"]
    for other in (b, c):
        pd.testing.assert_frame_equal(a[cols].sort_values(key).reset_index(drop=True),
                                      other[cols].sort_values(key).reset_index(drop=True))
    lab = a[a["TEST"] == "LAB"].iloc[0]
    assert (lab["RESULT_NAME"], lab["VALUE"], lab["UNIT"]) == ("TMB", 12.5, "mut/Mb")
    assert a.set_index("TEST").loc["CPS", "UNIT"] == "score" and a.set_index("TEST").loc["CPS", "METHOD"] == "22C3"
