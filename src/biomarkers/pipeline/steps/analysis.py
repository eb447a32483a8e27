"""Step ``analysis``: outcomes from ADaM joined to every biomarker table; exploratory associations."""

from __future__ import annotations

from .._context import RunContext, Step


def skip_reason(ctx: RunContext) -> str | None:
    missing = [k for k in ("adsl", "adtte", "adrs") if not ctx.params.get(k)]
    if missing:
        return f"no clinical data sets given (--{', --'.join(missing)})"
    return None


def run(ctx: RunContext) -> None:
    from ...outcomes import run_analysis

    ctx.record_params("adsl", "adtte", "adrs", "outcomes_config")
    run_analysis(ctx.outdir, adsl=ctx.params["adsl"], adtte=ctx.params["adtte"], adrs=ctx.params["adrs"],
                 config=ctx.params.get("outcomes_config"), protocol=ctx.protocol,
                 allow_incomplete=True,  # the run writing the folder is this one
                 cpus=ctx.cpus)


STEP = Step("analysis", "outcomes from ADaM joined to every biomarker table; exploratory associations", skip_reason, run)
