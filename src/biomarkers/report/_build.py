"""Build ``<results>/report/index.html`` from whatever the steps wrote."""

from __future__ import annotations

import html
from pathlib import Path

from .. import __version__, schemas
from ..errors import InputError
from ..io import write_text_atomic
from ..manifest import check_complete
from ..log import get_logger
from ..protocol import Protocol, load_protocol
from ._context import ReportContext
from ._html import CSS
from ._sections import SECTIONS

__all__ = ["build_report"]

log = get_logger("report")


def build_report(results: str | Path, *, protocol: Protocol | str | Path | None = None,
                 allow_incomplete: bool = False, cpus: int = 1) -> Path:
    """Write ``<results>/report/index.html``; return its path. A results folder holding a run's outputs
    without a complete run manifest is refused unless ``allow_incomplete`` (``manifest.check_complete``).
    The biomarker distributions are drawn in ``cpus`` worker processes (the same page for any number)."""
    results = Path(results)
    if not results.is_dir():
        raise InputError("results folder not found", file=results)
    check_complete(results, allow_incomplete=allow_incomplete)
    schemas.check_results_tables(results)  # a truncated or misplaced table: one line, before any work
    # A Protocol, or the path of a protocol YAML (the CLI's --protocol), or the bundled one.
    protocol = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    ctx = ReportContext(results, protocol, cpus=cpus)
    bodies = [(s, s.build(ctx)) for s in SECTIONS]
    shown = [(s, body) for s, body in bodies if body is not None or s.required]
    nav = "".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s, _ in shown)
    sections = "\n".join(f'<section id="{s.id}"><h2>{html.escape(s.title)}</h2>\n{body}\n</section>' for s, body in shown)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(protocol.studyid)} biomarkers report</title><style>{CSS}</style></head>
<body><header><h1>{html.escape(protocol.studyid)}: biospecimens, biomarkers and outcomes</h1>
<p>biomarkers {html.escape(__version__)}; exploratory analyses</p></header>
<nav>{nav}</nav>
<main>
{sections}
</main></body></html>
"""
    path = write_text_atomic(results / "report" / "index.html", page)
    log.info("report: %s (%d KiB)", path, path.stat().st_size // 1024)
    return path
