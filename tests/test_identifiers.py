"""Direct identifiers: free text screened at import, values kept out of error lines, formulas escaped, modes."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from biomarkers.custody import import_exports, read_ledger, record_event
from biomarkers.errors import InputError
from biomarkers.identifiers import hide_identifier, identifier_kind
from biomarkers.io import spreadsheet_safe
from test_custody_ledger import SUBJ, SUBJECTS, small_export_rows, write_export


@pytest.mark.parametrize("text, kind", [
    ("called the patient at +86 138 1234 5678", "a phone number"),
    ("mobile 13812345678 confirmed", "a phone number"),
    ("ring (021) 6543 2100 for the ward", "a phone number"),
    ("tel: 5551234", "a phone number"),
    ("sent to zhang.san@example.com", "an e-mail address"),
    ("DOB 1960-01-01", "a date of birth"),
    ("patient born on 3 March 1961", "a date of birth"),
    ("Mr. Zhang refused the second tube", "a name with a title"),
    ("Dr Li took it", "a name with a title"),
    ("patient name on the tube was wrong", "a person's name"),
    ("MRN 00123456 on the label", "a medical record number"),
    ("hospital no. H-99812", "a medical record number"),
    ("ID 110105196001011234 on the form", "a national ID number"),
    ("SSN 123-45-6789", "a national ID number"),
])
def test_free_text_identifiers_are_recognised(text, kind):
    assert identifier_kind(text) == kind


@pytest.mark.parametrize("text", [
    "haemolysed", "clock error on 2025-03-01T09:00:00+08:00", "freezer F2 failed at 03:10, moved to F3",
    "entered twice", "tube cracked in transit; 4 mL recovered", "2025-03-01T09:30:00+08:00", "-80", "SP01001-0002",
    "centrifuge 2000 g 10 min", "courier DHL 1234567890", "consent withdrawn by phone",
])
def test_ordinary_free_text_passes(text):
    assert identifier_kind(text) is None


@pytest.mark.parametrize("value, hidden", [
    ("John Smith", True), ("Li Wei", True), ("张三", True), ("Smith, John", True),
    ("NCT07007182-01-001", False), ("WEEK_99", False), ("PLASMA_X", False), ("cold", False), ("SPUN", False),
])
def test_values_that_look_like_names_are_not_echoed(value, hidden):
    assert bool(hide_identifier(value)) is hidden


def test_a_reason_carrying_an_identifier_is_refused_without_echo(tmp_path, cli):
    ledger = tmp_path / "ledger.sqlite"
    rows = small_export_rows()
    rows.append({"event_id": "E6", "event_type": "DISPOSED", "subject_id": SUBJ, "specimen_id": "SP01001-0002",
                 "occurred_at": "2025-03-01T09:00:00+08:00", "recorded_at": "2025-03-01T09:00:00+08:00",
                 "actor_id": "STAFF07", "site": "SITE01", "reason": "per Mrs. Wang, call 13812345678"})
    bad = write_export(tmp_path / "bad.csv", rows)
    result = cli("custody", "import", "--ledger", str(ledger), str(bad))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert (f"{bad}, line 7, field 'reason': looks like a direct identifier (a name with a title): not stored (value not "
            "shown); remove it from the text") in result.stderr
    assert "Wang" not in result.stderr + result.stdout and "13812345678" not in result.stderr + result.stdout
    assert not ledger.exists()


def test_comments_are_screened_and_kept_when_clean(tmp_path):
    ledger = tmp_path / "ledger.sqlite"
    rows = small_export_rows()
    rows[1]["comments"] = "spun late: courier delay"
    import_exports(ledger, [write_export(tmp_path / "ok.csv", rows)], subjects=SUBJECTS)
    assert read_ledger(ledger)[1]["comments"] == "spun late: courier delay"
    with pytest.raises(InputError, match="field 'comments': looks like a direct identifier \\(an e-mail address\\)") as caught:
        record_event(ledger, {"event_type": "THAWED", "subject_id": SUBJ, "specimen_id": "SP01001-0002",
                              "occurred_at": "2025-03-02T08:00:00+08:00", "actor_id": "STAFF07", "site": "SITE01",
                              "comments": "asked wang@example.org"})
    assert "wang" not in str(caught.value)


def test_a_name_given_as_subject_id_is_not_echoed(tmp_path, cli):
    rows = small_export_rows()
    rows[1]["subject_id"] = "John Smith"
    bad = write_export(tmp_path / "bad.csv", rows)
    result = cli("custody", "import", "--ledger", str(tmp_path / "l.sqlite"), str(bad))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "line 3, field 'subject_id'" in result.stderr and "value not shown: it looks like a person's name" in result.stderr
    assert "John" not in result.stderr


@pytest.mark.parametrize("text, safe", [
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"),
    ("-80", "-80"), ("-3.5", "-3.5"), ("+08:00", "'+08:00"), ("plain", "plain"), ("", ""),
])
def test_spreadsheet_formulas_are_escaped(text, safe):
    assert spreadsheet_safe(text) == safe


def test_report_tables_escape_formulas():
    from biomarkers.report._html import table

    html = table(pd.DataFrame({"MESSAGE": ["=cmd|' /C calc'!A0", "ok"], "VALUE": [-3.0, 1.0]}))
    assert "<td>'=cmd|' /C calc'!A0</td>" in html.replace("&#x27;", "'") and "<td>-3</td>" in html


def test_outputs_are_0640_and_0750_whatever_the_umask(tmp_path):
    from biomarkers.io import staged_dir, write_text_atomic

    old = os.umask(0o000)
    try:
        with staged_dir(tmp_path / "out") as stage:
            (stage / "sub").mkdir()
            (stage / "sub" / "a.txt").write_text("x")
        write_text_atomic(tmp_path / "out" / "b.txt", "y")
    finally:
        os.umask(old)
    assert oct((tmp_path / "out").stat().st_mode & 0o777) == "0o750"
    assert oct((tmp_path / "out" / "sub").stat().st_mode & 0o777) == "0o750"
    assert oct((tmp_path / "out" / "sub" / "a.txt").stat().st_mode & 0o777) == "0o640"
    assert oct((tmp_path / "out" / "b.txt").stat().st_mode & 0o777) == "0o640"
