"""Independent tasks in worker processes, results in task order (the engine's per-specimen
tasks, the simulator's per-subject and per-specimen writers).

A task is a mapping of plain values and the function a module-level function, so both
cross to a worker. Results come back in task order and each task writes only its own
files, so what a caller makes of them does not depend on how many workers ran or in
which order the tasks finished.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = ["available_cpus", "map_in_order"]

T = TypeVar("T")

# BLAS and OpenMP threads that wait for work sleep at once instead of spinning: with
# several workers on as many cores, each worker's idle threads otherwise burn the cores
# the other workers need (measured: a third of the single-cell step's CPU time). The
# number of threads is unchanged, so every result is too. The user's own settings win.
WORKER_ENVIRONMENT = {"OPENBLAS_THREAD_TIMEOUT": "4", "OMP_WAIT_POLICY": "PASSIVE"}

# The libraries tasks use that take seconds of CPU to import. The fork server (one per
# process, started by the first pool) imports them once and every worker of every later
# pool starts with them, instead of each worker importing them again (measured: ~2.5 s
# each for scanpy, flowkit and umap). A library that is not installed is skipped.
PRELOAD = ("pandas", "pyarrow.parquet", "scipy.stats", "sklearn", "anndata", "scanpy", "umap", "flowkit", "pysam",
           "lifelines", "matplotlib.pyplot")


def available_cpus() -> int:
    """The cores this process may run on (its affinity: a batch slot's, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def map_in_order(function: Callable[..., T], tasks: Sequence[Mapping[str, Any]], *, workers: int,
                 initializer: Callable[..., None] | None = None, initargs: tuple = (),
                 on_done: Callable[[int, int, T], None] | None = None) -> list[T]:
    """``function(**task)`` for every task; the results in task order.

    With ``workers`` 1 (or one task) everything runs in this process, else in up to
    ``workers`` processes started by a fork server (a clean process, not a copy of this
    one's threads and open files). ``initializer(*initargs)`` runs once in each process
    that runs tasks (this one included, when it does): the place for state every task
    shares, sent once per worker rather than once per task. ``on_done(index, n_done,
    result)`` is called here as each task finishes, in the order they finish (progress).
    An exception in a task propagates.
    """
    results: list[Any] = [None] * len(tasks)
    workers = max(1, min(workers, len(tasks)))
    if workers == 1:
        if initializer is not None and tasks:
            initializer(*initargs)
        for i, task in enumerate(tasks):
            results[i] = function(**task)
            if on_done:
                on_done(i, i + 1, results[i])
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    for name, value in WORKER_ENVIRONMENT.items():  # the fork server starts with this environment
        os.environ.setdefault(name, value)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", *PRELOAD])  # used when the fork server starts
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=initializer,
                             initargs=initargs) as pool:
        futures = {pool.submit(_call, function, task): i for i, task in enumerate(tasks)}
        for done, future in enumerate(as_completed(futures), 1):
            i = futures[future]
            results[i] = future.result()
            if on_done:
                on_done(i, done, results[i])
    return results


def _call(function: Callable[..., T], task: Mapping[str, Any]) -> T:
    return function(**task)
