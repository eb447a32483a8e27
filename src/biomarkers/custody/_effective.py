"""Effective events: the ledger as it stands after CORRECTED and VOIDED events, with parsed times.

A VOIDED event is kept but marked ``_voided``; a CORRECTED event's new value replaces
the old one (``_corrected_by`` names the correction). Times become UTC instants in
``_t`` (occurred) and ``_r`` (recorded); :func:`local_time` turns them back into the
local time of the site that recorded them, which is what messages and visit windows use.
"""

from __future__ import annotations

import datetime as dt

from ._events import _parse_time, _validator

__all__ = ["effective_events", "local_time", "minute_text"]

_TZ_CACHE: dict[str, dt.timezone] = {}


def _tz(offset: str | None) -> dt.timezone:
    offset = offset or "+00:00"
    if offset not in _TZ_CACHE:
        sign = -1 if offset[0] == "-" else 1
        hours, minutes = offset[1:].split(":")
        _TZ_CACHE[offset] = dt.timezone(sign * dt.timedelta(hours=int(hours), minutes=int(minutes)))
    return _TZ_CACHE[offset]


def local_time(e: dict, key: str = "occurred") -> dt.datetime:
    """When event ``e`` occurred (or, with ``key="recorded"``, was recorded), in its site's local time."""
    return e["_t" if key == "occurred" else "_r"].astimezone(_tz(e.get(f"{key}_offset")))


def minute_text(t: dt.datetime) -> str:
    """A time as findings print it: ISO 8601 to the minute, with its UTC offset."""
    return t.isoformat(timespec="minutes")


def effective_events(raw: list[dict]) -> list[dict]:
    """Apply CORRECTED and VOIDED events to the ledger's events (copies; the input is untouched).

    Returned events exclude the CORRECTED/VOIDED events themselves and carry
    ``_voided`` and ``_corrected_by``; times are parsed into ``_t``/``_r`` (UTC).
    """
    props = _validator().props
    by_id = {e["event_id"]: dict(e) for e in raw if e["event_type"] not in ("CORRECTED", "VOIDED")}
    for e in by_id.values():
        e["_voided"] = False
        e["_corrected_by"] = None
    for e in raw:
        target = by_id.get(e.get("target_event_id", ""))
        if target is None:
            continue
        if e["event_type"] == "VOIDED":
            target["_voided"] = True
        elif e["event_type"] == "CORRECTED":
            fld, value = e["corrected_field"], e["corrected_value"]
            if fld in ("occurred_at", "recorded_at"):
                target[fld], target[fld.replace("_at", "_offset")] = _parse_time(value, fld, {})
            else:
                kind = props[fld].get("type")
                target[fld] = float(value) if kind == "number" else (value.lower() in {"true", "yes", "1"} if kind == "boolean" else value)
            target["_corrected_by"] = e["event_id"]
    out = []
    for e in by_id.values():
        e["_t"] = dt.datetime.fromisoformat(e["occurred_at"])
        e["_r"] = dt.datetime.fromisoformat(e["recorded_at"])
        out.append(e)
    out.sort(key=lambda e: e["seq"])
    return out
