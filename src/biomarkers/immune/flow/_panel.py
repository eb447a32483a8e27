"""Check an FCS file against its panel: every channel present, every marker the panel's.

Channels are matched by ``$PnN`` (the detector), exactly. The file's ``$PnS`` marker
of a fluorescence channel must name the panel's marker; names that differ only by
case or spacing (``cd45``, ``CD 45``, ``CD45 ``) are accepted and noted, because
acquisition software and operators type them by hand. Any other difference (``PD1``
for ``PD-1``, a different antigen) is refused: a silent alias table would hide a
mislabelled tube. An empty ``$PnS`` is accepted (the panel says what the channel reads).
"""

from __future__ import annotations

import re

from ...errors import InputError
from ._read import FlowFile
from ._settings import FLUORESCENCE, Panel

__all__ = ["check_panel", "normalise_marker"]


def normalise_marker(name: str) -> str:
    """Case and whitespace folded: the only differences tolerated between file and panel."""
    return re.sub(r"\s+", "", name).casefold()


def check_panel(flow: FlowFile, panel: Panel) -> list[str]:
    """Raise :class:`InputError` for a missing channel or another marker; return notes."""
    channels = flow.channels
    missing = [c for c in panel.channels if c.channel not in channels]
    if missing:
        names = ", ".join(f"{c.channel} ({c.marker})" if c.marker else c.channel for c in missing)
        raise InputError(f"panel {panel.name} channel(s) missing from the file: {names}", file=flow.path)
    notes = []
    for c in panel.channels:
        if c.kind != FLUORESCENCE or not c.marker:
            continue
        found = (flow.markers[channels.index(c.channel)] or "").strip()
        if not found or found == c.marker:
            continue
        if normalise_marker(found) != normalise_marker(c.marker):
            raise InputError(f"channel {c.channel} reads marker '{found}' in the file but '{c.marker}' in panel "
                             f"{panel.name}", file=flow.path, field=f"{c.channel} $PnS")
        notes.append(f"{c.channel}: marker '{found}' taken as '{c.marker}' (case/spacing)")
    return notes
