"""Structural check of a SAS transport (XPORT v5/v8) file before it is read.

pyreadstat reads a transport file cut short as a shorter data set: half an ADRS would
lose the responses of half the subjects without a word. The format allows a check:
a transport file is a sequence of 80-byte records; the variable descriptors (NAMESTR)
give the length of one observation; observations fill the data section and only the
last 80-byte record may be padded with blanks. Version 8 files also state the number
of observations in their OBSV8 header. A file that breaks any of these rules was cut
(or is not a transport file), and is refused naming the file.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

from ..errors import InputError

__all__ = ["check_xport"]

_RECORD = 80
_HEADER = re.compile(rb"HEADER RECORD\*{7}(LIBRARY|LIBV8|MEMBER|MEMBV8|NAMESTR|NAMSTV8|OBS|OBSV8) *HEADER RECORD!{7}(.{30})",
                     re.DOTALL)
_CUT = "the file is truncated (cut short) or damaged; export it again"


def check_xport(path: str | Path) -> None:
    """Refuse a transport file that is truncated: one line naming the file and what is wrong."""
    path = Path(path)
    data = path.read_bytes()
    headers = [(m.start(), m.group(1).decode(), m.group(2)) for m in _HEADER.finditer(data)]
    kinds = [kind for _, kind, _ in headers]
    if not kinds or kinds[0] not in ("LIBRARY", "LIBV8"):
        raise InputError("not a SAS transport file (no LIBRARY header record)", file=path)
    if len(data) % _RECORD:
        raise InputError(f"{len(data):,} bytes is not a whole number of 80-byte records: {_CUT}", file=path)
    if kinds.count("MEMBER") + kinds.count("MEMBV8") != 1:
        return  # several data sets in one file: not an ADaM export; pyreadstat reads the first
    try:
        member = next(h for h in headers if h[1] in ("MEMBER", "MEMBV8"))
        names = next(h for h in headers if h[1] in ("NAMESTR", "NAMSTV8"))
        obs = next(h for h in headers if h[1] in ("OBS", "OBSV8"))
    except StopIteration:
        raise InputError(f"no observation header record: {_CUT}", file=path) from None
    namestr_size = int(member[2][-3:] or b"140")
    n_vars = int(names[2][6:10])
    first = names[0] + _RECORD
    obs_len = 0
    for i in range(n_vars):
        at = first + i * namestr_size
        if at + 88 > len(data):
            raise InputError(f"variable descriptors end early: {_CUT}", file=path)
        length = struct.unpack_from(">h", data, at + 4)[0]
        position = struct.unpack_from(">i", data, at + 84)[0]
        obs_len = max(obs_len, position + length)
    body = data[obs[0] + _RECORD:]
    if obs_len <= 0:
        return
    full, rest = divmod(len(body), obs_len)
    stated = obs[2].strip()
    if obs[1] == "OBSV8" and stated.isdigit():
        expected = int(stated)
        if full < expected:
            raise InputError(f"holds {full:,} of the {expected:,} observations its header states: {_CUT}", file=path)
        return
    if rest and body[-rest:].strip(b" "):
        raise InputError(f"ends inside an observation ({rest} of {obs_len} bytes): {_CUT}", file=path)
