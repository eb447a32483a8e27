"""What a step of ``biomarkers run`` is given (:class:`RunContext`) and what a step is (:class:`Step`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from ..errors import InputError
from ..log import get_logger
from ..protocol import Protocol
from ..samplesheet import TumorInputs, tumor_inputs

__all__ = ["RunContext", "Step"]

log = get_logger("run")

T = TypeVar("T")


@dataclass
class RunContext:
    """What a step needs: parameters, the protocol, the samplesheet, where to write."""

    params: dict[str, Any]
    outdir: Path
    protocol: Protocol
    samplesheet: pd.DataFrame | None
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (role, path) read by steps

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
        """``function(**task)`` for every task, in order; the results in task order.

        Per-specimen work goes through here, so that one place decides how tasks run
        (in this process now; worker processes for ``--cpus``): ``function`` is a
        module-level function and each task a mapping of plain values. An input error
        names the task's specimen.
        """
        results = []
        for i, task in enumerate(tasks, 1):
            name = task.get("specimen", f"task {i}")
            log.info("%s [%d/%d] %s", label, i, len(tasks), name)
            try:
                results.append(function(**task))
            except InputError as exc:
                raise exc.with_context(row=f"specimen {name}") from None
        return results


@dataclass(frozen=True)
class Step:
    """One step of ``biomarkers run``: its name, what it does, when it has nothing to do, and the work."""

    name: str
    description: str
    # Returns None when the step can run, else the reason it is skipped.
    skip_reason: Callable[[RunContext], str | None]
    run: Callable[[RunContext], None]
