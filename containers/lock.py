#!/usr/bin/env python3
"""Write the dependency locks of the pipeline's image and conda environment.

Reads pyproject.toml's runtime dependencies and follows their requirements through
the packages installed in the running environment (the project's .venv after
`make install`), so every version is one that installs and passes the tests here:

- containers/requirements.lock: every runtime dependency, direct and transitive,
  as ``name==version`` (the Dockerfile and Singularity.def install exactly these);
- containers/environment.yml: the same pins for conda/mamba (Python from
  conda-forge, the packages from their PyPI wheels, as the image has them).

Run it after changing pyproject.toml's dependencies (``make lock``);
tests/test_containers.py fails while the locks do not cover pyproject.toml.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "containers" / "requirements.lock"
ENVIRONMENT = ROOT / "containers" / "environment.yml"


def runtime_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[Requirement]:
    return [Requirement(r) for r in tomllib.loads(pyproject.read_text())["project"]["dependencies"]]


def resolve(requirements: list[Requirement]) -> dict[str, str]:
    """{distribution name: installed version} of the requirements and all they need."""
    env = default_environment()
    pinned: dict[str, str] = {}
    todo = [(r, frozenset()) for r in requirements]
    while todo:
        req, extras = todo.pop()
        if req.marker and not any(req.marker.evaluate({**env, "extra": e}) for e in (extras or {""})):
            continue
        dist = metadata.distribution(req.name)
        name = dist.metadata["Name"]
        key = canonicalize_name(name)
        if dist.version not in req.specifier:
            raise SystemExit(f"lock: installed {name} {dist.version} does not satisfy {req}")
        seen_extras = req.extras
        if key in pinned and not seen_extras:
            continue
        pinned[key] = f"{name}=={dist.version}"
        for sub in dist.requires or []:
            todo.append((Requirement(sub), frozenset(seen_extras)))
    return dict(sorted(pinned.items()))


def lock_text(pins: dict[str, str]) -> str:
    python = ".".join(map(str, sys.version_info[:2]))
    header = ("# Runtime dependencies of the biomarkers package, direct and transitive, pinned to the\n"
              f"# versions installed and tested here (Python {python}). Written by containers/lock.py\n"
              "# (make lock) from pyproject.toml; the image installs exactly these.\n")
    return header + "".join(f"{pin}\n" for pin in pins.values())


def environment_text(pins: dict[str, str]) -> str:
    python = ".".join(map(str, sys.version_info[:2]))
    lines = [
        "# Conda/mamba environment of the pipeline's processes (-profile conda, mamba, wave):",
        "# the pins of containers/requirements.lock, written by containers/lock.py (make lock).",
        "# The processes run the package from the pipeline's own src/ through bin/biomarkers.",
        "name: biomarkers",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - conda-forge::python={python}",
        "  - conda-forge::pip",
        "  - conda-forge::procps-ng",
        "  - pip:",
        *[f"      - {pin}" for pin in pins.values()],
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ from what would be written")
    args = parser.parse_args(argv)
    pins = resolve(runtime_requirements())
    wanted = {LOCK: lock_text(pins), ENVIRONMENT: environment_text(pins)}
    if args.check:
        stale = [p.name for p, text in wanted.items() if not p.is_file() or p.read_text() != text]
        if stale:
            print(f"lock: out of date: {', '.join(stale)} (run make lock)", file=sys.stderr)
            return 1
        return 0
    for path, text in wanted.items():
        path.write_text(text)
    print(f"lock: {len(pins)} packages pinned in {LOCK.relative_to(ROOT)} and {ENVIRONMENT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
