"""Specimens as the ledger knows them: built from their creation events, linked to parents and children.

A specimen is a plain dict (the SPREC code and the rules read it):

``sid``, ``subject``, ``type``, ``parent`` (its id or None), ``timepoint`` (inherited
from the root when the creation event has none), ``created`` (the creation event),
``children`` (specimen dicts), ``events`` (its live events by time, then ledger order)
and ``thaws`` (number of THAWED events).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from ._events import CREATION_EVENTS

__all__ = ["POSITION", "SpecimenIndex", "index_specimens"]

# The fields that name a storage position, outermost first.
POSITION = ("storage_unit", "rack", "box", "position_row", "position_col")


@dataclass
class SpecimenIndex:
    """Every specimen by id, and each subject's earliest consent withdrawal (UTC)."""

    spec: dict[str, dict] = field(default_factory=dict)
    withdrawals: dict[str, dt.datetime] = field(default_factory=dict)

    def parent(self, s: dict) -> dict | None:
        return self.spec.get(s["parent"]) if s["parent"] else None

    def root(self, s: dict) -> dict:
        while s["parent"] in self.spec:
            s = self.spec[s["parent"]]
        return s

    def level(self, s: dict) -> int:
        """Generations between ``s`` and its root (0 for a primary specimen)."""
        n = 0
        while s["parent"] in self.spec:
            s, n = self.spec[s["parent"]], n + 1
        return n


def index_specimens(live: list[dict]) -> SpecimenIndex:
    """Specimens from the first creation event of each specimen id among the live events."""
    index = SpecimenIndex()
    spec = index.spec
    by_specimen: dict[str, list[dict]] = defaultdict(list)
    for e in live:
        sid = e.get("specimen_id")
        if sid:
            by_specimen[sid].append(e)
            if e["event_type"] in CREATION_EVENTS and sid not in spec:
                spec[sid] = {"sid": sid, "subject": e["subject_id"], "type": e["specimen_type"], "parent": e.get("parent_specimen_id"),
                             "timepoint": e.get("timepoint"), "created": e, "children": []}
        elif e["event_type"] == "CONSENT_WITHDRAWN":
            index.withdrawals[e["subject_id"]] = min(index.withdrawals.get(e["subject_id"], e["_t"]), e["_t"])
    for s in spec.values():
        if s["parent"] in spec:
            spec[s["parent"]]["children"].append(s)
    for s in spec.values():
        if s["timepoint"] is None:
            s["timepoint"] = index.root(s)["timepoint"]
        s["events"] = sorted(by_specimen[s["sid"]], key=lambda e: (e["_t"], e["seq"]))
        s["thaws"] = sum(e["event_type"] == "THAWED" for e in s["events"])
    return index
