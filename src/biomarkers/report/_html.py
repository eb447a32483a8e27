"""HTML pieces every section uses: an embedded image, a table, a "not available" note, figures."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import spreadsheet_safe

__all__ = ["CSS", "img", "table", "missing", "figures"]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fff}
header{background:#263238;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;font-size:13px;color:#cfd8dc}
nav{padding:8px 24px;background:#eceff1;font-size:13px;position:sticky;top:0}nav a{margin-right:14px;color:#263238}
main{padding:8px 24px 40px;max-width:1300px}section{margin-top:22px;border-top:1px solid #cfd8dc}
h2{font-size:17px;margin:14px 0 8px}h3{font-size:14px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:12px;margin:6px 0}th,td{border:1px solid #cfd8dc;padding:3px 7px;text-align:right}
th{background:#eceff1}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eceff1;margin:6px 0}.note{font-size:12px;color:#555}
.warn{background:#fff3e0;border-left:4px solid #ef6c00;padding:6px 10px;font-size:13px}
figure{margin:0 0 12px}figcaption{font-size:12px;color:#555}
"""



def img(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def table(frame: pd.DataFrame, max_rows: int = 200) -> str:
    if not len(frame):
        return '<p class="note">No rows.</p>'
    shown = frame.head(max_rows).copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = [f"{v:.3g}" if pd.notna(v) else "" for v in shown[col]]
        else:
            shown[col] = [spreadsheet_safe(str(v)) if v is not None and not (isinstance(v, float) and np.isnan(v)) and v is not pd.NA
                          else "" for v in shown[col]]  # a page saved and opened in a spreadsheet runs no formula
    text = shown.to_html(index=False, escape=True, border=0)
    if len(frame) > max_rows:
        text += f'<p class="note">First {max_rows} of {len(frame)} rows; all are in the Parquet table.</p>'
    return text


def missing(what: str) -> str:
    return f'<p class="note">Not available: {html.escape(what)}.</p>'


def figures(results: Path, pngs: list[Path]) -> list[str]:
    return [f"<figure>{img(p.read_bytes(), p.stem)}<figcaption>{html.escape(str(p.relative_to(results)))}</figcaption></figure>"
            for p in pngs]
