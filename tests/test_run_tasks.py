"""The engine's per-specimen tasks (RunContext.run_tasks): in order, in worker
processes with --cpus, and a failed specimen reported without losing the others' work.
(That --cpus 1 and --cpus 2 give byte-identical outputs on a simulated trial is in
test_end_to_end.py, whose two demo runs use each.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from biomarkers.errors import InputError
from biomarkers.pipeline import RunContext, available_cpus
from biomarkers.protocol import load_protocol


def write_marker(outdir: str, specimen: str, fail: bool = False) -> tuple[str, int]:
    """A task: writes <specimen>.done (or fails as bad input would), returns its worker's pid."""
    if fail:
        raise InputError("unreadable BAM header", file=f"{specimen}.bam")
    Path(outdir, f"{specimen}.done").write_text(specimen)
    return specimen, os.getpid()


def context(tmp_path: Path, cpus: int) -> RunContext:
    return RunContext(params={}, outdir=tmp_path, protocol=load_protocol(None), samplesheet=None, cpus=cpus)


@pytest.mark.parametrize("cpus", [1, 2])
def test_results_come_back_in_task_order(tmp_path, cpus):
    tasks = [{"outdir": str(tmp_path), "specimen": f"S{i:02d}"} for i in range(7)]
    results = context(tmp_path, cpus).run_tasks("TEST", write_marker, tasks)
    assert [r[0] for r in results] == [t["specimen"] for t in tasks]
    pids = {r[1] for r in results}
    if cpus == 1:
        assert pids == {os.getpid()}, "cpus 1 runs in this process"
    else:
        assert os.getpid() not in pids and 1 <= len(pids) <= 2, "worker processes, at most cpus of them"


@pytest.mark.parametrize("cpus", [1, 2])
def test_a_failed_specimen_is_reported_and_the_others_finish(tmp_path, cpus, caplog):
    tasks = [{"outdir": str(tmp_path), "specimen": f"S{i:02d}", "fail": i in (1, 4)} for i in range(6)]
    with pytest.raises(InputError) as info:
        context(tmp_path, cpus).run_tasks("TEST", write_marker, tasks)
    message = str(info.value)
    assert message.startswith("S01.bam, specimen S01: unreadable BAM header"), message
    assert "(and 1 other specimens: see the log)" in message
    assert sorted(p.name for p in tmp_path.glob("*.done")) == ["S00.done", "S02.done", "S03.done", "S05.done"]
    failed = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(failed) == 2 and "S01 failed" in failed[0] and "S04 failed" in failed[1]


def test_progress_is_logged_per_task(tmp_path, caplog):
    caplog.set_level("INFO", logger="biomarkers")
    tasks = [{"outdir": str(tmp_path), "specimen": f"S{i}"} for i in range(3)]
    context(tmp_path, 2).run_tasks("TEST", write_marker, tasks)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("TEST [")]
    assert len(lines) == 3 and lines[-1].startswith("TEST [3/3] ")


def test_run_help_says_which_parameters_only_nextflow_uses(cli):
    """`biomarkers run --help` lists every pipeline parameter, under the schema's group
    headings; the groups only Nextflow uses say so, and so do the options only this engine has."""
    from biomarkers.pipeline import param_groups

    text = cli("run", "--help").stdout
    flat = "".join(text.split())  # argparse wraps lines, also inside hyphenated words
    nextflow_only = []
    for title, description, specs in param_groups():
        assert "".join(f"{title}: {description}".split()) in flat, title
        for name in specs:
            assert f"--{name}" in text, name
        if "Nextflow only" in description:
            nextflow_only += list(specs)
    assert {"publish_dir_mode", "container_registry", "slurm_queue", "awsbatch_queue", "custom_config_base"} <= set(nextflow_only)
    assert "input" not in nextflow_only and "fasta" not in nextflow_only
    assert "This engine (biomarkers run only):" in text and text.rindex("--cpus N") > text.index("This engine")


def test_cpus_option(cli, tmp_path):
    assert available_cpus() >= 1
    proc = cli("run", "--cpus", "0", "--outdir", str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.strip().endswith("field '--cpus': must be at least 1 (got 0)"), proc.stderr
