"""Authenticity of the ledger: the site key (HMAC-SHA256) and the anchor log.

Site key
--------
A secret shared by the people allowed to append, kept *outside* the ledger: in a file
(``--key-file``) or an environment variable whose name the user gives (``--key-env``).
Each event carries ``mac = HMAC-SHA256(key, "biomarkers-ledger-v2|<seq>|<hash>")``;
because ``hash`` chains every earlier row, a valid MAC on event *n* also vouches for
events 1..*n*. The key's value never appears in a message, a log or an output.

Anchor log
----------
Every import or record appends one JSON line to a file outside the database (by
default ``<ledger>.anchors.jsonl``): the head's ``seq`` and ``hash`` after the append,
the UTC time and the actor. With a key the line carries its own MAC. A copy of
the log (or the last head hash) kept elsewhere detects truncation or a rewrite of
the whole ledger, which a hash chain alone cannot.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

__all__ = ["Anchor", "SiteKey", "anchor_log_for", "append_anchor", "load_site_key", "read_anchor_log"]

_MAC_DOMAIN = "biomarkers-ledger-v2"
_MIN_KEY_BYTES = 16
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class SiteKey:
    """An HMAC key whose value is never shown (``repr`` and ``str`` name only its source)."""

    __slots__ = ("_secret", "source")

    def __init__(self, secret: bytes, source: str) -> None:
        self._secret = secret
        self.source = source

    def __repr__(self) -> str:
        return f"SiteKey(from {self.source})"

    __str__ = __repr__

    def mac(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()

    def event_mac(self, seq: int, digest: str) -> str:
        return self.mac(f"{_MAC_DOMAIN}|{seq}|{digest}")

    def verifies(self, seq: int, digest: str, mac: str | None) -> bool:
        return self.verifies_text(f"{_MAC_DOMAIN}|{seq}|{digest}", mac)

    def verifies_text(self, text: str, mac: str | None) -> bool:
        return isinstance(mac, str) and hmac.compare_digest(self.mac(text), mac)


def load_site_key(key_file: str | Path | None = None, key_env: str | None = None) -> SiteKey | None:
    """The site key from a file or from the environment variable named ``key_env`` (not both); None if neither.

    Leading and trailing white space is stripped; at least 16 bytes must remain
    (e.g. ``openssl rand -hex 32 > site.key``).
    """
    if key_file and key_env:
        raise InputError("give the site key as a file or as an environment variable, not both", field="key_env")
    if key_file:
        try:
            secret = Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise InputError(f"cannot read the site key file: {exc.strerror}", file=key_file) from None
        source = f"file {key_file}"
    elif key_env:
        if key_env not in os.environ:
            raise InputError(f"the environment variable {key_env} (named as holding the site key) is not set", field="key_env")
        secret = os.environ[key_env].strip().encode()
        source = f"environment variable {key_env}"
    else:
        return None
    if len(secret) < _MIN_KEY_BYTES:
        raise InputError(f"the site key from the {source} is shorter than {_MIN_KEY_BYTES} bytes (value not shown)")
    return SiteKey(secret, source)


def is_mac_text(mac: object) -> bool:
    return isinstance(mac, str) and bool(_HEX64.match(mac))


@dataclass(frozen=True)
class Anchor:
    """A head recorded outside the ledger: ``seq`` None for a bare hash (``--anchor HASH``)."""

    seq: int | None
    head: str
    time: str | None = None
    actor: str | None = None
    source: str = "--anchor"
    mac: str | None = None

    def describe(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "hash"
        when = f" ({self.time}, {self.actor})" if self.time else ""
        return f"{where} {self.head[:12]}...{when} from {self.source}"

    def line(self) -> str:
        """What import and record print: the head to keep somewhere else."""
        return f"anchor: seq {self.seq} head {self.head} at {self.time} by {self.actor} (appended to {self.source})"

    def mac_text(self) -> str:
        return f"{_MAC_DOMAIN}|anchor|{self.seq}|{self.head}|{self.time}|{self.actor}"


def anchor_log_for(ledger: str | Path) -> Path:
    """The default anchor log of a ledger: ``<ledger>.anchors.jsonl`` beside it."""
    ledger = Path(ledger)
    return ledger.with_name(ledger.name + ".anchors.jsonl")


def read_anchor_log(path: str | Path) -> list[Anchor]:
    """Every anchor of a log, oldest first; a malformed line is an input error naming it."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError("anchor log not found", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the anchor log: {exc}", file=path) from None
    anchors = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            anchor = Anchor(int(rec["seq"]), str(rec["head"]), rec.get("time"), rec.get("actor"), str(path), rec.get("mac"))
        except (ValueError, KeyError, TypeError):
            raise InputError("not an anchor line (JSON with seq, head, time, actor)", file=path, row=f"line {i}") from None
        if not _HEX64.match(anchor.head) or anchor.seq < 0:
            raise InputError("not an anchor line (seq >= 0, head a SHA-256 hex digest)", file=path, row=f"line {i}")
        anchors.append(anchor)
    return anchors


def new_anchor(seq: int, head: str, actor: str, key: SiteKey | None, log: Path) -> Anchor:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    anchor = Anchor(seq, head, now, actor, str(log))
    return Anchor(seq, head, now, actor, str(log), key.mac(anchor.mac_text()) if key else None)


def append_anchor(log: Path, anchor: Anchor) -> int:
    """Append one line to the anchor log (created 0640); returns the log's size before, to undo with truncate."""
    log.parent.mkdir(parents=True, exist_ok=True)
    record = {"seq": anchor.seq, "head": anchor.head, "time": anchor.time, "actor": anchor.actor}
    if anchor.mac:
        record["mac"] = anchor.mac
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            os.fchmod(fd, 0o640)
        os.write(fd, (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return size


def undo_anchor(log: Path, size: int) -> None:
    with open(log, "r+b") as handle:
        handle.truncate(size)
