import datetime as dt

import pytest

from biomarkers.errors import InputError
from biomarkers.protocol import load_protocol


@pytest.fixture(scope="module")
def protocol():
    return load_protocol()


def test_arms_and_randomization_match_the_trial(protocol):
    assert protocol.studyid == "NCT07007182"
    assert protocol.randomization["ratio"] == {"EXP": 2, "CTRL": 1}
    assert protocol.randomization["strata"]["CPS"] == ["CPS>=1", "CPS<1"]
    assert set(protocol.arms) == {"EXP", "CTRL"}


def test_baseline_expects_biopsy_blood_germline_and_stool(protocol):
    required, optional = protocol.expected_types("EXP", "BASELINE")
    assert required == {"BIOPSY_FFPE", "BIOPSY_FF", "PLASMA", "SERUM", "PBMC", "BUFFY_COAT", "STOOL"}
    assert optional == set()
    assert protocol.expected_types("CTRL", "SURGERY") == (set(), set())
    assert protocol.expected_types("EXP", "EOT")[1] == {"BIOPSY_FFPE"}


def test_due_timepoints_follow_milestones_and_cutoff(protocol):
    c1 = dt.date(2026, 1, 5)
    milestones = {"C1D1": c1, "C2D1": c1 + dt.timedelta(days=21), "MAINT_START": dt.date(2026, 11, 1), "MAINT_END": dt.date(2027, 5, 1)}
    due = {d.id: d for d in protocol.due_timepoints("EXP", milestones, cutoff=dt.date(2027, 12, 31))}
    # no surgery milestone: no surgery-anchored timepoints; maintenance every 84 days
    assert set(due) == {"BASELINE", "C2D1", "MAINT_Q12W_1", "MAINT_Q12W_2"}
    assert due["BASELINE"].window_start == c1 - dt.timedelta(days=28)
    assert due["MAINT_Q12W_2"].target == dt.date(2026, 11, 1) + dt.timedelta(days=168)
    # a cutoff before a window closes means that timepoint is not yet due
    early = {d.id for d in protocol.due_timepoints("EXP", milestones, cutoff=c1 + dt.timedelta(days=20))}
    assert early == {"BASELINE"}


def test_repeated_timepoint_ids_resolve(protocol):
    assert protocol.timepoint("EXP", "MAINT_Q12W_3").id == "MAINT_Q12W"
    assert "MAINT_Q12W_7" in protocol.timepoint_ids()


def test_bad_protocol_names_file_and_field(tmp_path):
    text = load_protocol().path.read_text().replace("storage_celsius: [15, 25]", "storage_celsius: [15]", 1)
    bad = tmp_path / "protocol.yaml"
    bad.write_text(text)
    with pytest.raises(InputError) as info:
        load_protocol(bad)
    assert "protocol.yaml" in str(info.value)
    assert "specimen_types.BIOPSY_FFPE.storage_celsius" in str(info.value)


def test_unknown_collection_in_timepoint_is_an_error(tmp_path):
    text = load_protocol().path.read_text().replace("expect: [blood]}", "expect: [bloood]}", 1)
    bad = tmp_path / "protocol.yaml"
    bad.write_text(text)
    with pytest.raises(InputError, match="'bloood' is neither a specimen type nor a collection"):
        load_protocol(bad)


def test_timepoints_sort_in_every_arms_order():
    """Merged over arms: each arm's schedule keeps its order; repeats in number order; unknown labels last."""
    protocol = load_protocol()
    key = protocol.timepoint_sort_key()
    labels = ["EOT", "MAINT_Q12W_10", "END_CHEMO", "MAINT_Q12W_2", "UNPLANNED", "BASELINE", "POST_IMRT_W4", "C2D1"]
    ordered = sorted(labels, key=key)
    assert ordered[0] == "BASELINE" and ordered[-2:] == ["EOT", "UNPLANNED"]
    assert ordered.index("MAINT_Q12W_2") < ordered.index("MAINT_Q12W_10")
    for arm in protocol.arms.values():
        ids = [tp.id for tp in arm.timepoints]
        assert sorted(ids, key=key) == ids


def test_a_settings_file_is_parsed_once_while_unchanged_and_again_when_changed(tmp_path):
    """Per-specimen tasks read the same YAML files many times (io.load_once): the second read is the
    kept document, a copy the caller may change; an edited file is read again."""
    import os

    from biomarkers import io
    from biomarkers.assets import load_valid_yaml

    path = tmp_path / "settings.yaml"
    path.write_text("a: 1\nb: [x]\n")
    calls = []

    def counting(p):
        calls.append(p)
        return {"text": p.read_text()}

    first = io.load_once(path, counting)
    assert io.load_once(path, counting) is first and len(calls) == 1
    doc = load_valid_yaml(path, None)
    doc["b"].append("changed by a caller")
    assert load_valid_yaml(path, None) == {"a": 1, "b": ["x"]}
    path.write_text("a: 2\nb: [x]\n")
    os.utime(path, ns=(1, 1))  # a different modification time even on a coarse clock
    assert load_valid_yaml(path, None) == {"a": 2, "b": ["x"]}
    assert io.load_once(path, counting)["text"] == "a: 2\nb: [x]\n" and len(calls) == 2
