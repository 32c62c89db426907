"""The portable model folder: written by hbilstm export, loaded everywhere, never unpickled."""

import json

import pytest
import torch
from conftest import TWEETEVAL
from typer.testing import CliRunner

from hbilstm.checkpoint import load_model
from hbilstm.cli import app
from hbilstm.errors import CheckpointError, ConfigError
from hbilstm.export.exporter import export_model
from hbilstm.export.folder import CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE, read_model_folder
from hbilstm.inference import predict_probs

runner = CliRunner()


@pytest.fixture(scope="module")
def folder(trained_run, tmp_path_factory):
    return export_model(trained_run, tmp_path_factory.mktemp("export") / "model", onnx=False)


def real_tweets(n):
    return (TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").splitlines()[:n]


def test_folder_holds_config_weights_vocab_and_a_card_with_the_runs_scores(folder, trained_run):
    assert {p.name for p in folder.iterdir()} == {CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE, "README.md", "integrity.json"}
    config = json.loads((folder / CONFIG_FILE).read_text())
    results = json.loads((trained_run / "results.json").read_text())
    assert (config["format"], config["format_version"]) == ("hbilstm-model", 1)
    assert config["labels"] == ["negative", "neutral", "positive"]
    assert config["model_config"]["hidden"] == 16 and config["tokenizer"]["lowercase"] is True
    assert config["results"]["test"]["macro_recall"] == results["test"]["macro_recall"]
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: hbilstm\npipeline_tag: text-classification\n")
    assert f"| test | 150 | {100 * results['test']['macro_recall']:.2f} |" in card
    assert "Intended use and limits" in card and "hbilstm evaluate PATH" in card
    # the usual options always, any other option where the run changed it, never where it ran
    assert "| hidden | 16 |" in card and "| min_freq | 1 |" in card and "| max_tokens |" not in card
    assert "| data_dir |" not in card


def test_a_folder_loads_without_unpickling_and_scores_like_the_checkpoint(folder, trained_run, monkeypatch):
    original = load_model(trained_run)

    def no_pickles(*args, **kwargs):
        raise AssertionError("torch.load called on a model folder")

    monkeypatch.setattr(torch, "load", no_pickles)
    loaded = load_model(folder)
    assert loaded.label_names == original.label_names and loaded.vocab.tokens == original.vocab.tokens
    from hbilstm.data.pipeline import encode_texts
    from hbilstm.data.tokenizer import TweetTokenizer

    ids, _, ngrams = encode_texts(TweetTokenizer(loaded.tokenizer), loaded.vocab, loaded.max_tokens, real_tweets(300),
                                  loaded.ngram_buckets, loaded.ngram_words)
    assert torch.equal(
        predict_probs(loaded.model, ids, ngrams=ngrams), predict_probs(original.model, ids, ngrams=ngrams)
    )


def test_predict_and_evaluate_accept_the_folder(folder, trained_run, tmp_path, data_dir):
    tweets = tmp_path / "t.txt"
    tweets.write_text("\n".join(real_tweets(50)) + "\n")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert runner.invoke(app, ["predict", str(folder), str(tweets), "-o", str(a)]).exit_code == 0
    assert runner.invoke(app, ["predict", str(trained_run), str(tweets), "-o", str(b)]).exit_code == 0
    assert a.read_text() == b.read_text()
    result = runner.invoke(app, ["evaluate", str(folder), "--data-dir", str(data_dir), "-o", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "m.json").read_text())
    results = json.loads((trained_run / "results.json").read_text())
    assert scores["macro_recall"] == results["test"]["macro_recall"]  # same data recognised: same test split


def test_damaged_or_foreign_folders_are_one_line_errors(folder, tmp_path):
    import shutil

    from hbilstm.export.integrity import write_record

    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / WEIGHTS_FILE).write_bytes(b"\x00" * 40)
    with pytest.raises(CheckpointError, match="changed or damaged since export"):
        read_model_folder(broken)
    write_record(broken)  # as if the record were rewritten too: the weights are still read as damaged
    with pytest.raises(CheckpointError, match="damaged weights"):
        read_model_folder(broken)
    shutil.copy(folder / WEIGHTS_FILE, broken / WEIGHTS_FILE)
    (broken / CONFIG_FILE).write_text(json.dumps({"format": "something-else"}))
    write_record(broken)
    with pytest.raises(CheckpointError, match="not an hbilstm model folder"):
        load_model(broken)
    (broken / CONFIG_FILE).write_text(
        json.dumps({**json.loads((folder / CONFIG_FILE).read_text()), "format_version": 9})
    )
    write_record(broken)
    with pytest.raises(CheckpointError, match="format version 9"):
        load_model(broken)


def test_export_refuses_to_overwrite_and_leaves_nothing_half_written(trained_run, tmp_path, monkeypatch):
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="already exists and is not empty"):
        export_model(trained_run, out, onnx=False)
    assert (out / "keep.txt").read_text() == "mine"

    import hbilstm.export.folder as folder_module

    def failing_card(*args, **kwargs):
        raise OSError("disk full")

    target = tmp_path / "fresh"
    monkeypatch.setattr(folder_module.json, "dumps", failing_card)
    with pytest.raises(OSError):
        export_model(trained_run, target, onnx=False)
    assert not target.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".fresh")]


def test_export_refuses_an_out_dir_that_holds_the_model_even_with_overwrite(trained_run, folder, tmp_path):
    import shutil

    run = tmp_path / "runs" / "run"
    shutil.copytree(trained_run, run)
    before = sorted(p.name for p in run.iterdir())
    # once, `hbilstm export RUN RUN --overwrite` replaced the whole run directory with the folder
    for source, out in ((run, run), (run / "model.pt", run), (run, tmp_path / "runs"), (folder, folder)):
        result = runner.invoke(app, ["export", str(source), str(out), "--no-onnx", "--overwrite"])
        assert result.exit_code == 2, result.output
        assert result.stderr == f"error: {out}: holds the model being exported ({source}); write the folder " \
                                "elsewhere\n"
    assert sorted(p.name for p in run.iterdir()) == before
    assert load_model(folder).label_names == ["negative", "neutral", "positive"]


def test_export_command(trained_run, tmp_path):
    result = runner.invoke(app, ["export", str(trained_run), str(tmp_path / "m"), "--no-onnx"])
    assert result.exit_code == 0, result.output
    assert "config.json" in result.stderr and "model.safetensors" in result.stderr
    result = runner.invoke(app, ["export", str(tmp_path / "nope"), str(tmp_path / "m2"), "--no-onnx"])
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.output


def test_exported_folder_with_onnx_scores_alike_with_both_backends(trained_run, tmp_path):
    import os

    folder = tmp_path / "model"
    result = runner.invoke(app, ["export", str(trained_run), str(folder)])
    assert result.exit_code == 0, result.output
    assert (folder / "model.onnx").is_file()
    umask = os.umask(0)
    os.umask(umask)
    assert folder.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's private 0700
    assert (folder / WEIGHTS_FILE).stat().st_mode & 0o777 == 0o666 & ~umask
    tweets = tmp_path / "t.txt"
    tweets.write_text("\n".join(real_tweets(300)) + "\n")
    outputs = {}
    for backend in ("torch", "onnx"):
        out = tmp_path / f"{backend}.jsonl"
        result = runner.invoke(app, ["predict", str(folder), str(tweets), "--backend", backend, "-o", str(out)])
        assert result.exit_code == 0, result.output
        outputs[backend] = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["label"] for r in outputs["torch"]] == [r["label"] for r in outputs["onnx"]]
    for a, b in zip(outputs["torch"], outputs["onnx"]):
        assert (
            abs(a["prob_negative"] - b["prob_negative"]) < 1e-4 and abs(a["prob_positive"] - b["prob_positive"]) < 1e-4
        )


def test_the_card_of_an_irony_model_shows_its_official_metric():
    from hbilstm.export.card import model_card

    shape = {"layers": 2, "carry": "highway", "embedding_dim": 100, "hidden": 64, "pooling": "attention"}
    payload = {"model_config": shape, "labels": ["non_irony", "irony"],
               "dataset": "tweeteval-irony", "metric": "irony_f1", "train_config": {}}
    scores = {"n": 784, "macro_recall": 0.6, "accuracy": 0.62, "macro_f1": 0.61, "irony_f1": 0.5873}
    card = model_card(payload, {"val": {**scores, "n": 955}, "test": scores, "best_epoch": 4}, None)
    assert "| split | n | macro-recall | accuracy | macro-F1 | F1 of irony |" in card
    assert "| test | 784 | 60.00 | 62.00 | 61.00 | 58.73 |" in card
    sentiment = model_card({**payload, "metric": "macro_recall"}, {"test": scores, "best_epoch": 4}, None)
    assert "F1 of irony" not in sentiment
