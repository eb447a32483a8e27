"""Shared fixtures: real public data, external tools, and cached simulated trials.

Real data: tests read ``BIOMARKERS_REAL_DATA``; unset, those tests skip; set, a
missing file is a failure. External tools (samtools, bcftools, mosdepth, java,
chromium): absent, the comparison tests skip, unless ``BIOMARKERS_REQUIRE_TOOLS=1``
(CI sets it), in which case they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def real_data_path(relative: str) -> Path:
    base = os.environ.get("BIOMARKERS_REAL_DATA")
    if not base:
        pytest.skip("BIOMARKERS_REAL_DATA is not set")
    path = Path(base) / relative
    if not path.exists():
        pytest.fail(f"BIOMARKERS_REAL_DATA is set but {path} is missing")
    return path


@pytest.fixture
def real_data():
    """``real_data("bam/x.bam")`` -> Path, skipping or failing as the module docstring says."""
    return real_data_path


def require_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    if os.environ.get("BIOMARKERS_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{name} is required (BIOMARKERS_REQUIRE_TOOLS=1) but not on PATH")
    pytest.skip(f"{name} not installed")


@pytest.fixture
def tool():
    return require_tool


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m biomarkers ...`` in a subprocess, as a user would."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "biomarkers", *args], capture_output=True, text=True, cwd=cwd, env=full_env)


@pytest.fixture
def cli():
    return run_cli
