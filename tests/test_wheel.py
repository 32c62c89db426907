"""The package as a user installs it: a wheel built from this checkout works outside it.

The wheel is built from a copy of the package's files (``python -m build``, without isolation:
the build needs only setuptools), installed without its dependencies into a folder of its own (the
dependencies are this environment's), and run from another folder, so that nothing can reach the
checkout's files: it trains, exports, and scores the export without importing torch.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from conftest import REPO

pytestmark = pytest.mark.skipif(importlib.util.find_spec("build") is None,
                                reason='needs the build package (pip install -e ".[dev]")')


def run(args, cwd, env, timeout=600):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def test_a_wheel_installs_and_trains_exports_and_predicts_outside_the_checkout(tmp_path, data_dir, real_tweets_file):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "hbilstm", source / "hbilstm", ignore=shutil.ignore_patterns("__pycache__"))
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"), "."],
        source, dict(os.environ))
    (wheel,) = (tmp_path / "dist").glob("hbilstm-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "hbilstm/cli/__init__.py" in names and "hbilstm/export/integrity.py" in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "configs/"))]
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    for needed in ("onnxruntime", "onnx", "safetensors"):  # the fast path is in the base install
        assert f"Requires-Dist: {needed}" in metadata and f"Requires-Dist: {needed}>=" in metadata

    site = tmp_path / "site"
    run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), str(wheel)], tmp_path,
        dict(os.environ))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    where = run([sys.executable, "-c", "import hbilstm; print(hbilstm.__file__)"], elsewhere, env).stdout.strip()
    assert where.startswith(str(site)), where  # the wheel's package, not the checkout's
    run([sys.executable, "-m", "hbilstm", "train", "--data-dir", str(data_dir), "--layers", "1", "--hidden", "8",
         "--epochs", "1", "--set", "max_train=200", "-o", "run"], elsewhere, env)
    assert (elsewhere / "run" / "export" / "model.onnx").is_file()  # exported: the ONNX packages came with it
    code = ("import json, sys; from hbilstm.predict import predict; "
            f"stats = predict('run', {str(real_tweets_file)!r}, 'out.csv', workers=0); "
            "print(json.dumps([stats.predicted, sorted({'torch', 'spacy'} & set(sys.modules))]))")
    predicted, heavy = json.loads(run([sys.executable, "-c", code], elsewhere, env).stdout)
    assert predicted > 1000 and heavy == []
