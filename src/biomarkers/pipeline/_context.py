"""What a step of ``biomarkers run`` is given (:class:`RunContext`) and what a step is (:class:`Step`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from ..errors import BiomarkersError, InputError
from ..log import get_logger
from ..protocol import Protocol
from ..samplesheet import TumorInputs, tumor_inputs
from ..workers import available_cpus, map_in_order

__all__ = ["RunContext", "Step", "available_cpus"]

log = get_logger("run")

T = TypeVar("T")


def _run_one(function: Callable[..., T], task: Mapping[str, Any]) -> tuple[str, Any]:
    """One task in a worker: ("ok", result) or ("error", the BiomarkersError), so a bad
    specimen comes back as a value and the other tasks go on."""
    try:
        return "ok", function(**task)
    except BiomarkersError as exc:
        return "error", exc


@dataclass
class RunContext:
    """What a step needs: parameters, the protocol, the samplesheet, where to write."""

    params: dict[str, Any]
    outdir: Path
    protocol: Protocol
    samplesheet: pd.DataFrame | None
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (role, path) read by steps
    cpus: int = 1  # worker processes for per-specimen tasks (run_tasks)

    def record_input(self, role: str, path: str | Path) -> None:
        self.inputs.append((role, str(path)))

    def record_params(self, *names: str, prefix: str = "") -> None:
        """Record the files named by these parameters, when given, as inputs of the run (role: prefix + name)."""
        for name in names:
            if self.params.get(name):
                self.record_input(prefix + name, self.params[name])

    def samplesheet_rows(self, *assays: str) -> pd.DataFrame:
        if self.samplesheet is None:
            return pd.DataFrame()
        return self.samplesheet[self.samplesheet["assay"].isin(assays)]

    def tumor_inputs(self) -> list[TumorInputs]:
        """Every tumour specimen's BAM, VCF and matched normal, paired once (``samplesheet.tumor_inputs``)."""
        if self.samplesheet is None:
            return []
        try:
            return tumor_inputs(self.samplesheet)
        except InputError as exc:
            raise exc.with_context(file=self.params.get("input")) from None

    def run_tasks(self, label: str, function: Callable[..., T], tasks: Sequence[Mapping[str, Any]]) -> list[T]:
        """``function(**task)`` for every task; the results in task order.

        Per-specimen work goes through here, so that one place decides how tasks run:
        in this process with ``cpus`` 1, else in up to ``cpus`` worker processes
        (``function`` is a module-level function and each task a mapping of plain
        values, so both cross to a worker). Results come back in task order and each
        task writes only its own files, so the outputs are the same for any ``cpus``.
        A task that fails with bad input does not stop the others: every task runs,
        each failure is logged with its specimen, and then the first is raised, naming
        its specimen and how many others failed.
        """
        total = len(tasks)
        names = [str(task.get("specimen", f"task {i}")) for i, task in enumerate(tasks, 1)]
        workers = min(self.cpus, total)
        start = time.monotonic()

        def progress(i: int, done: int, outcome: tuple[str, Any]) -> None:
            status = "failed" if outcome[0] == "error" else "done"
            log.info("%s [%d/%d] %s %s (%.0fs)", label, done, total, names[i], status, time.monotonic() - start)

        if workers > 1:
            log.info("%s: %d tasks on %d worker processes", label, total, workers)
        outcomes = map_in_order(_run_one, [{"function": function, "task": task} for task in tasks], workers=workers,
                                on_done=progress)
        failed = [i for i, outcome in enumerate(outcomes) if outcome[0] == "error"]
        for i in failed:
            log.error("%s: %s failed: %s", label, names[i], outcomes[i][1])
        if failed:
            first = outcomes[failed[0]][1]
            others = f" (and {len(failed) - 1} other specimens: see the log)" if len(failed) > 1 else ""
            first.message += others
            raise first.with_context(row=f"specimen {names[failed[0]]}") from None
        return [outcome[1] for outcome in outcomes]


@dataclass(frozen=True)
class Step:
    """One step of ``biomarkers run``: its name, what it does, when it has nothing to do, and the work."""

    name: str
    description: str
    # Returns None when the step can run, else the reason it is skipped.
    skip_reason: Callable[[RunContext], str | None]
    run: Callable[[RunContext], None]
