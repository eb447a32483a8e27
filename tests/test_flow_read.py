"""Reading FCS files: every real instrument and non-compliant file is read with its event count or refused in one line."""

from __future__ import annotations

import flowio
import numpy as np
import pytest

from biomarkers.errors import InputError
from biomarkers.immune import flow

pytestmark = pytest.mark.real_data

# Event counts: the files' $TOT, which FlowKit's own tests and the data README confirm
# (65,016 for the FACSAria file, 11,585 Fortessa, 14,945 LSR-II, 10,000 MACSQuant, 725 CyFlow).
READ = {
    "instruments/facsaria_human_tcell_100715.fcs": ("2.0", 65016, 16, ()),
    "instruments/bd_fortessa_fcs3.0.fcs": ("3.0", 11585, 11, ()),
    "instruments/bd_lsrii_hts_fcs3.0.fcs": ("3.0", 14945, 11, ()),
    "instruments/miltenyi_macsquant_fcs3.1.fcs": ("3.1", 10000, 19, ("one byte past the data",)),
    "instruments/bd_facscalibur_fcs2.0.fcs": ("2.0", 37395, 8, ()),
    "instruments/sysmex_cyflow_cube8.fcs": ("3.0", 725, 10, ()),
    "instruments/flowkit_test_comp_example.fcs": ("3.0", 10703, 18, ("one byte past the data",)),
    "noncompliant/coulter.lmd": ("3.0", 18110, 8, ("(in one of its data sets)", "2 data sets")),
    "noncompliant/data_start_offset_discrepancy_example.fcs": ("3.0", 2, 26, ("HEADER's are impossible", "$TIMESTEP")),
    "noncompliant/data_stop_offset_discrepancy_example.fcs": ("3.0", 2, 26, ("HEADER's are impossible", "$TIMESTEP")),
    "noncompliant/index_sorted_example.fcs": ("3.0", 384, 13, ()),
    "gate_ref/data1.fcs": ("2.0", 13367, 8, ()),
    "flowjo/test_data_diamond_01.fcs": ("3.1", 200000, 2, ()),
}


def _tot(path) -> int:
    """$TOT of the first data set, read from the TEXT segment without FlowIO."""
    raw = path.read_bytes()
    start, stop = int(raw[10:18]), int(raw[18:26])
    text = raw[start:stop + 1]
    delimiter = text[:1]
    fields = text[1:].split(delimiter)
    keys = [f.upper() for f in fields[0::2]]
    return int(fields[2 * keys.index(b"$TOT") + 1])


@pytest.mark.parametrize("name", sorted(READ))
def test_real_files_are_read_with_their_event_count(real_data, name):
    version, events, channels, notes = READ[name]
    path = real_data(f"fcs/{name}")
    result = flow.read_fcs(path)
    assert (result.version, result.event_count, len(result.channels)) == (version, events, channels)
    assert result.sample.get_events(source="raw").shape == (events, channels)
    assert _tot(path) == events
    assert len(result.notes) == len(notes)
    for fragment, note in zip(notes, result.notes):
        assert fragment in note


def test_multi_data_set_file_reads_the_fcs3_copy_of_the_same_events(real_data):
    path = real_data("fcs/noncompliant/coulter.lmd")
    with pytest.warns(UserWarning, match="incorrect data offset"):
        sets = flowio.read_multiple_data_sets(str(path), ignore_offset_error=True)
    assert [s.version for s in sets] == ["2.0", "3.0"] and {int(s.event_count) for s in sets} == {18110}
    result = flow.read_fcs(path)
    assert result.channels == list(sets[1].pnn_labels)


def test_corrupted_file_is_refused_in_one_line(real_data):
    path = real_data("fcs/instruments/corrupted.fcs")
    with pytest.raises(InputError) as err:
        flow.read_fcs(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "truncated: 10 bytes" in message


def test_truncated_and_non_fcs_files_are_refused(real_data, tmp_path):
    source = real_data("fcs/instruments/bd_fortessa_fcs3.0.fcs").read_bytes()
    cut = tmp_path / "cut.fcs"
    cut.write_bytes(source[: len(source) // 2])
    with pytest.raises(InputError, match=r"cut\.fcs: not a readable FCS file: .*file size"):
        flow.read_fcs(cut)
    text = tmp_path / "notes.fcs"
    text.write_bytes(b"sample,marker\n" * 10)
    with pytest.raises(InputError, match="does not start with 'FCS'"):
        flow.read_fcs(text)
    with pytest.raises(InputError, match="FCS file not found"):
        flow.read_fcs(tmp_path / "absent.fcs")


def _with_header_offsets(source: bytes, start: int, stop: int) -> bytes:
    header = bytearray(source[:58])
    header[26:34] = f"{start:>8}".encode()
    header[34:42] = f"{stop:>8}".encode()
    return bytes(header) + source[58:]


def test_offset_discrepancy_is_read_only_when_the_header_is_impossible(real_data, tmp_path):
    source = real_data("fcs/instruments/bd_fortessa_fcs3.0.fcs").read_bytes()
    meta = flowio.FlowData(str(real_data("fcs/instruments/bd_fortessa_fcs3.0.fcs")), only_text=True)
    begin, end = int(meta.text["begindata"]), int(meta.text["enddata"])
    # HEADER pointing inside the TEXT segment: impossible, read with TEXT offsets
    inside = tmp_path / "inside.fcs"
    inside.write_bytes(_with_header_offsets(source, 100, end))
    assert flow.read_fcs(inside).event_count == 11585
    # HEADER pointing past the end of the file: impossible, read
    beyond = tmp_path / "beyond.fcs"
    beyond.write_bytes(_with_header_offsets(source, begin, len(source) + 500))
    assert flow.read_fcs(beyond).event_count == 11585
    # a HEADER that is plausible but disagrees: refused, one line
    plausible = tmp_path / "plausible.fcs"
    plausible.write_bytes(_with_header_offsets(source, begin + 8, end))
    with pytest.raises(InputError, match="both are plausible"):
        flow.read_fcs(plausible)


@pytest.mark.parametrize("name, order", [("instruments/bd_fortessa_fcs3.0.fcs", ">f4"),
                                         ("instruments/miltenyi_macsquant_fcs3.1.fcs", "<f4")])
def test_events_equal_the_data_segment_decoded_independently(real_data, name, order):
    """Float data with unit gain: the events are the DATA segment's numbers (time scaled by $TIMESTEP)."""
    path = real_data(f"fcs/{name}")
    result = flow.read_fcs(path)
    keywords = result.sample.get_metadata()
    begin, n_par, n_tot = int(keywords["begindata"]), int(keywords["par"]), int(keywords["tot"])
    data = np.frombuffer(path.read_bytes()[begin:begin + 4 * n_par * n_tot], dtype=order).reshape(n_tot, n_par)
    events = result.sample.get_events(source="raw")
    time = result.channels.index("Time")
    others = [j for j in range(n_par) if j != time]
    assert np.array_equal(events[:, others], data[:, others].astype(float))
    assert np.allclose(events[:, time], data[:, time] * float(keywords["timestep"]))
