"""Read FCS 2.0 / 3.0 / 3.1 files through FlowKit (FlowIO underneath), with a documented tolerance.

What is read, and what is refused with one line naming the file and the reason:

- A data segment whose end offset is one byte past the data (the last byte given
  exclusive instead of inclusive; MACSQuant and some FlowJo exports) is read: FlowIO
  drops exactly that one byte (``ignore_offset_error``). Any other mismatch between the
  segment length and the data type is refused.
- HEADER and TEXT disagreeing on the DATA offsets (FCS 3.x) is read with the TEXT
  offsets only when the HEADER's are impossible (inside the HEADER/TEXT segments,
  before their own start, or past the end of the file) and the TEXT segment lies
  within the file after the TEXT segment. When both are plausible the file is refused:
  there is no way to tell which is right.
- A ``$TIMESTEP`` that is not a number is ignored (noted): the time channel stays in
  acquisition ticks, which the stability check needs only relatively.
- A file holding several data sets (``$NEXTDATA``; Beckman Coulter list-mode files
  store the same acquisition as FCS 2.0 and 3.0) is read when every data set holds
  the same number of events: the one with the highest FCS version. Otherwise refused.
- After reading, the events must number ``$TOT``.

Every tolerance applied is returned in ``FlowFile.notes`` (and goes to the QC table).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import flowio
import flowkit as fk

from ...errors import InputError

__all__ = ["FlowFile", "read_fcs"]

_HEADER_BYTES = 58


@dataclass(frozen=True)
class FlowFile:
    """An FCS file as read: the FlowKit sample and the tolerances applied to read it."""

    path: Path
    sample: fk.Sample
    notes: tuple[str, ...] = ()

    @property
    def event_count(self) -> int:
        return int(self.sample.event_count)

    @property
    def version(self) -> str:
        return str(self.sample.version)

    @property
    def channels(self) -> list[str]:
        return list(self.sample.pnn_labels)

    @property
    def markers(self) -> list[str]:
        return list(self.sample.pns_labels)

    def keywords(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.sample.get_metadata().items()}


def read_fcs(path: str | Path, *, sample_id: str | None = None) -> FlowFile:
    """Read one FCS file; raise :class:`InputError` (one line) when it cannot be trusted."""
    path = Path(path)
    if not path.is_file():
        raise InputError("FCS file not found", file=path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(_HEADER_BYTES)
    if size < _HEADER_BYTES or not head.startswith(b"FCS"):
        reason = f"truncated: {size} bytes, an FCS HEADER alone needs {_HEADER_BYTES}" if size < _HEADER_BYTES \
            else "not an FCS file (it does not start with 'FCS')"
        raise InputError(reason, file=path)
    notes: list[str] = []
    flow_data = _flow_data(path, size, notes)
    _check_timestep(flow_data, notes)
    try:
        sample = fk.Sample(flow_data, sample_id=sample_id or path.name)
    except (ValueError, KeyError, IndexError) as exc:
        raise InputError(f"not a readable FCS file: {_reason(exc)}", file=path) from None
    rows = sample.get_events(source="raw").shape[0]
    if rows != int(flow_data.event_count):
        raise InputError(f"the DATA segment holds {rows} events but $TOT says {flow_data.event_count}", file=path)
    return FlowFile(path=path, sample=sample, notes=tuple(notes))


def _flow_data(path: Path, size: int, notes: list[str]) -> flowio.FlowData:
    try:
        return _read_one(path, notes)
    except flowio.exceptions.MultipleDataSetsError:
        return _read_multi(path, notes)
    except flowio.exceptions.DataOffsetDiscrepancyError as exc:
        _check_discrepancy(path, size, exc)
        notes.append("HEADER and TEXT disagree on the DATA offsets; the HEADER's are impossible, "
                     "read with the TEXT offsets ($BEGINDATA/$ENDDATA)")
        return _read_one(path, notes, ignore_offset_discrepancy=True)


def _read_one(path: Path, notes: list[str], **options) -> flowio.FlowData:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            data = flowio.FlowData(os.fspath(path), ignore_offset_error=True, **options)
        except (flowio.exceptions.MultipleDataSetsError, flowio.exceptions.DataOffsetDiscrepancyError):
            raise
        except Exception as exc:  # FlowIO raises bare struct/Value/Index errors on damaged files
            raise InputError(f"not a readable FCS file: {_reason(exc)}", file=path) from None
    _note_warnings(caught, notes)
    return data


def _read_multi(path: Path, notes: list[str]) -> flowio.FlowData:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sets = flowio.read_multiple_data_sets(os.fspath(path), ignore_offset_error=True)
        except Exception as exc:
            raise InputError(f"not a readable FCS file (several data sets): {_reason(exc)}", file=path) from None
    _note_warnings(caught, notes, where=" (in one of its data sets)")
    counts = {int(d.event_count) for d in sets}
    if len(counts) != 1:
        raise InputError(f"holds {len(sets)} data sets with different event counts ({', '.join(map(str, sorted(counts)))}); "
                         "export one data set per file", file=path)
    best = max(range(len(sets)), key=lambda i: (sets[i].version, i))
    notes.append(f"holds {len(sets)} data sets of {counts.pop()} events each ($NEXTDATA); read data set {best + 1} "
                 f"(FCS {sets[best].version})")
    return sets[best]


def _check_discrepancy(path: Path, size: int, exc: Exception) -> None:
    """Raise unless the HEADER's DATA offsets are impossible and the TEXT's are plausible."""
    data = flowio.FlowData(os.fspath(path), only_text=True, ignore_offset_discrepancy=True)
    header, text = data.header, data.text
    text_end = max(header["text_stop"], header["text_start"])
    h_start, h_stop = header["data_start"], header["data_stop"]
    t_start, t_stop = int(text.get("begindata", -1)), int(text.get("enddata", -1))
    header_impossible = h_start <= text_end or h_stop >= size or h_stop < h_start
    text_plausible = text_end < t_start <= t_stop < size
    if not (header_impossible and text_plausible):
        raise InputError(f"HEADER and TEXT disagree on the DATA offsets and both are plausible ({_reason(exc)})",
                         file=path) from None


def _check_timestep(data: flowio.FlowData, notes: list[str]) -> None:
    value = data.text.get("timestep")
    if value is None or not value.strip():
        return
    try:
        float(value)
    except ValueError:
        data.text.pop("timestep")
        notes.append("$TIMESTEP is not a number; the time channel is left in acquisition ticks")


def _note_warnings(caught, notes: list[str], where: str = "") -> None:
    for w in caught:
        if "incorrect data offset" in str(w.message):
            notes.append(f"the DATA end offset is one byte past the data (exclusive end){where}; read without that byte")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
