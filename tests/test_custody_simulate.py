"""The custody stage of the simulator: specimens for every due collection, assay plan, exports, injected violations."""

from __future__ import annotations

import datetime as dt
import filecmp

import pandas as pd
import pytest

from biomarkers.custody import import_exports, read_ledger, verify_ledger
from biomarkers.trialdata import load_milestones, load_subjects
from biomarkers.protocol import load_protocol
from custody_helpers import simulate_custody_trial as simulate_trial
from biomarkers.simulate._custody import VIOLATION_KINDS


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return simulate_trial(tmp_path_factory.mktemp("sim") / "clean", n_subjects=54, seed=1, violation_rate=0.0)


@pytest.fixture(scope="module")
def dirty(tmp_path_factory):
    return simulate_trial(tmp_path_factory.mktemp("sim") / "dirty", n_subjects=54, seed=1, violation_rate=0.1)


def test_assay_plan_follows_the_contract(clean):
    plan = clean.assay_plan
    assert list(plan.columns) == ["USUBJID", "SPECIMEN_ID", "TIMEPOINT", "SPECIMEN_TYPE", "ASSAY", "NORMAL_SPECIMEN_ID"]
    assert plan["SPECIMEN_ID"].is_unique
    nucleic = plan[~plan["ASSAY"].str.startswith("scrna_") & (plan["ASSAY"] != "flow_fcs")]
    assert (nucleic["SPECIMEN_TYPE"] == nucleic["ASSAY"].map(lambda a: "RNA" if a == "rnaseq_tumor" else "DNA")).all()
    specimens = pd.read_csv(clean.outdir / "truth" / "custody_specimens.csv").set_index("SPECIMEN_ID")
    milestones = pd.read_csv(clean.outdir / "milestones.csv")
    surgery = set(milestones.loc[milestones["MILESTONE"] == "SURGERY", "USUBJID"])
    subjects = set(clean.subjects["USUBJID"])
    normals = plan[plan["ASSAY"] == "wes_normal"]
    tumours = plan[plan["ASSAY"] == "wes_tumor"]
    # every subject has one germline DNA from the BASELINE buffy coat
    assert set(normals["USUBJID"]) == subjects and normals["USUBJID"].is_unique
    assert (specimens.loc[normals["SPECIMEN_ID"], "PARENT_SPECIMEN_ID"].map(specimens["SPECIMEN_TYPE"]) == "BUFFY_COAT").all()
    assert normals["NORMAL_SPECIMEN_ID"].isna().all() and (normals["TIMEPOINT"] == "BASELINE").all()
    # tumour DNA: BASELINE biopsy for everyone, SURGERY resection for those operated on
    parent_type = specimens.loc[tumours["SPECIMEN_ID"], "PARENT_SPECIMEN_ID"].map(specimens["SPECIMEN_TYPE"]).tolist()
    expected = {(s, "BASELINE", "BIOPSY_FFPE") for s in subjects} | {(s, "SURGERY", "TUMOUR_FFPE") for s in surgery}
    got = set(zip(tumours["USUBJID"], tumours["TIMEPOINT"], parent_type))
    assert got == expected
    germline = dict(zip(normals["USUBJID"], normals["SPECIMEN_ID"]))
    assert (tumours["NORMAL_SPECIMEN_ID"] == tumours["USUBJID"].map(germline)).all()
    assert 10 <= len(surgery) and len(tumours) == 54 + len(surgery)
    # tumour RNA for bulk RNA-seq: from the fresh-frozen BASELINE biopsy and SURGERY resection
    rna = plan[plan["ASSAY"] == "rnaseq_tumor"]
    rna_parent = specimens.loc[rna["SPECIMEN_ID"], "PARENT_SPECIMEN_ID"].map(specimens["SPECIMEN_TYPE"]).tolist()
    assert set(zip(rna["USUBJID"], rna["TIMEPOINT"], rna_parent)) == \
        {(s, "BASELINE", "BIOPSY_FF") for s in subjects} | {(s, "SURGERY", "TUMOUR_FF") for s in surgery}
    # single-cell: whole specimens of 4 subjects per plan entry, both arms, each its own PBMC vial
    arms = clean.subjects.set_index("USUBJID")["ARMCD"]
    pbmc = plan[plan["ASSAY"] == "scrna_pbmc"]
    assert set(pbmc["SPECIMEN_TYPE"]) == {"PBMC"} and set(pbmc["TIMEPOINT"]) == {"BASELINE", "C2D1"}
    assert pbmc["USUBJID"].nunique() == 4 and set(pbmc["USUBJID"].map(arms)) == {"EXP", "CTRL"}
    tumour_sc = plan[plan["ASSAY"] == "scrna_tumor"]
    assert set(zip(tumour_sc["SPECIMEN_TYPE"], tumour_sc["TIMEPOINT"])) == {("BIOPSY_FF", "BASELINE"), ("TUMOUR_FF", "SURGERY")}
    assert (tumour_sc.groupby("TIMEPOINT")["USUBJID"].nunique() == 4).all()
    # flow cytometry: a PBMC vial of every subject's blood timepoints, never single-cell RNA's vial
    flow = plan[plan["ASSAY"] == "flow_fcs"]
    assert set(flow["SPECIMEN_TYPE"]) == {"PBMC"} and flow["USUBJID"].nunique() == 54
    assert set(flow["TIMEPOINT"]) <= {"BASELINE", "C2D1", "PRESURGERY", "MAINT_Q12W_1", "EOT"}
    assert (flow["TIMEPOINT"] == "BASELINE").sum() == 54 and not set(flow["SPECIMEN_ID"]) & set(pbmc["SPECIMEN_ID"])
    # every planned specimen is consumed by its assay, at its lab, in the LIMS exports
    events = pd.concat([pd.read_csv(f, dtype=str) for f in sorted((clean.outdir / "custody").glob("export_*.csv"))])
    consumed = events[events["event_type"] == "CONSUMED"].set_index("specimen_id")
    event_assay = {"wes_tumor": "WES", "wes_normal": "WES", "rnaseq_tumor": "RNASEQ", "scrna_pbmc": "SCRNASEQ",
                   "scrna_tumor": "SCRNASEQ", "flow_fcs": "FLOW"}
    assert consumed.loc[plan["SPECIMEN_ID"], "assay"].tolist() == plan["ASSAY"].map(event_assay).tolist()
    sites = consumed.loc[plan["SPECIMEN_ID"], "site"]
    assert set(sites[plan["ASSAY"].eq("flow_fcs").to_numpy()]) == {"FLOWLAB"}
    assert set(sites[plan["ASSAY"].ne("flow_fcs").to_numpy()]) == {"SEQLAB"}


def test_every_due_collection_has_its_expected_types(clean):
    protocol = load_protocol()
    subjects = load_subjects(clean.outdir / "subjects.csv", protocol)
    milestones = load_milestones(clean.outdir / "milestones.csv", subjects)
    cutoff = dt.date.fromisoformat(clean.data_cutoff)
    specimens = pd.read_csv(clean.outdir / "truth" / "custody_specimens.csv")
    have = set(zip(specimens["USUBJID"], specimens["TIMEPOINT"], specimens["SPECIMEN_TYPE"]))
    n_due = 0
    for subj in subjects.itertuples():
        for due in protocol.due_timepoints(subj.ARMCD, milestones.get(subj.USUBJID, {}), cutoff=cutoff):
            required, _ = protocol.expected_types(subj.ARMCD, due.id)
            for stype in required:
                assert (subj.USUBJID, due.id, stype) in have
                n_due += 1
    assert n_due > 1000
    assert {"WB_EDTA", "WB_SST", "WB_HEPARIN", "PLASMA", "BUFFY_COAT", "SERUM", "PBMC", "DNA", "STOOL",
            "BIOPSY_FFPE", "BIOPSY_FF", "TUMOUR_FFPE", "TUMOUR_FF", "NORMAL_MUCOSA_FF", "NODE16_FFPE"} <= set(specimens["SPECIMEN_TYPE"])


def test_exports_import_cleanly_without_identifiers(clean, tmp_path):
    exports = sorted((clean.outdir / "custody").glob("export_*.csv"))
    assert [p.name for p in exports] == [f"export_{s}.csv" for s in ("BIOBANK", "FLOWLAB", "SEQLAB", "SITE01", "SITE02", "SITE03")]
    header = exports[0].read_text().splitlines()[0]
    assert "participant_name" not in header and "date_of_birth" not in header and "medical_record_number" not in header
    ledger = tmp_path / "ledger.sqlite"
    subjects = set(clean.subjects["USUBJID"])
    summary = import_exports(ledger, exports, subjects=subjects)
    assert summary.appended == summary.rows > 10_000
    assert verify_ledger(ledger).ok
    events = read_ledger(ledger)
    offsets = {e["occurred_offset"] for e in events}
    assert offsets == {"+08:00", "+01:00"}  # the sequencing lab is in another time zone
    consumed = {e["specimen_id"] for e in events if e["event_type"] == "CONSUMED"}
    assert consumed == set(clean.assay_plan["SPECIMEN_ID"])
    assert clean.params["ledger"] == "custody/ledger.sqlite" and clean.params["custody_exports"] == "custody/export_*.csv"


def test_violations_are_listed_one_per_collection_and_cover_every_kind(dirty):
    truth = pd.read_csv(dirty.outdir / "truth" / "custody_violations.csv")
    assert set(truth["RULE"]) == set(VIOLATION_KINDS)
    assert truth["SPECIMEN_ID"].notna().sum() == (truth["RULE"] != "MISSED_COLLECTION").sum()
    assert not truth.duplicated(["USUBJID", "TIMEPOINT"]).any()
    # rate 0.1 of the (subject, timepoint) collections
    specimens = pd.read_csv(dirty.outdir / "truth" / "custody_specimens.csv")
    n_collections = specimens.loc[specimens["PARENT_SPECIMEN_ID"].isna(), ["USUBJID", "TIMEPOINT"]].drop_duplicates().shape[0]
    assert abs(len(truth) - 0.1 * n_collections) <= 2


def test_same_seed_same_exports(clean, tmp_path):
    again = simulate_trial(tmp_path / "again", n_subjects=54, seed=1, violation_rate=0.0)
    for path in sorted((clean.outdir / "custody").glob("*.csv")):
        assert filecmp.cmp(path, again.outdir / "custody" / path.name, shallow=False), path.name
    pd.testing.assert_frame_equal(clean.assay_plan, again.assay_plan)
