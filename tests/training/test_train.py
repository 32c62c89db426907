"""Training on a slice of real tweets: run directory contents, reproducibility, resume."""

import json

import pytest
import torch

from hbilstm.checkpoint import load_checkpoint
from hbilstm.config import TrainConfig
from hbilstm.errors import ConfigError, DataError
from hbilstm.evaluation.evaluate import evaluate
from hbilstm.training import load_run_config, train


def tiny(data_dir, **kw):
    settings = dict(data_dir=str(data_dir), layers=2, hidden=8, embedding_dim=12, epochs=2,
                    batch_size=32, min_freq=1, seed=5)
    settings.update(kw)
    return TrainConfig(**settings)


def test_run_directory_holds_config_manifest_metrics_checkpoints_and_results(trained_run):
    names = {p.name for p in trained_run.iterdir()}
    assert {"config.yaml", "manifest.json", "metrics.jsonl", "model.pt", "last.pt", "results.json"} <= names
    lines = (trained_run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    manifest = json.loads((trained_run / "manifest.json").read_text())
    assert manifest["seed"] == 3
    assert manifest["packages"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert len(manifest["data"]["files"]) == 7 and all(len(f["sha256"]) == 64 for f in manifest["data"]["files"])
    results = json.loads((trained_run / "results.json").read_text())
    assert results["metric"] == "macro_recall" and results["test"]["n"] == 150
    # the best epoch is the one with the best val score, and results.json holds that model's scores
    # (once calibrated: tests/training/test_calibration.py)
    val_scores = [json.loads(line)["val_macro_recall"] for line in lines]
    assert results["best_epoch"] == 1 + val_scores.index(max(val_scores))
    assert results["val"] == load_checkpoint(trained_run / "model.pt")["val"]
    rescored = evaluate(trained_run)
    assert rescored["macro_recall"] == results["test"]["macro_recall"]
    assert rescored["confusion"] == results["test"]["confusion"]


def test_checkpoint_loads_with_weights_only_and_holds_everything_to_rebuild(trained_run):
    raw = torch.load(trained_run / "model.pt", weights_only=True)
    assert raw["format_version"] == 1 and raw["labels"] == ["negative", "neutral", "positive"]
    assert raw["vocab"][:2] == ["<pad>", "<unk>"] and raw["train_config"]["hidden"] == 16
    assert raw["model_config"]["vocab_size"] == len(raw["vocab"])


def test_same_seed_same_weights_different_seed_different_weights(tmp_path, data_dir):
    def weights(run, seed):
        train(tiny(data_dir, epochs=1, seed=seed), tmp_path / run)
        return load_checkpoint(tmp_path / run / "last.pt")["state_dict"]

    a, b, c = weights("a", 1), weights("b", 1), weights("c", 2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_an_existing_run_is_not_overwritten_without_overwrite(tmp_path, data_dir):
    run = tmp_path / "run"
    train(tiny(data_dir, epochs=1), run)
    before = (run / "model.pt").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run.*--overwrite"):
        train(tiny(data_dir, epochs=1), run)
    assert (run / "model.pt").read_bytes() == before
    train(tiny(data_dir, epochs=1, seed=99), run, overwrite=True)
    assert (run / "model.pt").read_bytes() != before


def test_bad_input_found_while_building_leaves_the_run_directory_as_it_was(tmp_path, data_dir):
    run = tmp_path / "run"
    train(tiny(data_dir, epochs=1), run)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    damaged = tmp_path / "encoder.pt"
    damaged.write_bytes((run / "model.pt").read_bytes()[:1000])
    # the encoder is read while the data and model are built: once after the old run was deleted
    with pytest.raises(ConfigError, match="init: .*damaged"):
        train(tiny(data_dir, epochs=1, init=str(damaged)), run, overwrite=True)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    fresh = tmp_path / "fresh"
    with pytest.raises(ConfigError, match="init: .*damaged"):
        train(tiny(data_dir, epochs=1, init=str(damaged)), fresh)
    assert not fresh.exists()  # no config.yaml left to refuse the next try without --overwrite


def test_resume_with_more_epochs_continues_to_the_uninterrupted_result(tmp_path, data_dir):
    straight = tmp_path / "straight"
    train(tiny(data_dir, epochs=3), straight)
    split = tmp_path / "split"
    train(tiny(data_dir, epochs=2), split)
    train(load_run_config(split, {"epochs": 3}), split, resume=True)
    a = load_checkpoint(straight / "last.pt")["state_dict"]
    b = load_checkpoint(split / "last.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (
        (straight / "metrics.jsonl").read_text().count("\n") == (split / "metrics.jsonl").read_text().count("\n") == 3
    )


def test_resume_refuses_to_change_what_defines_the_run(tmp_path, data_dir):
    run = tmp_path / "run"
    train(tiny(data_dir, epochs=1), run)
    with pytest.raises(ConfigError, match="--hidden cannot change when resuming"):
        load_run_config(run, {"hidden": 64})



@pytest.mark.parametrize("carry", ["plain", "residual", "gated-residual"])
def test_every_carry_trains_end_to_end_and_keeps_its_best_epoch(tmp_path, data_dir, carry):
    from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig

    run = tmp_path / carry
    result = train(tiny(data_dir, epochs=2, carry=carry, layers=3, patience=0), run)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    val = [r["val_macro_recall"] for r in records]
    best = load_checkpoint(run / "model.pt")
    assert result.best_epoch == best["epoch"] == 1 + val.index(max(val)) and result.epochs_run == 2
    assert result.test is not None and result.test["n"] == 150
    # the weights moved away from the initialisation the same seed gives
    torch.manual_seed(5)
    fresh = HighwayBiLSTMClassifier(ModelConfig.from_dict(best["model_config"])).state_dict()
    assert any(not torch.equal(fresh[k], best["state_dict"][k]) for k in fresh)


@pytest.mark.parametrize("weights", ["none", "balanced"])
def test_an_empty_training_split_is_refused_with_one_line(tmp_path, data_dir, weights):
    import shutil
    import signal

    folder = tmp_path / "empty-train"
    shutil.copytree(data_dir / "tweeteval-sentiment", folder)
    (folder / "train_text.txt").write_text("")
    (folder / "train_labels.txt").write_text("")

    def too_long(signum, frame):
        raise TimeoutError("training an empty split did not stop")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(60)
    try:
        with pytest.raises(DataError, match="empty-train: the train split has no examples"):
            train(tiny(data_dir, data=str(folder), class_weights=weights), tmp_path / "run")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_resume_refuses_when_a_data_file_changed_since_the_run_started(tmp_path, data_dir):
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy)
    run = tmp_path / "run"
    train(tiny(copy, epochs=1), run)
    before = (run / "last.pt").read_bytes()
    with open(copy / "tweeteval-sentiment" / "train_text.txt", "a") as handle:
        handle.write("one more tweet\n")
    with open(copy / "tweeteval-sentiment" / "train_labels.txt", "a") as handle:
        handle.write("1\n")
    with pytest.raises(ConfigError, match=r"data file train_\w+\.txt changed since the run started"):
        train(load_run_config(run, {"epochs": 2}), run, resume=True)
    assert (run / "last.pt").read_bytes() == before
    assert load_run_config(run).epochs == 1  # nothing of the run was rewritten


def test_val_loss_is_the_training_objective_class_weights_included(tmp_path, data_dir):
    from hbilstm.data.batching import collate
    from hbilstm.data.corpora import load_corpus
    from hbilstm.training.parts import build

    config = tiny(data_dir, epochs=1, class_weights="balanced")
    train(config, tmp_path / "run")
    parts = build(config, load_corpus(config.data, config.data_dir), torch.device("cpu"), None, lambda line: None)
    assert parts.criterion.weight is not None and not torch.allclose(parts.criterion.weight, torch.ones(3))
    assert parts.criterion.label_smoothing == config.label_smoothing > 0  # the default smooths, and so does val loss
    # the n-gram classifier learns from the same class weights without smoothing
    assert parts.head_criterion.label_smoothing == 0.0 and torch.equal(
        parts.head_criterion.weight, parts.criterion.weight
    )
    saved = load_checkpoint(tmp_path / "run" / "model.pt")
    parts.model.load_state_dict(saved["state_dict"])
    val = parts.data.val
    batch = collate(val.ids, val.labels, list(range(len(val))), ngrams=val.ngrams)

    def val_loss(temperatures) -> float:
        parts.model.config.temperatures = temperatures
        with torch.no_grad():  # (with the n-gram classifier: the loss of the two classifiers' mean probability)
            return float(parts.criterion(parts.model.eval()(*batch.inputs), batch.labels))

    results = json.loads((tmp_path / "run" / "results.json").read_text())
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert record["val_loss"] == pytest.approx(val_loss(()), rel=1e-5)  # while training: no temperatures yet
    assert results["val"]["loss"] == pytest.approx(val_loss(saved["model_config"]["temperatures"]), rel=1e-5)


def test_early_stopping_stops_after_patience_epochs_without_a_better_val_score(tmp_path, data_dir):
    # lr 1e-12 leaves the weights as they start, so no epoch after the first scores better
    run = tmp_path / "run"
    result = train(tiny(data_dir, epochs=4, patience=1, lr=1e-12), run)
    assert (result.best_epoch, result.epochs_run, result.stopped) == (1, 2, "early-stopped")
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    # resumed with more patience it trains on, and the run is no longer called early-stopped
    result = train(load_run_config(run, {"patience": 5}), run, resume=True)
    assert (result.epochs_run, result.stopped) == (4, "completed")
    assert json.loads((run / "results.json").read_text())["stopped"] == "completed"


@pytest.mark.parametrize("freeze, missing", [(True, False), (True, True), (False, False)])
def test_frozen_embeddings_stay_the_pretrained_vectors_through_training(tmp_path, data_dir, freeze, missing):
    from hbilstm.data.embeddings import load_vectors
    from hbilstm.data.vocab import Vocabulary

    vectors = tmp_path / "vectors.txt"
    generator = torch.Generator().manual_seed(0)
    words = ["the", "to", "i", "a", "and", "is", "you", "@user", "of", "in"]
    vectors.write_text(
        "".join(
            w + " " + " ".join(f"{v:.4f}" for v in torch.randn(12, generator=generator).tolist()) + "\n" for w in words
        )
    )
    run = tmp_path / "run"
    options = dict(embeddings=str(vectors), freeze_embeddings=freeze, train_missing_vectors=missing)
    train(tiny(data_dir, epochs=1, **options), run)
    train(load_run_config(run, {"epochs": 2}), run, resume=True)  # a resume keeps the same rows fixed
    saved = load_checkpoint(run / "model.pt")
    start = load_vectors(vectors, Vocabulary(saved["vocab"]), None, seed=5)
    assert len(start.found_ids) == len(words)
    weight = saved["state_dict"]["embedding.weight"]
    found = list(start.found_ids)
    missing_rows = [i for i in range(2, len(weight)) if i not in found]
    assert torch.equal(weight[found], start.weights[found]) == freeze
    changed = (weight[missing_rows] != start.weights[missing_rows]).any(dim=1).float().mean()
    assert (changed > 0.5) == (missing or not freeze)  # the rows of words without a vector
    assert torch.all(weight[0] == 0)  # padding stays zero either way
    assert load_checkpoint(run / "last.pt", kind="resume").get("frozen_rows") == ([0, *found] if missing else None)


def test_max_train_trains_on_a_fixed_sample_and_says_so(tmp_path, data_dir):
    from hbilstm.training import TrainCallback

    class Lines(TrainCallback):
        def __init__(self):
            self.lines = []

        def log(self, message):
            self.lines.append(message)

    heard = Lines()
    train(tiny(data_dir, epochs=1, max_train=60), tmp_path / "run", callback=heard)
    assert any(line.startswith("data: tweeteval-sentiment: train 60, val 150") for line in heard.lines)
    assert any(line.startswith("epoch  1: loss") for line in heard.lines)


def test_the_same_seed_and_thread_count_give_the_same_weights_in_another_process(tmp_path, data_dir):
    """What "reproducible" means on a CPU (README): two processes, the same seed and threads."""
    import os
    import subprocess
    import sys

    def run(name: str) -> dict:
        command = [sys.executable, "-m", "hbilstm", "train", "--data-dir", str(data_dir), "--layers", "2",
                   "--hidden", "8", "--set", "embedding_dim=12", "--set", "min_freq=1", "--epochs", "2",
                   "--set", "threads=2", "--seed", "5", "-q", "-o", str(tmp_path / name)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "OMP_NUM_THREADS": "2"})
        assert done.returncode == 0, done.stderr
        return load_checkpoint(tmp_path / name / "last.pt")["state_dict"]

    first, second = run("a"), run("b")
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_a_run_written_before_label_smoothing_existed_resumes_as_it_was_trained(tmp_path, data_dir):
    import yaml

    from hbilstm.checkpoint import save_checkpoint

    run = tmp_path / "old"
    train(tiny(data_dir, epochs=1, label_smoothing=0.0, embedding_noise=0.0), run)
    # what an older hbilstm wrote: no label_smoothing or embedding_noise anywhere
    config = yaml.safe_load((run / "config.yaml").read_text())
    for key in ("label_smoothing", "embedding_noise"):
        del config[key]
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    saved = load_checkpoint(run / "last.pt", kind="resume")
    for key in ("label_smoothing", "embedding_noise"):
        del saved["train_config"][key]
    save_checkpoint(run / "last.pt", saved)

    resumed = load_run_config(run, {"epochs": 2})
    assert (resumed.label_smoothing, resumed.embedding_noise) == (0.0, 0.0)  # not today's defaults
    train(resumed, run, resume=True)
    assert yaml.safe_load((run / "config.yaml").read_text())["label_smoothing"] == 0.0


SUBNORMAL = 1e-39  # below float32's smallest normal number (1.2e-38)


def _subnormal_survives() -> bool:
    return (torch.tensor([SUBNORMAL], dtype=torch.float32) * 1.0).item() != 0.0


@pytest.mark.skipif(not torch.set_flush_denormal(False), reason="this CPU cannot flush subnormal floats to zero")
def test_training_flushes_subnormal_floats_to_zero_and_puts_both_settings_back(tmp_path, data_dir):
    from hbilstm.training import TrainCallback

    seen = []

    class Watch(TrainCallback):
        def epoch_end(self, record: dict) -> None:
            seen.append((_subnormal_survives(), torch.get_num_threads()))

    threads_before = torch.get_num_threads()
    assert _subnormal_survives()
    train(tiny(data_dir, epochs=1, threads=1), tmp_path / "run", callback=Watch())
    assert seen == [(False, 1)]  # inside training: subnormals are zeros, and the thread count is the config's
    assert _subnormal_survives() and torch.get_num_threads() == threads_before  # and both are back after


@pytest.mark.skipif(not torch.set_flush_denormal(False), reason="this CPU cannot flush subnormal floats to zero")
def test_a_nested_cpu_settings_block_leaves_the_enclosing_blocks_flush_on():
    from hbilstm.inference import cpu_settings

    with cpu_settings(0):
        with cpu_settings(1):
            assert not _subnormal_survives()
        assert not _subnormal_survives()
    assert _subnormal_survives()
