"""I/O edge of the custody check: verify and check the ledger, write the custody outputs.

Outputs under ``<outdir>/custody/``: specimens, events, lineage, issues and
completeness Parquet tables (declared in :mod:`biomarkers.schemas`) and two
plots, all written to a staging folder and moved into place only when complete.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from .. import names as N
from ..errors import InputError
from ..io import staged_dir
from ..log import get_logger
from ..protocol import Protocol, load_protocol
from ..samplesheet import read_samplesheet
from ..schemas import write_table
from ._check import CustodyResult, check_custody
from ._ledger import LedgerReport, read_ledger, verify_ledger
from ..trialdata import load_milestones, load_subjects

__all__ = ["check_ledger", "write_custody_outputs"]

log = get_logger("custody")

_TABLES = ("specimens", "events", "lineage", "issues", "completeness")


def check_ledger(ledger: str | Path, *, subjects: str | Path, milestones: str | Path, samplesheet: str | Path | pd.DataFrame | None = None,
                 data_cutoff: dt.date | str | None = None, protocol: Protocol | str | Path | None = None,
                 outdir: str | Path | None = None, anchor: str | None = None, anchor_log: str | Path | None = None,
                 key_file: str | Path | None = None, key_env: str | None = None) -> CustodyResult:
    """Verify the ledger, check it against the protocol and (with ``outdir``) write the custody outputs.

    The ledger is verified against the anchor given (``anchor`` hash or ``anchor_log``)
    or the anchor log found beside it, and with the site key when one is named. A
    ledger that fails any defence stops with :class:`~biomarkers.errors.LedgerIntegrityError`
    before anything is written. A samplesheet path is read as metadata only: its
    assay files need not exist. The head hash, the anchor status and the signing
    state go into the outputs' metadata (and so into the report).
    """
    if not isinstance(protocol, Protocol):
        protocol = load_protocol(protocol)
    if isinstance(data_cutoff, str):
        try:
            data_cutoff = dt.date.fromisoformat(data_cutoff)
        except ValueError:
            raise InputError("not a date (YYYY-MM-DD)", field="data_cutoff", value=data_cutoff) from None
    subj = load_subjects(subjects, protocol)
    ms = load_milestones(milestones, subj)
    sheet = samplesheet
    if isinstance(samplesheet, (str, Path)):
        sheet = read_samplesheet(samplesheet, protocol, subjects=set(subj[N.USUBJID]), check_files=False)
    report = verify_ledger(ledger, anchor=anchor, anchor_log=anchor_log, key_file=key_file, key_env=key_env)
    report.raise_if_broken()
    result = check_custody(read_ledger(ledger), protocol, subj, ms, samplesheet=sheet, data_cutoff=data_cutoff)
    if outdir is not None:
        write_custody_outputs(result, outdir, protocol=protocol,
                              provenance=ledger_provenance(report))
    if result.data_cutoff_source != "given":
        log.warning("custody check: no data cut-off given: checked as of %s (give --data-cutoff for a reproducible check)",
                    result.data_cutoff)
    counts = result.issues["SEVERITY"].value_counts().to_dict()
    log.info("custody check: %d specimens, %d events, %d issues (%s)", len(result.specimens), len(result.events),
             len(result.issues), ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "none")
    return result


def ledger_provenance(report: LedgerReport) -> dict:
    """What the outputs' metadata (and the report) say about the ledger they come from."""
    if report.n_signed == 0:
        signing = "unsigned (legacy format)" if report.format.startswith("v1") else "unsigned"
    else:
        signing = f"{report.n_signed} of {report.n_events} events signed, " + (
            "MACs verified" if report.mac_checked else "MACs not checked (no key)")
    return {"ledger_head": report.head, "ledger_events": report.n_events, "ledger_anchor": report.anchor_status,
            "ledger_signing": signing}


def write_custody_outputs(result: CustodyResult, outdir: str | Path, *, protocol: Protocol,
                          provenance: dict | None = None) -> list[Path]:
    provenance = {**(provenance or {}), "data_cutoff": str(result.data_cutoff) if result.data_cutoff else None,
                  "data_cutoff_source": result.data_cutoff_source}
    with staged_dir(outdir) as stage:
        for name in _TABLES:
            write_table(getattr(result, name), f"custody.{name}", stage, provenance=provenance)
        _plot_completeness(result.completeness, stage / "custody" / "completeness.png", protocol.timepoint_sort_key())
        _plot_issues(result.issues, stage / "custody" / "issues_by_rule.png")
    return [Path(outdir) / "custody" / f"{name}.parquet" for name in _TABLES]


def _plot_completeness(comp: pd.DataFrame, path: Path, timepoint_key) -> None:
    """Heatmap: subjects x timepoints, share of the expected specimen types collected."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    expected = comp[comp["EXPECTED"].astype(bool)]
    fig_h = 2 + 0.12 * max(1, expected[N.USUBJID].nunique())
    fig, ax = plt.subplots(figsize=(9, min(fig_h, 30)))
    if expected.empty:
        ax.text(0.5, 0.5, "no collection due yet", ha="center", va="center")
        ax.set_axis_off()
    else:
        share = expected.groupby([N.USUBJID, N.TIMEPOINT])["COLLECTED"].mean().unstack()
        order = sorted(share.columns, key=timepoint_key)
        share = share[order]
        im = ax.imshow(share.to_numpy(dtype=float), aspect="auto", cmap="RdYlGn", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks(range(len(order)), order, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(share.index)), share.index, fontsize=5)
        ax.set_xlabel("timepoint (grey: not due)")
        ax.set_ylabel("subject")
        ax.set_facecolor("#dddddd")
        fig.colorbar(im, ax=ax, label="expected specimen types collected (fraction)")
    ax.set_title("Specimen collection completeness")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def _plot_issues(issues: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    if issues.empty:
        ax.text(0.5, 0.5, "no custody issues", ha="center", va="center")
        ax.set_axis_off()
    else:
        counts = issues.groupby(["RULE", "SEVERITY"]).size().unstack(fill_value=0)
        counts = counts.loc[counts.sum(axis=1).sort_values().index]
        colors = {"ERROR": "#c0392b", "WARNING": "#e67e22", "INFO": "#2980b9"}
        left = pd.Series(0, index=counts.index)
        for sev in [s for s in ("ERROR", "WARNING", "INFO") if s in counts.columns]:
            ax.barh(counts.index, counts[sev], left=left, color=colors[sev], label=sev)
            left = left + counts[sev]
        ax.set_xlabel("findings")
        ax.legend(loc="lower right")
    ax.set_title("Custody issues by rule")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
