"""The image, the conda environment and the lock they are built from.

No container engine or registry is reachable here: these tests check the recipes
and the pins, not a built image (containers/README.md says how to build and push).
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT
from nextflow_sources import MODULES, config_params, schema_params

LOCK = ROOT / "containers" / "requirements.lock"
ENVIRONMENT = ROOT / "containers" / "environment.yml"


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not name==version"
            pins[canonicalize_name(name)] = version
    return pins


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_lock_covers_pyproject_dependencies():
    """Every runtime dependency of pyproject.toml is pinned, at a version it allows
    (add a dependency, run `make lock`)."""
    pins = lock_pins()
    for spec in project()["dependencies"]:
        req = Requirement(spec)
        key = canonicalize_name(req.name)
        assert key in pins, f"requirements.lock does not pin {req.name} (pyproject.toml): run make lock"
        assert pins[key] in req.specifier, f"requirements.lock pins {req.name}=={pins[key]}, outside {req.specifier}"


def test_lock_is_closed_over_requirements():
    """What a pinned package needs is pinned too, as far as this environment can tell
    (each pinned package installed here at the pinned version is read for its own
    requirements); and nothing of the test extras leaks into the image."""
    pins = lock_pins()
    checked = 0
    for key, version in pins.items():
        try:
            dist = metadata.distribution(key)
        except metadata.PackageNotFoundError:
            continue
        if dist.version != version:
            continue
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker and not req.marker.evaluate({"extra": ""}):
                continue
            assert canonicalize_name(req.name) in pins, f"{dist.metadata['Name']} needs {req.name}, which the lock does not pin"
            assert pins[canonicalize_name(req.name)] in req.specifier, f"{req.name}=={pins[canonicalize_name(req.name)]} breaks {key}'s {req}"
        checked += 1
    assert checked >= len(pins) // 2, "too few pinned versions installed here to check the closure: run make lock"
    for extra in project()["optional-dependencies"]["test"]:
        assert canonicalize_name(Requirement(extra).name) not in pins


def test_environment_yml_has_the_lock_pins():
    env = yaml.safe_load(ENVIRONMENT.read_text())
    pip = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert {canonicalize_name(p.split("==")[0]): p.split("==")[1] for p in pip} == lock_pins()
    python = next(d for d in env["dependencies"] if isinstance(d, str) and "python=" in d)
    assert python.endswith("python=3.11")
    assert "FROM python:3.11-" in (ROOT / "containers" / "Dockerfile").read_text()


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.parent.name)
def test_each_module_names_its_container_and_environment(module):
    text = module.read_text()
    assert 'conda "${moduleDir}/environment.yml"' in text
    assert 'container "${params.container_registry}/biomarkers:${params.container_tag}"' in text
    env = module.parent / "environment.yml"
    assert env.is_symlink() and env.resolve() == ENVIRONMENT.resolve(), f"{env}: a link to containers/environment.yml"


def test_image_name_is_set_in_one_place():
    """The registry path and the tag are parameters (nextflow.config, with the schema's
    defaults); the default tag is the package's version, as the recipes' tags."""
    version = project()["version"]
    params, schema = config_params(ROOT / "nextflow.config"), schema_params()
    assert params["container_tag"] == schema["container_tag"]["default"] == version
    assert params["container_registry"] == schema["container_registry"]["default"] == "quay.io/nct07007182"
    config = (ROOT / "nextflow.config").read_text()
    assert re.search(rf"^\s*version = '{re.escape(version)}'", config, re.M), "manifest.version"
    assert "process.container" not in config, "modules name the image, from the parameters"
    image = f"quay.io/nct07007182/biomarkers:{version}"
    for recipe in ("Dockerfile", "Singularity.def", "README.md"):
        assert image in (ROOT / "containers" / recipe).read_text(), recipe


def test_container_recipes_install_the_lock_then_this_package():
    """The recipes copy only files that exist, install the lock without resolving, then
    the package's wheel (carrying assets/) without resolving, and check the set."""
    dockerfile = (ROOT / "containers" / "Dockerfile").read_text()
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.M):
        for source in sources.split():
            assert (ROOT / source).exists(), f"Dockerfile copies a missing {source}"
    steps = [dockerfile.index(s) for s in ("pip install --no-cache-dir --no-deps -r /tmp/requirements.lock",
                                           "pip install --no-cache-dir --no-deps /wheels/*.whl", "python -m pip check")]
    assert steps == sorted(steps)
    ignore = (ROOT / "containers" / "Dockerfile.dockerignore").read_text()
    assert "!containers/requirements.lock" in ignore
    definition = (ROOT / "containers" / "Singularity.def").read_text()
    files = re.search(r"^%files\n(.*?)\n\n", definition, re.M | re.S).group(1)
    for line in files.splitlines():
        assert (ROOT / line.split()[0]).exists(), f"Singularity.def copies a missing {line.split()[0]}"
    assert "--no-deps -r /opt/biomarkers/requirements.lock" in definition and "pip check" in definition
