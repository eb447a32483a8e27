"""The report's provenance section: what the run ran with (``pipeline_info/``).

Software versions, parameters, the SHA-256 of every input, and the run manifest's
status, as ``biomarkers run`` writes them, or Nextflow's PROVENANCE task (the same
files, staged for REPORT as ``pipeline_info/``; Nextflow writes no run manifest: its
execution trace records the run). Absent (a folder written before provenance was
recorded): no section.
"""

from __future__ import annotations

import html
import json

import pandas as pd

from ..manifest import MANIFEST, read_manifest
from ._context import ReportContext
from ._html import table

__all__ = ["provenance_section"]

# Shown first; every other installed distribution is in the collapsed full list.
_KEY_LIBRARIES = ("biomarkers", "python", "pysam", "pandas", "pyarrow", "numpy", "scipy", "lifelines", "pyreadstat",
                  "anndata", "scanpy", "matplotlib")


def provenance_section(ctx: ReportContext) -> str | None:
    info = ctx.results / "pipeline_info"
    if not info.is_dir():
        return None
    parts = [_manifest_status(ctx)]
    versions_file = info / "software_versions.yml"
    if versions_file.is_file():
        versions = dict(line.split(": ", 1) for line in versions_file.read_text(encoding="utf-8").splitlines() if ": " in line)
        key = pd.DataFrame([(k, versions[k]) for k in _KEY_LIBRARIES if k in versions], columns=["software", "version"])
        full = pd.DataFrame(sorted(versions.items(), key=lambda kv: kv[0].lower()), columns=["software", "version"])
        parts.append(f"<h3>Software</h3>{table(key)}<details><summary>All {len(full)} installed libraries "
                     f"(pipeline_info/software_versions.yml)</summary>{table(full, max_rows=1000)}</details>")
    params_file = info / "params.json"
    if params_file.is_file():
        params = json.loads(params_file.read_text(encoding="utf-8"))
        given = pd.DataFrame([(k, json.dumps(v) if not isinstance(v, str) else v) for k, v in sorted(params.items())
                              if v not in (None, "", False)], columns=["parameter", "value"])
        parts.append(f"<h3>Parameters</h3><details><summary>{len(given)} parameters set "
                     f"(pipeline_info/params.json)</summary>{table(given, max_rows=1000)}</details>")
    inputs = ctx.table("pipeline.inputs")
    if inputs is not None:
        parts.append(f"<h3>Inputs</h3><details><summary>{len(inputs)} input files with their SHA-256 "
                     f"(pipeline_info/inputs.parquet)</summary>{table(inputs, max_rows=5000)}</details>")
    return "\n".join(parts)


def _manifest_status(ctx: ReportContext) -> str:
    manifest = read_manifest(ctx.results)
    if manifest is None and (ctx.results / "pipeline_info" / "inputs.parquet").is_file():
        return (f"<p>No run manifest ({MANIFEST}, written by <code>biomarkers run</code>): under Nextflow the "
                "execution trace (pipeline_info/execution_trace_&lt;time&gt;.txt) records the run's tasks.</p>")
    if manifest is None:
        return f'<p class="warn">No run manifest ({MANIFEST}): this folder was not written by a run that finished.</p>'
    if manifest.get("status") == "complete":
        return (f"<p>Run manifest {MANIFEST}: complete, {len(manifest.get('outputs', {}))} output files with their "
                "SHA-256.</p>")
    return (f"<p>Run manifest {MANIFEST}: {html.escape(str(manifest.get('status')))} (the manifest is completed when "
            "the run's last step has finished; this report is one of those steps).</p>")
