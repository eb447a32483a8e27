"""One self-contained HTML report of a results folder (``<results>/report/index.html``).

The report reads what the steps wrote (Parquet tables, PNG plots) and embeds
everything (images as base64 PNG, styles inline), so the single file can be
mailed or archived. Sections appear for whatever exists; each has a stable id.
"""

from ._build import SECTIONS, build_report

__all__ = ["build_report", "SECTIONS"]
