"""`custody check`: every injected violation found with its rule and specimen, nothing flagged in a clean trial."""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3

import pandas as pd
import pytest

from biomarkers.custody import check_ledger, import_exports, read_ledger, record_event
from biomarkers.custody._ledger import _DDL
from biomarkers.pipeline import load_params, run_pipeline
from biomarkers.schemas import table_metadata
from custody_helpers import simulate_custody_trial as simulate_trial


def _samplesheet(trial, path):
    """Samplesheet rows for the assay plan; the BAMs need not exist for the custody check."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subject", "specimen", "timepoint", "specimen_type", "assay", "file", "normal_specimen", "panel"])
        for row in trial.assay_plan.itertuples(index=False):
            normal = row.NORMAL_SPECIMEN_ID if isinstance(row.NORMAL_SPECIMEN_ID, str) else ""
            panel = "PBMC16" if row.ASSAY == "flow_fcs" else ""
            writer.writerow([row.USUBJID, row.SPECIMEN_ID, row.TIMEPOINT, row.SPECIMEN_TYPE, row.ASSAY, f"bam/{row.SPECIMEN_ID}.bam", normal, panel])
            if row.ASSAY == "wes_tumor":  # as the genome stage does: the somatic VCF is WES too
                writer.writerow([row.USUBJID, row.SPECIMEN_ID, row.TIMEPOINT, "DNA", "vcf_somatic", f"vcf/{row.SPECIMEN_ID}.vcf.gz", normal, ""])
    return path


def _checked(tmp_path_factory, name, rate):
    base = tmp_path_factory.mktemp(name)
    trial = simulate_trial(base / "trial", n_subjects=54, seed=1, violation_rate=rate)
    ledger = base / "ledger.sqlite"
    import_exports(ledger, sorted((trial.outdir / "custody").glob("export_*.csv")), subjects=set(trial.subjects["USUBJID"]))
    sheet = _samplesheet(trial, base / "samplesheet.csv")
    return trial, ledger, sheet, base


@pytest.fixture(scope="module")
def dirty(tmp_path_factory):
    trial, ledger, sheet, base = _checked(tmp_path_factory, "dirty", 0.1)
    return trial, ledger, sheet, base


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    trial, ledger, sheet, base = _checked(tmp_path_factory, "clean", 0.0)
    result = check_ledger(ledger, subjects=trial.outdir / "subjects.csv", milestones=trial.outdir / "milestones.csv",
                          samplesheet=sheet, data_cutoff=pd.Timestamp(trial.data_cutoff).date(), outdir=base / "out")
    return trial, ledger, result, base


def test_every_injected_violation_is_found_and_nothing_else(dirty, cli):
    trial, ledger, sheet, base = dirty
    out = base / "out"
    result = cli("custody", "check", "--ledger", str(ledger), "--subjects", str(trial.outdir / "subjects.csv"),
                 "--milestones", str(trial.outdir / "milestones.csv"), "--samplesheet", str(sheet),
                 "--data-cutoff", trial.data_cutoff, "--outdir", str(out))
    assert result.returncode == 0, result.stderr
    issues = pd.read_parquet(out / "custody" / "issues.parquet")
    truth = pd.read_csv(trial.outdir / "truth" / "custody_violations.csv")
    assert len(truth) >= 30 and truth["RULE"].nunique() == 16
    for v in truth.itertuples():
        hits = issues[(issues["RULE"] == v.RULE) & (issues["USUBJID"] == v.USUBJID) & (issues["TIMEPOINT"] == v.TIMEPOINT)]
        if v.RULE == "MISSED_COLLECTION":
            hits = hits[hits["SPECIMEN_ID"].isna() & hits["MESSAGE"].str.startswith(f"{v.SPECIMEN_TYPE} expected")]
        else:
            hits = hits[hits["SPECIMEN_ID"] == v.SPECIMEN_ID]
        assert len(hits) == 1, (v, issues[issues["USUBJID"] == v.USUBJID])
    # and nothing but the injected violations is flagged
    assert len(issues) == len(truth)
    unconsumed = issues.loc[issues["RULE"] == "ASSAY_WITHOUT_CONSUMPTION", "MESSAGE"]
    assert unconsumed.str.contains("lists vcf_somatic, wes_tumor file\\(s\\)").all()
    rules = issues.groupby("RULE")["SEVERITY"].first()
    assert rules["STORAGE_POSITION_CONFLICT"] == "ERROR" and rules["PROCESSING_DELAY"] == "WARNING"
    specimens = pd.read_parquet(out / "custody" / "specimens.parquet")
    flagged = specimens.set_index("SPECIMEN_ID")["N_ISSUES"]
    assert flagged.sum() == issues["SPECIMEN_ID"].notna().sum()
    withdrawn = set(truth.loc[truth["RULE"] == "USE_AFTER_CONSENT_WITHDRAWAL", "USUBJID"])
    assert set(specimens.loc[specimens["CONSENT_STATUS"] == "WITHDRAWN", "USUBJID"]) == withdrawn
    assert (out / "custody" / "completeness.png").stat().st_size > 10_000
    assert (out / "custody" / "issues_by_rule.png").stat().st_size > 10_000


def test_clean_trial_has_no_findings_and_complete_collections(clean):
    trial, ledger, result, base = clean
    assert result.issues.empty
    comp = result.completeness
    assert comp["EXPECTED"].sum() > 1000 and comp.loc[comp["EXPECTED"], "COLLECTED"].all()
    truth_specimens = pd.read_csv(trial.outdir / "truth" / "custody_specimens.csv")
    spec = result.specimens.set_index("SPECIMEN_ID")
    assert set(spec.index) == set(truth_specimens["SPECIMEN_ID"])
    assert (spec.loc[truth_specimens["SPECIMEN_ID"], "N_EVENTS"].to_numpy() == truth_specimens["N_EVENTS"].to_numpy()).all()
    # status and location: DNA consumed at the sequencing lab; leaves stored in the biobank
    # what the assays consumed: DNA for WES, RNA for RNA-seq, whole PBMC vials and frozen tissue for single-cell
    # (at the sequencing lab), PBMC vials for flow cytometry (at the flow lab)
    consumed = spec.loc[trial.assay_plan["SPECIMEN_ID"]]
    lab = trial.assay_plan["ASSAY"].map(lambda a: "FLOWLAB" if a == "flow_fcs" else "SEQLAB").to_numpy()
    assert (consumed["STATUS"] == "CONSUMED").all() and (consumed["SITE"].to_numpy() == lab).all()
    assert set(spec[spec["SPECIMEN_TYPE"].isin(["DNA", "RNA"])].index) <= set(trial.assay_plan["SPECIMEN_ID"])
    stored = spec[spec["STATUS"] == "STORED"]
    assert stored["LOCATION"].str.match(r"^BIOBANK-(F80|LN2|RT|F20)-01/R\d\d/B\d\d/[A-I]/[1-9]$").all()
    assert stored["LOCATION"].is_unique
    germline_sources = spec.loc[trial.assay_plan.loc[trial.assay_plan["ASSAY"] == "wes_normal", "SPECIMEN_ID"], "PARENT_SPECIMEN_ID"]
    assert (spec.loc[germline_sources, "FREEZE_THAW_COUNT"] == 1).all()
    # lineage: RELSPEC levels (1 = primary), aliquots of plasma at level 3
    lineage = result.lineage.set_index("REFID")
    assert (lineage["LEVEL"] == spec["LEVEL"] + 1).all()
    aliquot = spec[(spec["SPECIMEN_TYPE"] == "PLASMA") & (spec["LEVEL"] == 2)].index[0]
    assert lineage.loc[aliquot, "LEVEL"] == 3 and lineage.loc[lineage.loc[aliquot, "PARENT"], "SPEC"] == "PLASMA"
    # events: one row per ledger event, local times with offsets, hash carried over
    raw = read_ledger(ledger)
    events = result.events
    assert len(events) == len(raw) and list(events["HASH"]) == [e["hash"] for e in raw]
    assert events["BESTDTC"].str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[18]:00$").all()
    assert set(events.loc[events["BETERM"] == "ALIQUOTED", "BEDECOD"]) == {"DERIVED"}
    assert not events["VOIDED"].any()
    meta = table_metadata(base / "out" / "custody" / "specimens.parquet")
    assert meta["table"] == "custody.specimens" and meta["provenance"]["data_cutoff"] == trial.data_cutoff
    prov = meta["provenance"]
    assert prov["data_cutoff_source"] == "given" and prov["ledger_head"] == raw[-1]["hash"]
    assert prov["ledger_anchor"].startswith(f"matches seq {len(raw)} ") and prov["ledger_signing"] == "unsigned"


def test_report_shows_the_ledger_head_and_anchor_status(clean, tmp_path):
    from biomarkers.report._context import ReportContext
    from biomarkers.report._sections import _ledger_status
    from biomarkers.protocol import load_protocol

    trial, ledger, _, base = clean
    text = _ledger_status(ReportContext(base / "out", load_protocol()))
    head = read_ledger(ledger)[-1]["hash"]
    assert f"head hash <code>{head}</code>; unsigned.</p>" in text
    assert '<p class="note">Anchor: matches seq ' in text and f"Data cut-off {trial.data_cutoff} (given)." in text


def test_duplicate_creation_and_events_after_the_cutoff_are_flagged(clean, tmp_path):
    trial, ledger, _, _ = clean
    copy = tmp_path / "ledger.sqlite"
    copy.write_bytes(ledger.read_bytes())
    events = read_ledger(copy)
    first = next(e for e in events if e["event_type"] == "COLLECTED")
    late = {"subject_id": first["subject_id"], "specimen_id": first["specimen_id"], "event_id": "LATE-1",
            "event_type": "THAWED", "occurred_at": "2052-01-01T09:00:00+08:00", "recorded_at": "2052-01-01T09:00:00+08:00",
            "actor_id": "BB-QA01", "site": "BIOBANK"}
    record_event(copy, late)
    # a second creation of the same specimen, as a ledger filled before validation and append were one transaction holds
    twice = {k: v for k, v in first.items() if k not in ("seq", "hash")} | {"event_id": "TWICE-1"}
    from biomarkers.custody import append_events

    append_events(copy, [twice])
    result = check_ledger(copy, subjects=trial.outdir / "subjects.csv", milestones=trial.outdir / "milestones.csv",
                          data_cutoff=pd.Timestamp(trial.data_cutoff).date())
    issues = result.issues
    twice = issues[issues["RULE"] == "DUPLICATE_SPECIMEN"]
    assert list(twice["EVENT_ID"]) == ["TWICE-1"] and set(twice["SEVERITY"]) == {"ERROR"}
    assert twice["MESSAGE"].iloc[0] == f"specimen created twice: COLLECTED event TWICE-1 after COLLECTED event {first['event_id']}"
    late = issues[issues["RULE"] == "EVENT_AFTER_CUTOFF"]
    assert list(late["EVENT_ID"]) == ["LATE-1"] and set(late["SEVERITY"]) == {"WARNING"}
    assert late["MESSAGE"].iloc[0] == f"THAWED event happened on 2052-01-01, after the data cut-off {trial.data_cutoff}"
    # without a cut-off the check is as of today: the future-dated event is flagged, and the cut-off is not moved to 2052
    today = check_ledger(copy, subjects=trial.outdir / "subjects.csv", milestones=trial.outdir / "milestones.csv")
    assert today.data_cutoff == dt.datetime.now(dt.timezone.utc).date() and today.data_cutoff_source.startswith("none given")
    assert "LATE-1" in set(today.issues.loc[today.issues["RULE"] == "EVENT_AFTER_CUTOFF", "EVENT_ID"])


def test_sprec_codes_follow_the_events(clean):
    _, _, result, _ = clean
    spec = result.specimens.set_index("SPECIMEN_ID")
    by_type = spec.groupby("SPECIMEN_TYPE")["SPREC"]
    # plasma aliquots: double spun, K2EDTA, <2 h at RT, 2000 g 10 min RT with brake, then a
    # 16000 g spin (outside the listed options: Z), frozen <1 h after at 2-10 C, stored at -80 C
    plasma = spec[(spec["SPECIMEN_TYPE"] == "PLASMA") & (spec["LEVEL"] == 2)]["SPREC"]
    assert set(plasma) == {"PL2-PED-A-A-Z-F-B"}
    assert set(spec[(spec["SPECIMEN_TYPE"] == "SERUM") & (spec["LEVEL"] == 2)]["SPREC"]) == {"SER-SST-A-A-N-A-B"}
    pbmc = spec[(spec["SPECIMEN_TYPE"] == "PBMC") & (spec["LEVEL"] == 2)]["SPREC"]  # the vials
    assert set(pbmc) == {"CEL-SHP-A-Z-N-A-D"}  # Ficoll 800 g 20 min: Z; LN2: D
    assert set(by_type.get_group("STOOL")) == {"STL-ZZZ-N-N-N-N-B"}
    # biopsies: warm ischaemia not recorded -> X; FFPE stored at room temperature: Z
    ffpe = by_type.get_group("BIOPSY_FFPE").str.split("-", expand=True)
    assert set(ffpe[0]) == {"TIS"} and set(ffpe[1]) == {"BPS"} and set(ffpe[2]) == {"X"} and set(ffpe[4]) == {"NBF"}
    assert set(ffpe[3]) <= set("BCDE") and set(ffpe[5]) <= set("EF")  # 10-40 min cold, 18-30 h in formalin
    tumour_ff = by_type.get_group("TUMOUR_FF").str.split("-", expand=True)
    assert set(tumour_ff[1]) == {"SRP"} and set(tumour_ff[2]) <= set("CDE") and set(tumour_ff[4]) == {"SNP"} and set(tumour_ff[5]) == {"N"}
    assert spec.loc[spec["SPECIMEN_TYPE"] == "DNA", "SPREC"].isna().all()


def test_corrections_and_voids_change_the_effective_events(clean, tmp_path):
    trial, ledger, _, _ = clean
    copy = tmp_path / "ledger.sqlite"
    copy.write_bytes(ledger.read_bytes())
    events = read_ledger(copy)
    stored = next(e for e in events if e["event_type"] == "STORED" and e["site"] == "BIOBANK" and e["temperature_c"] == -80.0)
    subject = stored["subject_id"]
    base = {"subject_id": subject, "occurred_at": "2027-01-01T09:00:00+08:00", "recorded_at": "2027-01-01T09:00:00+08:00",
            "actor_id": "BB-QA01", "site": "BIOBANK"}
    record_event(copy, {**base, "event_id": "FIX-1", "event_type": "CORRECTED", "target_event_id": stored["event_id"],
                        "corrected_field": "temperature_c", "corrected_value": "-20", "reason": "freezer log shows -20"})
    spare = next(e for e in events if e["event_type"] == "STORED" and e["site"] == "BIOBANK" and e["subject_id"] == subject
                 and e["specimen_id"] != stored["specimen_id"])
    record_event(copy, {**base, "event_id": "DUP-1", "event_type": "THAWED", "specimen_id": spare["specimen_id"], "temperature_c": "4"})
    record_event(copy, {**base, "event_id": "DUP-2", "event_type": "THAWED", "specimen_id": spare["specimen_id"], "temperature_c": "4"})
    record_event(copy, {**base, "event_id": "VOID-1", "event_type": "VOIDED", "target_event_id": "DUP-2", "reason": "entered twice"})
    result = check_ledger(copy, subjects=trial.outdir / "subjects.csv", milestones=trial.outdir / "milestones.csv",
                          data_cutoff=pd.Timestamp(trial.data_cutoff).date())
    issues = result.issues
    assert list(issues["RULE"]) == ["STORAGE_TEMPERATURE"]
    assert issues["SPECIMEN_ID"].iloc[0] == stored["specimen_id"] and issues["EVENT_ID"].iloc[0] == stored["event_id"]
    ev = result.events.set_index("EVENT_ID")
    assert ev.loc[stored["event_id"], "CORRECTED_BY"] == "FIX-1" and '"temperature_c":-20.0' in ev.loc[stored["event_id"], "DETAILS"]
    assert bool(ev.loc["DUP-2", "VOIDED"]) and not bool(ev.loc["DUP-1", "VOIDED"])
    assert result.specimens.set_index("SPECIMEN_ID").loc[spare["specimen_id"], "FREEZE_THAW_COUNT"] == 1
    assert "FIX-1" not in ev.index and "VOID-1" not in ev.index


def test_unknown_subject_is_flagged_when_the_ledger_was_filled_without_the_list(clean, tmp_path):
    trial, _, _, _ = clean
    ledger = tmp_path / "ledger.sqlite"
    stranger = "NCT07007182-03-999"
    record_event(ledger, {"event_id": "X1", "event_type": "COLLECTED", "subject_id": stranger, "specimen_id": "SPX-0001",
                          "specimen_type": "STOOL", "timepoint": "BASELINE", "occurred_at": "2025-03-01T08:00:00+08:00",
                          "recorded_at": "2025-03-01T08:10:00+08:00", "actor_id": "S1", "site": "SITE03"})
    result = check_ledger(ledger, subjects=trial.outdir / "subjects.csv", milestones=trial.outdir / "milestones.csv")
    rules = result.issues.set_index("RULE")
    assert rules.loc["UNKNOWN_SUBJECT", "SEVERITY"] == "ERROR" and rules.loc["UNKNOWN_SUBJECT", "SPECIMEN_ID"] == "SPX-0001"


def test_check_refuses_a_tampered_ledger_and_writes_nothing(clean, tmp_path, cli):
    trial, ledger, _, _ = clean
    copy = tmp_path / "ledger.sqlite"
    copy.write_bytes(ledger.read_bytes())
    con = sqlite3.connect(copy)
    con.execute("DROP TRIGGER events_append_only_update")
    seq = con.execute("SELECT min(seq) FROM events WHERE seq >= 100 AND payload LIKE '%-80.0%'").fetchone()[0]
    con.execute("UPDATE events SET payload = replace(payload, '-80.0', '-81.0') WHERE seq = ?", (seq,))
    con.commit()
    con.executescript(_DDL)
    con.close()
    out = tmp_path / "out"
    result = cli("custody", "check", "--ledger", str(copy), "--subjects", str(trial.outdir / "subjects.csv"),
                 "--milestones", str(trial.outdir / "milestones.csv"), "--outdir", str(out))
    assert result.returncode == 3 and f"(seq {seq})" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_subjects_file_is_one_line_exit_2(clean, tmp_path, cli):
    trial, ledger, _, _ = clean
    bad = tmp_path / "subjects.csv"
    bad.write_text(trial.outdir.joinpath("subjects.csv").read_text().replace("RANDDT", "RAND_DATE"))
    out = tmp_path / "out"
    result = cli("custody", "check", "--ledger", str(ledger), "--subjects", str(bad),
                 "--milestones", str(trial.outdir / "milestones.csv"), "--outdir", str(out))
    assert result.returncode == 2
    assert result.stderr.strip() == f"biomarkers custody: error: {bad}, line 1, field 'RANDDT': required column is missing from the header"
    assert not out.exists()


def test_pipeline_step_imports_checks_and_is_idempotent(clean, tmp_path):
    trial, _, _, _ = clean
    params = load_params(trial.outdir / "params.yaml", {"outdir": str(tmp_path / "results")})
    params["ledger"] = str(tmp_path / "ledger.sqlite")
    assert run_pipeline(params, only=["custody"]) == {"custody": "done"}
    first = pd.read_parquet(tmp_path / "results" / "custody" / "events.parquet")
    assert run_pipeline(params, only=["custody"]) == {"custody": "done"}  # the second import adds nothing
    again = pd.read_parquet(tmp_path / "results" / "custody" / "events.parquet")
    pd.testing.assert_frame_equal(first, again)
    assert pd.read_parquet(tmp_path / "results" / "custody" / "issues.parquet").empty
    inputs = pd.read_parquet(tmp_path / "results" / "pipeline_info" / "inputs.parquet")
    assert (inputs["ROLE"] == "custody_export").sum() == 6  # three sites, the biobank, the sequencing and flow labs


def test_empty_ledger_gives_empty_tables(clean, tmp_path):
    from biomarkers.custody import append_events

    trial, _, _, _ = clean
    ledger = tmp_path / "empty.sqlite"
    append_events(ledger, [])
    # a cut-off before the first randomization: nothing is due yet
    result = check_ledger(ledger, subjects=trial.outdir / "subjects.csv", milestones=trial.outdir / "milestones.csv",
                          data_cutoff="2024-12-31", outdir=tmp_path / "out")
    assert result.specimens.empty and result.issues.empty and result.completeness.empty
    assert sorted(p.name for p in (tmp_path / "out" / "custody").iterdir()) == [
        "completeness.parquet", "completeness.png", "events.parquet", "issues.parquet", "issues_by_rule.png",
        "lineage.parquet", "specimens.parquet"]
