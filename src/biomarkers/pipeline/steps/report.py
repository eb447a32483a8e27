"""Step ``report``: one self-contained HTML page of whatever the other steps wrote."""

from __future__ import annotations

from .._context import RunContext, Step


def skip_reason(ctx: RunContext) -> str | None:
    return None  # always: a report of an empty run says what is missing


def run(ctx: RunContext) -> None:
    from ...report import build_report

    build_report(ctx.outdir, protocol=ctx.protocol, allow_incomplete=True,  # the run writing the folder is this one
                 cpus=ctx.cpus)


STEP = Step("report", "one self-contained HTML report of the results", skip_reason, run)
