"""Reading the Nextflow sources, and running a module's script as one task would run,
for the Nextflow tests (test_nextflow.py, test_nextflow_tasks.py)."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import ROOT

MODULES = sorted((ROOT / "modules" / "local").glob("*/main.nf"))
LINT = ROOT / ".ci" / "nextflow_lint.py"

# Each process runs the command(s) of the brief's command-line contract.
EXPECTED_COMMANDS = {
    "SIMULATE": [("simulate",)],
    "VALIDATE": [("validate",)],
    "CUSTODY": [("custody", "import"), ("custody", "verify"), ("custody", "check")],
    "TMB": [("tmb", "count")],
    "TMB_COLLECT": [("tmb", "collect")],
    "MSI_SCAN": [("msi", "scan")],
    "MSI_BASELINE": [("msi", "baseline")],
    "MSI_COHORT_BASELINE": [("msi", "baseline")],
    "MSI": [("msi", "call")],
    "MSI_COLLECT": [("msi", "collect")],
    "TME_SCORE": [("tme", "score")],
    "TME_COLLECT": [("tme", "collect")],
    "TME_PATHOLOGY": [("tme", "pathology")],
    "TME_ELIGIBILITY": [("tme", "eligibility")],
    "FLOW": [("flow", "gate")],
    "FLOW_COLLECT": [("flow", "collect")],
    "SINGLECELL": [("singlecell", "annotate")],
    "SINGLECELL_COLLECT_PBMC": [("singlecell", "collect")],
    "SINGLECELL_COLLECT_TUMOR": [("singlecell", "collect")],
    "ANALYSIS": [("analysis",)],
    "REPORT": [("report",)],
}

# Plausible values of the Nextflow interpolations in process scripts, as a task
# would render them (staged file names, meta fields).
VALUES = {
    "args": "",
    "run_params": "run/params.json",
    "n_subjects": "6",
    "seed": "1",
    "exports": "exports/1/site01_export.csv exports/2/site02_export.csv",
    "ledger": "ledger_in/custody.sqlite",
    "subjects": "subjects.csv",
    "milestones": "milestones.csv",
    "samplesheet": "samplesheet/samplesheet.csv",
    "input_name": "/data/trial/samplesheet.csv",
    "data_cutoff": "2027-05-06",
    "anchor_log": "anchors_in/custody.sqlite.anchors.jsonl",
    "key_env": "BIOMARKERS_CUSTODY_KEY",
    "meta.id": "NCT07007182-S01-0001-BX01-DNA",
    "meta.subject": "NCT07007182-S01-0001",
    "meta.timepoint": "BASELINE",
    "meta.sample_name": "TUMOR",
    "meta.normal_specimen": "NCT07007182-S01-0001-BC01-DNA",
    "meta.callable_mb": "1.5",
    "tumor_only": "yes",
    "hotspots": "hotspots.vcf.gz",
    "config": "config.yaml",
    "protocol": "protocol.yaml",
    "vcf": "vcf/NCT07007182-S01-0001-BX01-DNA.vcf.gz",
    "tumor_bam": "tumor/NCT07007182-S01-0001-BX01-DNA.bam",
    "normal_bam": "normal/NCT07007182-S01-0001-BC01-DNA.bam",
    "fasta": "genome.fa",
    "targets": "targets.bed",
    "coding_bed": "coding.bed",
    "counts": "counts/filtered_feature_bc_matrix.h5",
    "compartment": "pbmc",
    "settings": "processing.yaml",
    "markers": "markers.yaml",
    "reference": "reference/labelled_pbmc.h5ad",
    "sites": "sites.tsv.gz",
    "baseline": "baseline.tsv.gz",
    "normal_bams": "pon/1/PON1.bam pon/2/PON2.bam pon/3/PON3.bam",
    "parts": "parts/A.tmb.parquet parts/B.tmb.parquet",
    "adsl": "adsl.xpt",
    "adtte": "adtte.xpt",
    "adrs": "adrs.xpt",
    "expression": "expression/counts.tsv.gz",
    "meta.values": "counts",
    "samples": "samples/counts.samples.csv",
    "gene_lengths": "gene_lengths/lengths.tsv",
    "gene_map": "gene_map/map.tsv",
    "signatures": "signatures/signatures.yaml",
    "tx2gene": "tx2gene/tx2gene.tsv",
    "pathology": "pathology_in/central_lab.csv",
    "results": "pathology_results/results.parquet",
    "msi": "msi/msi.parquet",
    "rules": "rules/eligibility.yaml",
    "fcs": "fcs/SP01001-0009.fcs",
    "meta.panel": "PBMC16",
    "meta.batch": "3",
    "meta.control": "",
    "workspace": "workspace/site.wsp",
    "immune_tables": "immune/flow_subsets.parquet immune/pbmc_sc_summary.parquet",
    "task.process": "BIOMARKERS:TMB",
    "task.cpus": "2",
}


# --- reading the Nextflow sources ------------------------------------------------

def process_blocks(path: Path) -> dict[str, str]:
    """{process name: body} of the processes in a .nf file."""
    text = path.read_text()
    blocks = {}
    for match in re.finditer(r"^process\s+(\w+)\s*\{", text, re.M):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        blocks[match.group(1)] = text[match.end():i - 1]
    return blocks


def section(body: str, name: str) -> str:
    """A process section (``script:``, ``stub:``, ``output:``...) up to the next one."""
    match = re.search(rf"^\s*{name}:\s*$(.*?)(?=^\s*\w+:\s*$|\Z)", body, re.M | re.S)
    return match.group(1) if match else ""


def script_defs(script: str) -> dict[str, list[str]]:
    """``def x = ...`` lines of a script section -> the values x can take."""
    defs = {}
    for name, expr in re.findall(r"^\s*def\s+(\w+)\s*=\s*(.+?)\s*$", script, re.M):
        if re.fullmatch(r"task\.ext\.\w+\s*\?:\s*''", expr):
            defs[name] = [""]
            continue
        ext_default = re.fullmatch(r"task\.ext\.\w+\s*\?:\s*(\"[^\"]*\"|'[^']*')", expr)
        if ext_default:  # ext.prefix: the default, as a task without ext settings renders it
            defs[name] = [ext_default.group(1)[1:-1]]
            continue
        ternary = re.fullmatch(r"(.+?)\s*\?\s*(\"[^\"]*\"|'[^']*')\s*:\s*(\"[^\"]*\"|'[^']*')", expr)
        assert ternary, f"cannot read `def {name} = {expr}`: use `cond ? \"...\" : ''`"
        defs[name] = [ternary.group(2)[1:-1], ternary.group(3)[1:-1]]
    return defs


def command_lines(script: str) -> list[str]:
    """The ``biomarkers ...`` lines of the shell script (continuations joined)."""
    shell = re.search(r'"""(.*?)"""', script, re.S).group(1)
    shell = re.sub(r"\\\n\s*", " ", shell)
    return [line.strip() for line in shell.splitlines() if re.match(r"\s*biomarkers\s", line)]


def render(template: str, values: dict[str, str]) -> str:
    def sub(match: re.Match) -> str:
        key = match.group(1) or match.group(2)
        if key not in values:
            raise KeyError(key)
        return values[key]
    return re.sub(r"\$\{\s*([\w.]+)\s*\}|\$(\w+)", sub, template)


def renderings(line: str, defs: dict[str, list[str]]) -> list[str]:
    """Every rendering of a command line: each optional argument present and absent."""
    used = [name for name in defs if re.search(rf"\$\{{\s*{name}\s*\}}|\${name}\b", line)]
    out = []
    for choice in itertools.product(*(defs[name] for name in used)):
        values = dict(VALUES)
        for name, template in zip(used, choice):
            values[name] = render(template, VALUES)
        out.append(render(line, values))
    return out


def all_processes() -> dict[str, tuple[Path, str]]:
    found = {}
    for path in MODULES:
        for name, body in process_blocks(path).items():
            found[name] = (path, body)
    return found


def config_params(path: Path) -> dict[str, object]:
    text = path.read_text()
    block = re.search(r"^params\s*\{(.*?)^\}", text, re.M | re.S).group(1)
    values = {}
    for name, raw in re.findall(r"^\s*(\w+)\s*=\s*(.+?)\s*$", block, re.M):
        values[name] = json.loads(raw.replace("'", '"')) if raw != "null" else None
    return values


def schema_params() -> dict[str, dict]:
    schema = json.loads((ROOT / "nextflow_schema.json").read_text())
    specs = {}
    for group in schema["$defs"].values():
        specs.update(group["properties"])
    return specs


def published_patterns() -> dict[str, str]:
    text = (ROOT / "conf" / "modules.config").read_text()
    found = {}
    for name, block in re.findall(r"withName:\s*'(\w+)'\s*\{(.*?)\n    \}", text, re.S):
        assert "${params.outdir}" in block, f"{name} publishes outside --outdir"
        assert "mode: params.publish_dir_mode" in block, f"{name} must publish in params.publish_dir_mode"
        found[name] = re.search(r"pattern:\s*'([^']+)'", block).group(1)
    return found


def declared_outputs(body: str) -> list[str]:
    return re.findall(r'path\s*\(?\s*"([^"]+)"', section(body, "output"))


def runner_files() -> list[str]:
    """What `biomarkers run` writes, besides pipeline_info/ (Nextflow keeps its own
    execution records there, see below): every registered table, and the report."""
    from biomarkers.schemas import TABLES

    files = [t.path for t in TABLES.values() if not t.path.startswith("pipeline_info/")]
    # The MSI step keeps its site table and baseline beside its tables.
    msi_step = (ROOT / "src" / "biomarkers" / "pipeline" / "steps" / "msi.py").read_text()
    assert '"genomics" / "msi"' in msi_step and '"sites.tsv.gz"' in msi_step and '"baseline.tsv.gz"' in msi_step
    return [*files, "genomics/msi/sites.tsv.gz", "genomics/msi/baseline.tsv.gz", "report/index.html"]


# --- process scripts run as a task would (without Nextflow) ------------------------
# Not a run of main.nf: each module's script block is rendered the way Nextflow
# renders it for one task (inputs staged under their names, Groovy interpolations
# and the script's `def`s evaluated) and run with bash in a fresh folder, with the
# pipeline's bin/ on PATH as Nextflow puts it. The declared outputs must appear.

def task_script(process: str, inputs: dict[str, str], block: str = "script") -> tuple[str, list[str]]:
    """(bash script, declared output globs) of a process for these input values."""
    _, body = all_processes()[process]
    script = section(body, "script")
    values = {"task.cpus": VALUES["task.cpus"], **inputs, "task.process": f"BIOMARKERS:{process}"}
    for name, expr in re.findall(r"^\s*def\s+(\w+)\s*=\s*(.+?)\s*$", script, re.M):
        if re.fullmatch(r"task\.ext\.\w+\s*\?:\s*''", expr):
            values[name] = ""
            continue
        ext_default = re.fullmatch(r"task\.ext\.\w+\s*\?:\s*(\"[^\"]*\"|'[^']*')", expr)
        if ext_default:
            values[name] = render(ext_default.group(1)[1:-1], values)
            continue
        cond, yes, no = re.fullmatch(r"(.+?)\s*\?\s*(\"[^\"]*\"|'[^']*')\s*:\s*(\"[^\"]*\"|'[^']*')", expr).groups()
        values[name] = render((yes if values.get(cond.strip()) else no)[1:-1], values)
    if block != "script":  # a stub's own defs (ext.prefix), rendered the same way
        for name, expr in re.findall(r"^\s*def\s+(\w+)\s*=\s*(.+?)\s*$", section(body, block), re.M):
            ext_default = re.fullmatch(r"task\.ext\.\w+\s*\?:\s*(\"[^\"]*\"|'[^']*')", expr)
            assert ext_default, f"cannot read `def {name} = {expr}` in a stub"
            values[name] = render(ext_default.group(1)[1:-1], values)
    shell = re.search(r'"""(.*?)"""', section(body, block), re.S).group(1)
    # Nextflow strips the common indentation of a script (heredoc terminators rely on it).
    shell = textwrap.dedent(render(shell.replace("\\$", "\0"), values).replace("\0", "$"))
    outputs = [render(out, values) for out in declared_outputs(body)]
    return shell, outputs


def run_task(process: str, inputs: dict[str, str], workdir: Path) -> list[Path]:
    shell, outputs = task_script(process, inputs)
    workdir.mkdir(parents=True, exist_ok=True)
    # bin/biomarkers runs with the python3 on PATH: this test's, as a container's would be.
    path = os.pathsep.join([str(ROOT / "bin"), str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", shell], cwd=workdir, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{process} task failed:\n{shell}\n{result.stderr[-3000:]}"
    found = []
    for out in outputs:
        matches = sorted(workdir.glob(out))
        assert matches, f"{process} did not write its declared output {out}"
        found.extend(matches)
    return found


def stage(workdir: Path, files: list[Path], under: str = "") -> str:
    """Link files into a task folder as Nextflow stages them; return the names the
    script sees (space-separated), or '' for no file."""
    names = []
    for f in files:
        target = workdir / under / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(f.resolve())
        names.append(str(target.relative_to(workdir)))
    return " ".join(names)


def stage_numbered(workdir: Path, files: list[Path], under: str) -> str:
    """Stage files as ``stageAs: 'under/?/*'`` does: the n-th file in ``under/n/``,
    so two files of the same name never collide."""
    names = []
    for n, f in enumerate(files, start=1):
        target = workdir / under / str(n) / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(f.resolve())
        names.append(str(target.relative_to(workdir)))
    return " ".join(names)


def publish(process: str, workdir: Path, outdir: Path) -> list[Path]:
    """Copy a task's outputs matching its conf/modules.config pattern to outdir."""
    pattern = published_patterns()[process]
    published = []
    for found in sorted(workdir.glob(pattern)):
        rel = found.relative_to(workdir)
        dest = outdir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if found.is_dir():
            shutil.copytree(found, dest, symlinks=False, dirs_exist_ok=True)
        else:
            shutil.copy(found, dest)
        published.append(dest)
    return published
