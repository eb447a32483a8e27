"""Step ``custody``: import the LIMS exports into the ledger, verify it, check it against the protocol."""

from __future__ import annotations

import glob
from pathlib import Path

from ...errors import InputError
from ...log import get_logger
from .._context import RunContext, Step

log = get_logger("custody")


def skip_reason(ctx: RunContext) -> str | None:
    if not (ctx.params.get("ledger") or ctx.params.get("custody_exports")):
        return "no custody ledger or export given (--ledger, --custody_exports)"
    return None


def run(ctx: RunContext) -> None:
    from ...custody import check_ledger, import_exports
    from ...trialdata import load_subjects

    params = ctx.params
    for key in ("subjects", "milestones"):
        if not params.get(key):
            raise InputError("the custody step needs the randomization list and milestone dates", field=key)
    ledger = Path(params.get("ledger") or ctx.outdir / "custody" / "ledger.sqlite")
    subjects = load_subjects(params["subjects"], ctx.protocol)
    ctx.record_params("subjects", "milestones")
    if params.get("custody_exports"):
        exports = sorted(glob.glob(str(params["custody_exports"])))
        if not exports:
            raise InputError("no file matches", field="custody_exports", value=params["custody_exports"])
        for path in exports:
            ctx.record_input("custody_export", path)
        summary = import_exports(ledger, exports, protocol=ctx.protocol, subjects=set(subjects["USUBJID"]), actor="biomarkers-run",
                                 key_env=params.get("custody_key_env"), anchor_log=params.get("custody_anchor_log"))
        log.info("custody %s", summary.anchor.line())
    elif not ledger.exists():
        raise InputError("custody ledger not found", file=ledger, field="ledger")
    check_ledger(ledger, subjects=params["subjects"], milestones=params["milestones"], samplesheet=ctx.samplesheet,
                 data_cutoff=params.get("data_cutoff"), protocol=ctx.protocol, outdir=ctx.outdir,
                 anchor_log=params.get("custody_anchor_log"), key_env=params.get("custody_key_env"))
    ctx.record_input("custody_ledger", ledger)


STEP = Step("custody", "chain of custody: import, verify, check against the protocol", skip_reason, run)
