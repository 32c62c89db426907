"""The code keeps the style pyproject.toml configures: ruff's checks, lines of at most 120 columns."""

import shutil
import subprocess

import pytest
from conftest import REPO


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip('ruff is not installed (it comes with pip install -e ".[dev]")')
    done = subprocess.run([ruff, "check", "--no-cache", "hbilstm", "tests", "benchmarks", "cli.py"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
