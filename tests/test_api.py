"""The Python API: hbilstm.load and a Classifier with predict / predict_proba."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, TWEETEVAL

import hbilstm
from hbilstm.errors import CheckpointError, ConfigError


def real_tweets(n):
    return (TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").splitlines()[:n]


@pytest.fixture(scope="module")
def clf(trained_run):
    return hbilstm.load(trained_run, device="cpu")


def test_predict_proba_is_one_row_per_text_in_order(clf):
    texts = real_tweets(200)
    probs = clf.predict_proba(texts)
    assert probs.shape == (200, 3) and probs.dtype == np.float32
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # order is kept whatever the batching: shuffled input gives the same rows shuffled
    order = np.random.default_rng(0).permutation(200)
    shuffled = clf.predict_proba([texts[i] for i in order])
    assert np.allclose(shuffled, probs[order], atol=1e-6)
    small_batches = hbilstm.load(clf.path, device="cpu", batch_size=7).predict_proba(texts)
    assert np.allclose(small_batches, probs, atol=1e-6)
    assert clf.predict(texts) == [clf.labels[i] for i in probs.argmax(axis=1)]


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_int8_scores_with_quantized_weights_on_either_backend(trained_run, tmp_path, backend):
    run = trained_run
    if backend == "onnx":
        pytest.importorskip("onnxruntime")
        from hbilstm.checkpoint import load_model
        from hbilstm.export.onnx import export_onnx

        run = tmp_path / "run"
        shutil.copytree(trained_run, run)
        export_onnx(load_model(run).model, run / "model.onnx")
    texts = real_tweets(300)
    full = hbilstm.load(run, device="cpu", backend=backend)
    quantized = hbilstm.load(run, backend=backend, int8=True)
    assert full.backend == quantized.backend == backend
    a, b = full.predict_proba(texts), quantized.predict_proba(texts)
    assert 0 < np.abs(a - b).max() < 0.1 and (a.argmax(1) == b.argmax(1)).mean() >= 0.95
    with pytest.raises(ConfigError, match="int8 quantizes the model for the CPU"):
        hbilstm.load(run, device="cuda", backend="torch", int8=True)


def test_labels_config_and_the_scikit_learn_names(clf):
    assert clf.labels == ["negative", "neutral", "positive"]
    assert list(clf.classes_) == clf.labels
    assert clf.config["model"]["hidden"] == 16 and clf.config["dataset"] == "tweeteval-sentiment"
    assert clf.predict_proba([]).shape == (0, 3) and clf.predict([]) == []


def test_empty_texts_and_wrong_types_are_clear_errors(clf):
    with pytest.raises(ValueError, match=r"texts\[1\] is empty"):
        clf.predict(["fine", "   ", "also fine"])
    with pytest.raises(TypeError, match="not one string"):
        clf.predict("just one tweet")
    with pytest.raises(TypeError, match=r"texts\[0\] is int"):
        clf.predict([3])


def test_save_pretrained_and_from_pretrained_round_trip(clf, tmp_path):
    folder = clf.save_pretrained(tmp_path / "model", onnx=False)
    again = hbilstm.Classifier.from_pretrained(folder, device="cpu")
    texts = real_tweets(100)
    assert np.array_equal(again.predict_proba(texts), clf.predict_proba(texts))


def hub_snapshot(folder, cache):
    """``folder`` laid out as huggingface_hub's cache holds a downloaded repository: each file a
    blob named by its hash, the snapshot's files links to them, and the Hub's .gitattributes."""
    import hashlib
    import os

    repo = cache / "models--someone--tweet-sentiment"
    snapshot = repo / "snapshots" / "0123abcd"
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for file in folder.iterdir():
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        blob.write_bytes(file.read_bytes())
        os.symlink(os.path.relpath(blob, snapshot), snapshot / file.name)
    (snapshot / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    return snapshot


def test_a_hub_id_is_fetched_with_huggingface_hub(clf, tmp_path, monkeypatch):
    import huggingface_hub

    snapshot = hub_snapshot(clf.save_pretrained(tmp_path / "model", onnx=False), tmp_path / "cache")
    asked = []

    def fake_snapshot_download(repo_id, **kwargs):
        asked.append(repo_id)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    loaded = hbilstm.load("someone/tweet-sentiment", device="cpu")
    assert asked == ["someone/tweet-sentiment"] and loaded.labels == clf.labels
    # the snapshot's links may lead into its repository's blobs, and nowhere else
    outside = tmp_path / "elsewhere.json"
    outside.write_text("[]")
    (snapshot / "vocab.json").unlink()
    (snapshot / "vocab.json").symlink_to(outside)
    with pytest.raises(CheckpointError, match="vocab.json: a link to .*elsewhere.json, outside"):
        hbilstm.load("someone/tweet-sentiment", device="cpu")


def test_a_hub_id_offline_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match="someone/absent-model: no such local path, and not downloadable") as info:
        hbilstm.load("someone/absent-model")
    assert "\n" not in str(info.value)


def test_push_to_hub_uploads_the_model_folder(clf, monkeypatch):
    import huggingface_hub

    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("token", token))

        def create_repo(self, repo_id, private=None, exist_ok=False):
            calls.append(("create", repo_id, exist_ok))

        def upload_folder(self, repo_id, folder_path, commit_message):
            from pathlib import Path

            calls.append(("upload", repo_id, sorted(p.name for p in Path(folder_path).iterdir())))
            return "https://huggingface.co/someone/m/commit/abc"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    url = clf.push_to_hub("someone/m", token="t", onnx=False)
    assert url.endswith("/commit/abc")
    assert calls == [("token", "t"), ("create", "someone/m", True),
                     ("upload", "someone/m",
                      ["README.md", "config.json", "integrity.json", "model.safetensors", "vocab.json"])]


def test_import_hbilstm_loads_no_torch_until_a_model_is_loaded(trained_run):
    script = (
        "import sys, hbilstm\n"
        "assert 'torch' not in sys.modules\n"
        f"clf = hbilstm.load({str(trained_run)!r}, device='cpu')\n"
        "assert 'torch' in sys.modules and clf.predict(['good morning'])[0] in clf.labels\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
