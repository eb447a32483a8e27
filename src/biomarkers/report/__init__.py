"""One self-contained HTML report of a results folder (``<results>/report/index.html``).

The report reads what the steps wrote (Parquet tables, PNG plots) and embeds
everything (images as base64 PNG, styles inline), so the single file can be
mailed or archived. Sections (``_sections.py``) appear in a fixed order, each with a
stable id; a modality's section appears when its step ran.
"""

from ._build import build_report
from ._context import ReportContext
from ._sections import SECTIONS, Section

__all__ = ["build_report", "ReportContext", "Section", "SECTIONS"]
