"""One error contract for the whole package.

Domain errors carry an exit code and the context a user needs to fix the input
(file, row, field, value). They are raised where the problem is found and caught
once, at the top of the CLI, which prints a single line and exits. Exit codes stay
outside 104 and 130-145, which nf-core style ``errorStrategy`` blocks retry.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BiomarkersError",
    "InputError",
    "LedgerIntegrityError",
    "ToolError",
    "EXIT_INPUT",
    "EXIT_INTEGRITY",
    "EXIT_TOOL",
]

# Why a value must not be echoed (it looks like a direct identifier), or None. Set by
# biomarkers.identifiers when it is imported (it reads its patterns from assets/, a layer up).
_value_filter = None


def set_value_filter(check) -> None:
    global _value_filter
    _value_filter = check


EXIT_INPUT = 2
EXIT_INTEGRITY = 3
EXIT_TOOL = 4


class BiomarkersError(Exception):
    """Base class: a problem the user can act on, reported as one line."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | str | None = None,
        field: str | None = None,
        value: object = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.row = row
        self.field = field
        self.value = value

    def with_context(self, **context) -> "BiomarkersError":
        """Fill in context that the raiser did not know (e.g. the file name)."""
        for key, val in context.items():
            if getattr(self, key, None) is None:
                setattr(self, key, str(val) if key == "file" and val is not None else val)
        return self

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}" if isinstance(self.row, int) else str(self.row))
        if self.field is not None:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        text = self.message
        hidden = _value_filter(self.value) if _value_filter is not None and self.value is not None else None
        if hidden:
            text = f"{text} (value not shown: it looks like {hidden})"
        elif self.value is not None and repr(self.value) not in text:
            text = f"{text} (got {self.value!r})"
        return f"{prefix}: {text}" if prefix else text


class InputError(BiomarkersError):
    """Malformed or inconsistent input: samplesheet, protocol, export, BAM, VCF..."""

    exit_code = EXIT_INPUT


class LedgerIntegrityError(BiomarkersError):
    """The custody ledger's hash chain is broken (tampering or corruption)."""

    exit_code = EXIT_INTEGRITY


class ToolError(BiomarkersError):
    """An external program or library failed in a way the input does not explain."""

    exit_code = EXIT_TOOL
