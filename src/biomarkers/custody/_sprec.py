"""SPREC codes (ISBER Standard PREanalytical Code) from a specimen's custody events.

The code tables are data (``assets/sprec.yaml``). Each element is derived from the
events where they say enough: ``X`` marks an element the events do not determine
(e.g. no receipt temperature, no recorded warm ischaemia), ``Z`` a known value
outside the listed options, ``N`` an element that does not apply (no second spin).
Complex derivatives (DNA, RNA, sections) have no 7-element code: null.
"""

from __future__ import annotations

from functools import cache

from ..assets import load_config
from ..protocol import Protocol

__all__ = ["sprec_code", "sprec_tables"]


@cache
def sprec_tables() -> dict:
    return load_config("sprec.yaml")


def _band(celsius: float | None) -> str | None:
    if celsius is None:
        return None
    if 15 <= celsius <= 25:
        return "RT"
    if 2 <= celsius <= 10:
        return "COLD"
    return "OTHER"


def _delay_code(table: list[dict], band: str | None, hours: float | None, t: dict) -> str:
    if hours is None or band is None:
        return t["unknown"]
    for row in table:
        if row["temperature"] == band and hours < row["max_hours"]:
            return row["code"]
    return t["other"]


def _range_code(table: list[dict], value: float | None, key: str, t: dict) -> str:
    if value is None:
        return t["unknown"]
    for row in table:
        if value < row[key]:
            return row["code"]
    return t["other"]


def _storage_code(table: list[dict], celsius: float | None, t: dict) -> str:
    if celsius is None:
        return t["unknown"]
    for row in table:
        lo, hi = row["celsius"]
        if lo <= celsius <= hi:
            return row["code"]
    return t["other"]


def _spin_code(table: list[dict], spin: dict | None, t: dict) -> str:
    if spin is None:
        return t["not_applicable"]
    g, minutes, celsius, brake = (spin.get(k) for k in ("centrifuge_g", "centrifuge_minutes", "centrifuge_celsius", "centrifuge_brake"))
    if None in (g, minutes, celsius, brake):
        return t["unknown"]
    band = _band(celsius)
    for row in table:
        if (row["temperature"] == band and row["minutes"][0] <= minutes <= row["minutes"][1]
                and row["g"][0] <= g < row["g"][1] and row["brake"] == brake):
            return row["code"]
    return t["other"]


def _hours(a: dict, b: dict) -> float:
    return (b["_t"] - a["_t"]).total_seconds() / 3600


def _first(events: list[dict], kind: str, process: tuple[str, ...] | None = None) -> dict | None:
    return next((e for e in events if e["event_type"] == kind and (process is None or e.get("process") in process)), None)


def _last_storage_celsius(events: list[dict]) -> float | None:
    stored = [e for e in events if e["event_type"] in ("STORED", "MOVED", "FROZEN") and "temperature_c" in e]
    return stored[-1]["temperature_c"] if stored else None


def sprec_code(s: dict, spec: dict[str, dict], protocol: Protocol) -> str | None:
    """The 7-element SPREC code of specimen ``s`` (as built by the custody check), or None."""
    t = sprec_tables()
    st = protocol.specimen_types[s["type"]]
    chain = [s]
    while chain[-1]["parent"] in spec:
        chain.append(spec[chain[-1]["parent"]])
    root = chain[-1]
    if st.category == "tissue" or (st.category == "derivative" and protocol.specimen_types[root["type"]].category == "tissue"):
        if st.category != "tissue":
            return None  # DNA/RNA/sections from tissue: complex derivative
        return _tissue(s, st, t["tissue"], t)
    fluid = t["fluid"]
    if s["type"] not in fluid["sample_type"]:
        return None  # complex derivative (DNA, RNA...)
    sample = fluid["sample_type"][s["type"]]
    # the specimen itself or the ancestor of the same type (aliquots inherit their parent's processing)
    same_type = [c for c in chain if c["type"] == s["type"]]
    own_events = [e for c in reversed(same_type) for e in c["events"]]
    second_spin = _first(own_events, "PROCESSED", ("CENTRIFUGED",)) if st.category == "derivative" else None
    if s["type"] == "PLASMA" and second_spin is not None:
        sample = fluid["double_spun_plasma"]
    container = fluid["container"].get(root["created"].get("container"), fluid["container_unknown"])
    first_spin = _first(root["events"], "PROCESSED", ("CENTRIFUGED", "ISOLATED"))
    received = _first(root["events"], "RECEIVED")
    if first_spin is None:
        pre = t["not_applicable"]
    else:
        pre = _delay_code(fluid["precentrifugation"], _band(received.get("temperature_c")) if received else None,
                          _hours(root["created"], first_spin), t)
    spin = _spin_code(fluid["centrifugation"], first_spin, t)
    second = _spin_code(fluid["centrifugation"], second_spin, t)
    last_spin = second_spin or first_spin
    frozen = _first(s["events"], "FROZEN") or _first(own_events, "FROZEN")
    if last_spin is None or st.category != "derivative":
        post = t["not_applicable"]
    elif frozen is None:
        post = t["unknown"]
    else:
        minutes = last_spin.get("centrifuge_minutes") or 0
        post = _delay_code(fluid["postcentrifugation"], _band(last_spin.get("centrifuge_celsius")),
                           max(0.0, _hours(last_spin, frozen) - minutes / 60), t)
    storage = _storage_code(fluid["storage"], _last_storage_celsius(s["events"]), t)
    return "-".join([sample, container, pre, spin, second, post, storage])


def _tissue(s: dict, st, tt: dict, t: dict) -> str:
    events = s["events"]
    created = s["created"]
    collection = tt["collection"].get(st.collection, "XXX")
    warm = _range_code(tt["warm_ischaemia"], created.get("warm_ischaemia_minutes"), "max_minutes", t)
    fixed = _first(events, "PROCESSED", ("FIXED",))
    frozen = _first(events, "FROZEN")
    stop = fixed or frozen
    cold = _range_code(tt["cold_ischaemia"], (stop["_t"] - created["_t"]).total_seconds() / 60 if stop else None, "max_minutes", t)
    if fixed is not None:
        fixation = tt["fixative"].get(fixed.get("fixative"), "ZZZ" if fixed.get("fixative") else "XXX")
        embedded = _first(events, "PROCESSED", ("EMBEDDED",))
        fix_time = _range_code(tt["fixation_time"], _hours(fixed, embedded) if embedded else None, "max_hours", t)
    elif frozen is not None:
        fixation, fix_time = tt["snap_frozen"], t["not_applicable"]
    else:
        fixation, fix_time = "XXX", t["unknown"]
    storage = _storage_code(tt["storage"], _last_storage_celsius(events), t)
    return "-".join([tt["sample_type"], collection, warm, cold, fixation, fix_time, storage])
