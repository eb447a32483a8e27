"""Findings of the custody rules, collected in the order the rules raise them (one row each)."""

from __future__ import annotations

from .. import names as N

__all__ = ["Findings", "ISSUE_COLUMNS"]

ISSUE_COLUMNS = ["RULE", "SEVERITY", N.USUBJID, N.SPECIMEN_ID, N.TIMEPOINT, "EVENT_ID", "MESSAGE"]


class Findings:
    """Rows of ``custody/issues.parquet``; the severity of each rule comes from ``assets/custody_rules.yaml``."""

    def __init__(self, rules: dict[str, dict]):
        self.rules = rules
        self.rows: list[dict] = []

    def add(self, rule: str, message: str, *, subject=None, specimen=None, timepoint=None, event=None) -> None:
        self.rows.append({"RULE": rule, "SEVERITY": self.rules[rule]["severity"], N.USUBJID: subject,
                          N.SPECIMEN_ID: specimen, N.TIMEPOINT: timepoint, "EVENT_ID": event, "MESSAGE": message})

    def on_specimen(self, s: dict, rule: str, message: str, *, event: str) -> None:
        """A finding about specimen ``s`` (its subject, id and timepoint), raised by ``event``."""
        self.add(rule, message, subject=s["subject"], specimen=s["sid"], timepoint=s["timepoint"], event=event)
