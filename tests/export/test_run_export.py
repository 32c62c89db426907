"""RUN_DIR/export: the model folder ``hbilstm train`` leaves for torch-free prediction, and how
``hbilstm predict --backend auto`` chooses it."""

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import REAL_TWEETS, TWEETEVAL
from typer.testing import CliRunner

from hbilstm.cli import app
from hbilstm.export import backend as stream
from hbilstm.export import run_export
from hbilstm.export.backend import choose_backend, gpu_visible
from hbilstm.export.run_export import current_export
from hbilstm.fileio import sha256_file

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("safetensors")

runner = CliRunner()
TWEETS = REAL_TWEETS


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir):
    """A tiny model trained through the CLI with the default config (n-gram classifier included)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    result = runner.invoke(app, ["train", "--data-dir", str(data_dir), "--layers", "2", "--hidden", "8",
                                 "--epochs", "1", "--set", "embedding_dim=16", "--set", "min_freq=1",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"export: {out / 'export'}" in result.stdout
    return out


@pytest.fixture(scope="module")
def tweets(real_tweets_file):
    return real_tweets_file


def rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_train_leaves_an_export_of_its_model_pt_with_a_graph(run):
    folder = run / "export"
    assert (folder / "model.onnx").is_file() and (folder / "model.safetensors").is_file()
    source = json.loads((folder / "config.json").read_text())["exported_from"]
    assert source == {"file": "model.pt", "sha256": sha256_file(run / "model.pt")}
    assert current_export(run) == folder and current_export(run / "model.pt") == folder
    assert current_export(folder) is None and current_export(run / "nowhere") is None


def test_predict_scores_a_run_with_its_export_without_torch_and_with_the_torch_labels(run, tweets, tmp_path):
    reference, fast = tmp_path / "torch.csv", tmp_path / "auto.csv"
    result = runner.invoke(app, ["predict", str(run), str(tweets), "-o", str(reference), "--backend", "torch",
                                 "--workers", "0"])
    assert result.exit_code == 0, result.output
    code = ("import sys\nfrom hbilstm.predict import predict\n"  # backend auto, the default
            f"predict({str(run)!r}, {str(tweets)!r}, {str(fast)!r}, workers=0, device='cpu')\n"
            "print(sorted(m for m in ('torch', 'spacy', 'thinc') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    torch_rows, auto_rows = rows(reference), rows(fast)
    assert len(torch_rows) == len(auto_rows) == TWEETS
    assert [r["label"] for r in torch_rows] == [r["label"] for r in auto_rows]
    probs = [k for k in torch_rows[0] if k.startswith("prob_")]
    assert max(abs(float(a[k]) - float(b[k])) for a, b in zip(torch_rows, auto_rows) for k in probs) < 1e-4


def test_auto_takes_onnx_only_when_nothing_asks_for_torch(run, monkeypatch):
    folder = run / "export"
    monkeypatch.setattr(stream, "gpu_visible", lambda: False)
    assert choose_backend(run, "auto", "auto") == ("onnx", folder)
    assert choose_backend(run / "model.pt", "auto", "cpu") == ("onnx", folder)
    assert choose_backend(folder, "auto", "cpu") == ("onnx", folder)  # an exported folder itself
    assert choose_backend(run, "torch", "cpu") == ("torch", None)
    assert choose_backend(run, "auto", "cuda") == ("torch", None)
    monkeypatch.setattr(stream, "gpu_visible", lambda: True)
    assert choose_backend(run, "auto", "auto") == ("torch", None)
    assert choose_backend(run, "auto", "cpu") == ("onnx", folder)
    monkeypatch.setattr(stream, "gpu_visible", lambda: False)
    real_find_spec = stream.importlib.util.find_spec
    monkeypatch.setattr(stream.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real_find_spec(name, *a))
    assert choose_backend(run, "auto", "cpu") == ("torch", None)


def test_an_export_older_than_model_pt_is_never_used(run, tweets, tmp_path):
    import torch

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    payload = torch.load(copy / "model.pt", weights_only=True)
    name = next(k for k in payload["state_dict"] if k.endswith("bias"))
    payload["state_dict"][name] = payload["state_dict"][name] + 0.5  # as if trained on after the export
    torch.save(payload, copy / "model.pt")
    assert current_export(copy) is None
    assert choose_backend(copy, "auto", "cpu") == ("torch", None)
    result = runner.invoke(app, ["predict", str(copy), str(tweets), "-o", str(tmp_path / "a.csv"), "--workers", "0"])
    assert result.exit_code == 0, result.output  # scored by the new model.pt, with torch
    result = runner.invoke(app, ["predict", str(copy), str(tweets), "-o", str(tmp_path / "o.csv"),
                                 "--backend", "onnx"])
    assert result.exit_code == 2 and "exported from another model" in result.stderr, result.output
    assert not (tmp_path / "o.csv").exists()
    (copy / "export" / "model.onnx").unlink()
    assert current_export(run) is not None and current_export(copy) is None


def test_a_folder_without_a_graph_or_a_record_of_its_source_is_not_current(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    config = json.loads((copy / "export" / "config.json").read_text())
    del config["exported_from"]
    (copy / "export" / "config.json").write_text(json.dumps(config))
    assert current_export(copy) is None
    shutil.copytree(run / "export", copy / "export", dirs_exist_ok=True)
    assert current_export(copy) == copy / "export"
    (copy / "export" / "model.onnx").unlink()
    assert current_export(copy) is None


def test_no_export_and_a_failed_export(tmp_path, data_dir, monkeypatch):
    args = ["train", "--data-dir", str(data_dir), "--layers", "1", "--hidden", "4", "--epochs", "1",
            "--set", "embedding_dim=8", "--set", "min_freq=1", "--quiet"]
    result = runner.invoke(app, [*args, "--no-export", "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a" / "model.pt").is_file() and not (tmp_path / "a" / "export").exists()

    def fail(run_dir):
        raise RuntimeError("the exporter gave up\nsecond line")

    monkeypatch.setattr(run_export, "export_run", fail)
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output  # the model is trained and saved all the same
    assert result.stderr.strip() == (f"warning: could not write {tmp_path / 'b' / 'export'} (the exporter gave up); "
                                     "hbilstm predict will use PyTorch")
    assert (tmp_path / "b" / "model.pt").is_file() and not (tmp_path / "b" / "export").exists()

    monkeypatch.setattr(run_export, "missing_packages", lambda: ["onnxscript"])
    result = runner.invoke(app, [*args, "--export", "--out", str(tmp_path / "c")])
    assert result.exit_code == 2 and result.stderr.startswith("error: --export needs onnxscript"), result.output
    assert not (tmp_path / "c").exists()  # refused before training
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "d")])
    assert result.exit_code == 0 and not (tmp_path / "d" / "export").exists()  # without the extras: no export


def test_gpu_visible_honours_cuda_visible_devices(monkeypatch):
    for hidden in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert gpu_visible() is False
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert gpu_visible() == any(os.path.exists(p) for p in stream.GPU_DEVICE_FILES)
    monkeypatch.setattr(stream, "GPU_DEVICE_FILES", (__file__,))  # a file that exists stands in for a GPU's
    assert gpu_visible() is True
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert gpu_visible() is False


def test_hbilstm_load_scores_a_run_with_its_export_without_torch(run, tmp_path, trained_run):
    import hbilstm
    from hbilstm.errors import CheckpointError, ConfigError
    from hbilstm.serving.metadata import card_facts

    texts = (TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").splitlines()[:300]
    fast, plain = hbilstm.load(run, device="cpu"), hbilstm.load(run, backend="torch")
    assert (fast.backend, plain.backend) == ("onnx", "torch")
    assert abs(fast.predict_proba(texts) - plain.predict_proba(texts)).max() < 1e-5
    assert fast.predict(texts) == plain.predict(texts) and len(set(fast.predict(texts))) > 1
    assert json.dumps(fast.config) == json.dumps(plain.config) and fast.labels == plain.labels  # (a tuple is a list)
    assert "backend=onnx" in repr(fast) and card_facts(fast) == card_facts(plain)
    with pytest.raises(ConfigError, match="backend onnx scores on the CPU"):
        hbilstm.load(run, device="cuda", backend="onnx")
    with pytest.raises(CheckpointError, match="no model.onnx in it; run `hbilstm export"):
        hbilstm.load(trained_run, backend="onnx")  # trained without the CLI: no export folder
    with pytest.raises(ConfigError, match="backend must be one of auto, torch, onnx"):
        hbilstm.load(run, backend="tf")
    code = ("import sys, hbilstm\n"
            f"clf = hbilstm.load({str(run)!r}, device='cpu')\n"
            "print(clf.predict(['what a great game!', 'I hate mondays']), clf.backend,\n"
            "      sorted(m for m in ('torch', 'spacy', 'thinc') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("onnx []"), done.stdout
