"""Outcomes from ADaM: real public data sets against independent computations, RECIST rules, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from biomarkers.errors import InputError
from biomarkers.outcomes import derive_bor, derive_subjects, load_outcomes_config, read_adam, run_analysis
from biomarkers import schemas

DAYS_PER_MONTH = 30.4375


def km_median(times: np.ndarray, events: np.ndarray) -> float:
    """Product-limit estimate; median = first time the survival drops to 0.5 or below."""
    surv = 1.0
    for t in np.unique(times[events == 1]):
        at_risk = np.sum(times >= t)
        deaths = np.sum((times == t) & (events == 1))
        surv *= 1 - deaths / at_risk
        if surv <= 0.5:
            return float(t)
    return float("nan")


@pytest.fixture
def rcd(real_data, tmp_path):
    paths = {k: real_data(f"clinical/rcd_cad{k}.xpt") for k in ("sl", "tte", "rs")}
    config = tmp_path / "outcomes.yaml"
    config.write_text("adrs: {bor_paramcd: BESRSPI}\nadsl: {protocol_checks: false}\n")
    return paths, config


@pytest.mark.real_data
def test_orr_dcr_and_km_median_pfs_per_arm_match_the_raw_adam_rows(rcd, tmp_path):
    paths, config = rcd
    out = run_analysis(tmp_path, adsl=paths["sl"], adtte=paths["tte"], adrs=paths["rs"], config=config)

    # independent computation from the raw rows (pyreadstat, no package code)
    adsl, _ = pyreadstat.read_xport(str(paths["sl"]))
    adtte, _ = pyreadstat.read_xport(str(paths["tte"]))
    adrs, _ = pyreadstat.read_xport(str(paths["rs"]))
    bor = adrs[adrs.PARAMCD == "BESRSPI"].set_index("USUBJID")["AVALC"]
    pfs = adtte[adtte.PARAMCD == "PFS"].set_index("USUBJID")
    assoc = out["associations"]
    subjects = out["subjects"].set_index("USUBJID")
    assert len(subjects) == len(adsl) == 400
    arms = sorted(adsl.ARMCD.unique())
    assert len(arms) == 3
    for arm in arms:
        ids = adsl.loc[adsl.ARMCD == arm, "USUBJID"]
        resp = bor.reindex(ids)
        orr = resp.isin(["CR", "PR"]).mean()
        dcr = resp.isin(["CR", "PR", "SD", "NON-CR/NON-PD"]).mean()
        assert subjects.loc[ids, "RESPONDER"].mean() == pytest.approx(orr, abs=1e-12)
        assert subjects.loc[ids, "DISEASE_CONTROL"].mean() == pytest.approx(dcr, abs=1e-12)
        rate = assoc[(assoc.BIOMARKER == "ARMCD") & (assoc.GROUP == arm) & (assoc.ENDPOINT == "ORR")]
        assert rate.ESTIMATE.item() == pytest.approx(orr) and rate.N.item() == len(ids)
        rows = pfs.reindex(ids)
        assert (rows.AVALU == "DAYS").all()
        median = km_median((rows.AVAL / DAYS_PER_MONTH).to_numpy(), (rows.CNSR == 0).astype(int).to_numpy())
        km = assoc[(assoc.BIOMARKER == "ARMCD") & (assoc.GROUP == arm) & (assoc.ENDPOINT == "PFS") & (assoc.TEST == "Kaplan-Meier")]
        assert km.ESTIMATE.item() == pytest.approx(median, rel=1e-12)
        assert km.N_EVENTS.item() == int((rows.CNSR == 0).sum())
        assert km.CI_LOWER.item() < median < km.CI_UPPER.item()
    # the files are the declared tables, with the dictionary in their metadata
    meta = schemas.table_metadata(tmp_path / "analysis" / "subjects.parquet")
    assert meta["table"] == "analysis.subjects" and meta["provenance"]["exploratory"] is True
    assert (tmp_path / "analysis" / "plots" / "km_ARMCD.png").stat().st_size > 1000


@pytest.mark.real_data
def test_same_outcomes_from_transport_parquet_and_csv(rcd, tmp_path):
    paths, config = rcd
    cfg = load_outcomes_config(config)
    frames = {k: read_adam(p) for k, p in paths.items()}
    expected = derive_subjects(frames["sl"], frames["tte"], frames["rs"], cfg)
    copies = {}
    for k, frame in frames.items():
        keep = frame[[c for c in frame.columns if frame[c].dtype != object or c in
                      ("STUDYID", "USUBJID", "ARMCD", "STRATA1", "PARAMCD", "AVALU", "AVALC")]]
        copies[("parquet", k)] = tmp_path / f"{k}.parquet"
        keep.to_parquet(copies[("parquet", k)])
        copies[("csv", k)] = tmp_path / f"{k}.csv.gz"
        keep.to_csv(copies[("csv", k)], index=False)
    for fmt in ("parquet", "csv"):
        got = derive_subjects(*(read_adam(copies[(fmt, k)]) for k in ("sl", "tte", "rs")), cfg)
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)


@pytest.mark.real_data
def test_bor_derived_from_ovr_matches_pharmaverse_bor_and_confirmed_bor(real_data):
    # transport v5 ADSL/ADTTE (no AVALU: unit given in the config) and a CSV ADRS with OVR, BOR and CBOR
    adsl = read_adam(real_data("clinical/pharmaverse_adsl.xpt"))
    adtte = read_adam(real_data("clinical/pharmaverse_adtte_onco.xpt"))
    adrs = read_adam(real_data("clinical/pharmaverse_adrs_onco.csv.gz"))
    cfg = load_outcomes_config()
    cfg["adsl"]["stratum_variable"] = None
    cfg["adtte"]["unit_if_missing"] = "DAYS"
    # pharmaverse (admiral) uses a 28-day minimum for SD from the start of treatment
    cfg["adrs"].update(bor_source="derive", sd_min_days=28, confirmation_min_days=28, max_ne_between=1)
    for confirmation, paramcd in ((True, "CBOR"), (False, "BOR")):
        cfg["adrs"]["confirmation"] = confirmation
        got = derive_subjects(adsl, adtte, adrs, cfg).set_index("USUBJID")["BOR"]
        truth = adrs[adrs.PARAMCD == paramcd].set_index("USUBJID")["AVALC"]
        assessed = truth[truth != "MISSING"]
        assert len(assessed) == 8
        assert got.reindex(assessed.index).tolist() == assessed.tolist(), paramcd
        assert (got.drop(assessed.index) == "MISSING").all()
    # independent ORR and DCR per arm from the confirmed BOR records (ITT: missing = non-responder)
    cfg["adrs"]["bor_source"] = "paramcd"
    cfg["adrs"]["bor_paramcd"] = "CBOR"
    subjects = derive_subjects(adsl, adtte, adrs, cfg)
    cbor = adrs[adrs.PARAMCD == "CBOR"].set_index("USUBJID")["AVALC"]
    for arm, ids in adsl.groupby("ARMCD")["USUBJID"]:
        sel = subjects[subjects.ARMCD == arm]
        assert sel.RESPONDER.sum() == cbor.reindex(ids).isin(["CR", "PR"]).sum()
        assert sel.DISEASE_CONTROL.sum() == cbor.reindex(ids).isin(["CR", "PR", "SD", "NON-CR/NON-PD"]).sum()


def test_recist_confirmation_and_minimum_sd_windows():
    kw = dict(confirmation=True, confirmation_min_days=28, max_ne_between=1, sd_min_days=42)
    assert derive_bor([(42, "PR"), (84, "PR")], **kw) == "PR"
    assert derive_bor([(42, "PR"), (63, "PR")], **kw) == "SD"           # confirmation too early
    assert derive_bor([(42, "CR"), (63, "NE"), (84, "CR")], **kw) == "CR"
    assert derive_bor([(42, "CR"), (56, "NE"), (63, "NE"), (84, "CR")], **kw) == "SD"  # two NE in between
    assert derive_bor([(42, "PR"), (84, "SD"), (126, "PR")], **kw) == "SD"  # SD breaks the confirmation
    assert derive_bor([(21, "SD"), (35, "PD")], **kw) == "PD"           # SD before the minimum window
    assert derive_bor([(42, "PD"), (84, "PR"), (126, "PR")], **kw) == "PD"  # nothing after PD counts
    assert derive_bor([(42, "NON-CR/NON-PD")], **kw) == "NON-CR/NON-PD"
    assert derive_bor([(21, "NE")], **kw) == "NE"
    assert derive_bor([], **kw) == "MISSING"
    assert derive_bor([(42, "PR"), (63, "CR")], **{**kw, "confirmation": False}) == "CR"


# --- bad input -----------------------------------------------------------------

def _tiny(tmp_path, *, adsl=None, adtte=None, adrs=None):
    base_sl = pd.DataFrame({"STUDYID": "NCT07007182", "USUBJID": ["S1-001", "S1-002", "S1-003"], "ARMCD": ["EXP", "EXP", "CTRL"],
                            "STRATA1": ["CPS>=1", "CPS<1", "CPS>=1"], "RANDDT": "2025-01-01"})
    base_tte = pd.DataFrame({"STUDYID": "S1", "USUBJID": ["S1-001", "S1-001", "S1-002", "S1-002", "S1-003", "S1-003"],
                             "PARAMCD": ["PFS", "OS"] * 3, "AVAL": [100, 200, 50, 300, 30, 40],
                             "AVALU": "DAYS", "CNSR": [0, 1, 0, 0, 1, 1]})
    base_rs = pd.DataFrame({"STUDYID": "S1", "USUBJID": ["S1-001", "S1-002", "S1-003"], "PARAMCD": "BOR",
                            "AVALC": ["PR", "SD", "PD"]})
    paths = {}
    for name, frame, edit in (("adsl", base_sl, adsl), ("adtte", base_tte, adtte), ("adrs", base_rs, adrs)):
        if edit:
            frame = edit(frame.copy())
        paths[name] = tmp_path / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    return paths


def _set(row, column, value):
    def edit(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame
    return edit


BAD_INPUTS = [
    ("duplicate USUBJID", dict(adsl=_set(2, "USUBJID", "S1-001")), "adsl.csv, row 3, field 'USUBJID': duplicate USUBJID S1-001"),
    ("subject not in ADSL", dict(adtte=_set(4, "USUBJID", "S1-999")), "adtte.csv, row 5, field 'USUBJID': 1 subject(s) absent from ADSL: S1-999"),
    ("subject not in ADSL (ADRS)", dict(adrs=_set(0, "USUBJID", "S1-777")), "adrs.csv, row 1, field 'USUBJID': 1 subject(s) absent from ADSL: S1-777"),
    ("negative AVAL", dict(adtte=_set(2, "AVAL", -5)), "adtte.csv, row 3, field 'AVAL': PFS AVAL is negative"),
    ("missing AVAL", dict(adtte=_set(1, "AVAL", None)), "adtte.csv, row 2, field 'AVAL': OS AVAL is missing"),
    ("unknown AVALU", dict(adtte=_set(0, "AVALU", "FORTNIGHTS")), "adtte.csv, row 1, field 'AVALU': unknown time unit"),
    ("CNSR not 0/1", dict(adtte=_set(3, "CNSR", 2)), "adtte.csv, row 4, field 'CNSR': CNSR must be 0 (event) or 1 (censored)"),
    ("BOR not RECIST", dict(adrs=_set(1, "AVALC", "GOOD")), "adrs.csv, row 2, field 'AVALC': response 'GOOD' is not a RECIST 1.1 term"),
    ("missing variable", dict(adsl=lambda f: f.drop(columns=["ARMCD"])), "adsl.csv, field 'ARMCD': required ADSL variable is missing"),
]


@pytest.mark.parametrize("what,edits,message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_adam_input_is_one_line_naming_file_row_field_and_exit_2(tmp_path, capsys, what, edits, message):
    from biomarkers.cli import main

    paths = _tiny(tmp_path, **edits)
    results = tmp_path / "results"
    code = main(["analysis", "--results", str(results), "--adsl", str(paths["adsl"]), "--adtte", str(paths["adtte"]), "--adrs", str(paths["adrs"])])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert message in lines[0]
    assert not (results / "analysis").exists()


def test_bad_input_from_the_command_line_as_a_user_runs_it(tmp_path, cli):
    paths = _tiny(tmp_path, adtte=_set(3, "CNSR", 2))
    proc = cli("analysis", "--results", str(tmp_path / "r"), "--adsl", str(paths["adsl"]), "--adtte", str(paths["adtte"]), "--adrs", str(paths["adrs"]))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"biomarkers analysis: error: {paths['adtte']}, row 4, field 'CNSR': "
                                   "CNSR must be 0 (event) or 1 (censored) (got 2)")


def test_tiny_trial_end_to_end_months_and_flags(tmp_path):
    from biomarkers.cli import main

    paths = _tiny(tmp_path)
    assert main(["analysis", "--results", str(tmp_path / "r"), "--adsl", str(paths["adsl"]), "--adtte", str(paths["adtte"]), "--adrs", str(paths["adrs"])]) == 0
    subjects = schemas.read_table(tmp_path / "r" / "analysis" / "subjects.parquet")
    assert subjects.PFS_MONTHS.tolist() == pytest.approx([100 / DAYS_PER_MONTH, 50 / DAYS_PER_MONTH, 30 / DAYS_PER_MONTH])
    assert subjects.PFS_EVENT.tolist() == [1, 1, 0] and subjects.OS_EVENT.tolist() == [0, 1, 0]
    assert subjects.RESPONDER.tolist() == [True, False, False]
    assert subjects.DISEASE_CONTROL.tolist() == [True, True, False]
    assert subjects.STRATUM.tolist() == ["CPS>=1", "CPS<1", "CPS>=1"]


def test_population_flag_keeps_flagged_subjects_only(tmp_path):
    paths = _tiny(tmp_path, adsl=lambda f: f.assign(ITTFL=["Y", "N", "Y"]))
    config = tmp_path / "c.yaml"
    config.write_text("adsl: {population_flag: ITTFL, stratum_map: {'CPS>=1': POS, 'CPS<1': NEG}}\n")
    out = run_analysis(tmp_path / "r", adsl=paths["adsl"], adtte=paths["adtte"], adrs=paths["adrs"], config=config)
    assert out["subjects"].USUBJID.tolist() == ["S1-001", "S1-003"]
    assert out["subjects"].STRATUM.tolist() == ["POS", "POS"]
    assert out["wide"].USUBJID.tolist() == ["S1-001", "S1-003"]


def test_unknown_outcomes_config_key_is_an_input_error(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("adrs: {confirm: true}\n")
    with pytest.raises(InputError, match="confirm"):
        load_outcomes_config(config)


@pytest.mark.real_data
def test_no_direct_identifiers_reach_the_outputs(real_data, tmp_path):
    # pharmaverse ADSL carries birth dates (BRTHDTC); random.cdisc.data carries investigator names (INVNAM)
    adsl = read_adam(real_data("clinical/pharmaverse_adsl.xpt"))
    config = tmp_path / "c.yaml"
    config.write_text("adsl: {stratum_variable: null, protocol_checks: false}\nadtte: {unit_if_missing: DAYS}\n")
    run_analysis(tmp_path / "r", adsl=real_data("clinical/pharmaverse_adsl.xpt"), adtte=real_data("clinical/pharmaverse_adtte_onco.xpt"),
                 adrs=real_data("clinical/pharmaverse_adrs_onco.csv.gz"), config=config)
    from biomarkers.report import build_report

    html = build_report(tmp_path / "r").read_text()
    identifiers = set(adsl["BRTHDTC"].dropna().astype(str))
    assert identifiers and not any(value in html for value in identifiers)
    for path in (tmp_path / "r" / "analysis").glob("*.parquet"):
        frame = schemas.read_table(path)
        assert not {"BRTHDTC", "INVNAM", "AGE", "SEX", "RACE"} & set(frame.columns)
        text = frame.astype(str).to_numpy().ravel()
        assert not identifiers & set(text)


def test_same_inputs_same_outputs(tmp_path):
    from biomarkers.report import build_report

    paths = _tiny(tmp_path)
    outputs = []
    for name in ("a", "b"):
        results = tmp_path / name
        run_analysis(results, adsl=paths["adsl"], adtte=paths["adtte"], adrs=paths["adrs"])
        build_report(results)
        outputs.append({p.relative_to(results): p.read_bytes() for p in sorted(results.rglob("*")) if p.is_file()})
    assert outputs[0].keys() == outputs[1].keys() and len(outputs[0]) >= 6
    for rel in outputs[0]:
        if rel.suffix == ".png":
            assert outputs[0][rel] == outputs[1][rel], rel
        elif rel.suffix == ".parquet":
            pd.testing.assert_frame_equal(schemas.read_table(tmp_path / "a" / rel), schemas.read_table(tmp_path / "b" / rel))
    # the report names its results folder; apart from that it is identical
    html = [o[Path("report/index.html")].decode().replace(str(tmp_path / n), "X") for o, n in zip(outputs, "ab")]
    assert html[0] == html[1]
