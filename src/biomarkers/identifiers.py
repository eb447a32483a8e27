"""Direct identifiers (names, dates of birth, phone numbers, e-mail, record numbers) kept out of the data.

The patterns are data (``assets/identifier_patterns.yaml``, schema beside it):

* :func:`identifier_kind` screens free text (a custody event's ``reason``,
  ``comments``...) and says what kind of identifier it found, never the match;
* :func:`hide_identifier` decides whether a value may be echoed in an error line:
  not if it matches a free-text pattern or looks like a bare name ("John Smith",
  a name typed where a subject ID belongs).

A name without a title or a label cannot be told from other words in free text, so
free text is screened for the identifiers that have a shape; the rest is the data
manager's job, and the docs say so.
"""

from __future__ import annotations

import re
from functools import cache

from . import errors
from .assets import load_config

__all__ = ["identifier_kind", "hide_identifier"]


@cache
def _patterns(group: str) -> tuple[tuple[str, re.Pattern], ...]:
    config = load_config("identifier_patterns.yaml", "identifier_patterns.schema.json")
    return tuple((p["what"], re.compile(p["regex"], re.IGNORECASE if p.get("ignore_case") else 0)) for p in config[group])


def identifier_kind(text: str) -> str | None:
    """What kind of direct identifier ``text`` contains ("an e-mail address"...), or None."""
    for what, pattern in _patterns("free_text"):
        if pattern.search(text):
            return what
    return None


def hide_identifier(value: object) -> str | None:
    """Why ``value`` must not be echoed in a message (the kind of identifier it looks like), or None."""
    if not isinstance(value, str):
        return None
    kind = identifier_kind(value)
    if kind:
        return kind
    for what, pattern in _patterns("error_values"):
        if pattern.search(value):
            return what
    return None


errors.set_value_filter(hide_identifier)  # every error line from now on screens the value it would echo
