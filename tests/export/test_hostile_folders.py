"""Model folders damaged, mixed up or hostile: every one is a one-line error (exit 2 from the CLI,
an HbilstmError from ``hbilstm.load``), found before anything is parsed or allocated, on both backends."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from conftest import TWEETEVAL
from typer.testing import CliRunner

import hbilstm
from hbilstm.cli import app
from hbilstm.errors import CheckpointError, HbilstmError
from hbilstm.export.exporter import export_model
from hbilstm.export.integrity import GRAPH_KEY, RECORD_FILE, read_record, write_record

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

runner = CliRunner()
BACKENDS = ("torch", "onnx")


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    return export_model(trained_run, tmp_path_factory.mktemp("hostile") / "model", onnx=True)


@pytest.fixture(scope="module")
def tweets(tmp_path_factory):
    path = tmp_path_factory.mktemp("tweets") / "t.txt"
    path.write_text("\n".join((TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").splitlines()[:20]) + "\n")
    return path


def always_positive_graph(path):
    """A 4-node graph with the model's inputs that answers "positive" for every tweet, and no record."""
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Cast", ["lengths"], ["as_float"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["as_float", "axis"], ["column"]),
        helper.make_node("Mul", ["column", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "positive"], ["probs"]),
    ]
    graph = helper.make_graph(
        nodes, "fake",
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "time"]),
         helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"]),
         helper.make_tensor_value_info("ngrams", TensorProto.INT64, ["batch", "ngrams"])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor("axis", TensorProto.INT64, [1], [1]),
         helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
         helper.make_tensor("positive", TensorProto.FLOAT, [1, 3], [0.0, 0.0, 1.0])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def swap_two_tokens(folder):
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    vocab[5], vocab[6] = vocab[6], vocab[5]
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")


def link_out(folder, name, target):
    (folder / name).unlink()
    os.symlink(target, folder / name)


DAMAGE = {
    "truncated weights": (lambda f: os.truncate(f / "model.safetensors", 1000),
                          "model.safetensors: changed or damaged"),
    "empty weights": (lambda f: (f / "model.safetensors").write_bytes(b""), "model.safetensors: changed or damaged"),
    "weights with a bad header": (lambda f: (f / "model.safetensors").write_bytes(b"\xff" * 8 + b"{}" * 100),
                                  "model.safetensors: changed or damaged"),
    "vocabulary reordered": (swap_two_tokens, "vocab.json: changed or damaged"),
    "graph replaced": (lambda f: always_positive_graph(f / "model.onnx"), "model.onnx: changed or damaged"),
    "graph replaced, record removed": (lambda f: (always_positive_graph(f / "model.onnx"), (f / RECORD_FILE).unlink()),
                                       f"no {RECORD_FILE}"),
    "graph linked from outside": (lambda f: (always_positive_graph(f.parent / "fake.onnx"),
                                             link_out(f, "model.onnx", f.parent / "fake.onnx")), "a link to"),
    "vocabulary linked to /dev/zero": (lambda f: link_out(f, "vocab.json", "/dev/zero"), "a link to /dev/zero"),
    "vocabulary a FIFO": (lambda f: ((f / "vocab.json").unlink(), os.mkfifo(f / "vocab.json")),
                          "vocab.json: a FIFO, not a regular file"),
    "an unlisted file": (lambda f: shutil.copy(f / "model.onnx", f / "model2.onnx"), "model2.onnx: not a file that"),
    "record damaged": (lambda f: (f / RECORD_FILE).write_text("{not json"), f"{RECORD_FILE}: damaged"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_or_tampered_folder_is_refused_before_it_is_read(case, exported, tweets, tmp_path):
    damage, phrase = DAMAGE[case]
    folder = tmp_path / "model"
    shutil.copytree(exported, folder)
    damage(folder)
    for backend in BACKENDS:
        with pytest.raises(CheckpointError, match=phrase.replace("(", r"\(")) as info:
            hbilstm.load(folder, backend=backend, device="cpu")
        assert isinstance(info.value, HbilstmError) and "\n" not in str(info.value)
    result = runner.invoke(app, ["predict", str(folder), str(tweets), "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and phrase in result.stderr
    assert not (tmp_path / "out.csv").exists()


def reseal(folder, exported):
    """Rewrite the integrity record over the folder as it is now (as a careless tool, or someone
    who rewrote every file, would): what the record cannot catch, the config's checks must."""
    write_record(folder, read_record(exported)[GRAPH_KEY])


def edit_config(folder, key, value):
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if isinstance(key, tuple):
        config[key[0]][key[1]] = value
    else:
        config[key] = value
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")


CONFIGS = [
    # key, value, phrase on the torch backend, phrase on the onnx backend (None: the same)
    ("model_config", "x", "model_config must be a mapping", None),
    ("labels", 5, "labels must be a list of class names", None),
    ("labels", "abc", "labels must be a list of class names", None),
    ("labels", ["negative", "negative", "positive"], "label 'negative' is listed twice", None),
    ("labels", ["negative", "neutral"], "2 labels for a model of 3 classes", None),
    ("tokenizer", None, "tokenizer must be a mapping", None),
    ("tokenizer", {"lowercase": "yes"}, "tokenizer.lowercase must be true or false", None),
    ("tokenizer", {"keep_hashtags": True}, "tokenizer.keep_hashtags is true but split_hashtags is not", None),
    ("max_tokens", "abc", "max_tokens must be a whole number", None),
    ("max_tokens", -5, "max_tokens must be a whole number between 1", None),
    (("model_config", "layers"), 1e9, "model_config.layers must be a whole number", None),
    (("model_config", "layers"), 10**9, "model_config.layers must be between 1 and 512", None),
    (("model_config", "layers"), 400, "weights do not fit the model", "skip"),
    (("model_config", "hidden"), 16000, "weights do not fit the model", "skip"),
    (("model_config", "ngram_buckets"), 0, "temperatures must be a list of 1 positive number", None),
    (("model_config", "ngram_words"), 7, "model_config.ngram_words must be between 0 and 3", None),
    (("model_config", "ngram_words"), "two", "model_config.ngram_words must be a whole number", None),
    (("model_config", "temperatures"), "hot", "temperatures must be a list of 2 positive number", None),
    (("model_config", "temperatures"), [1.0, -1.0], "temperatures must be a list of 2 positive number", None),
    (("model_config", "offsets"), [0.0, "up", 1.0], "offsets must be a list of 3 finite number(s)", None),
    (("model_config", "offsets"), [0.0, 1.0], "offsets must be a list of 3 finite number(s)", None),
    (("model_config", "carry"), "skip", "model_config.carry must be one of", None),
    (("model_config", "dropout"), 1.5, "model_config.dropout must be a number in [0, 1)", None),
]


@pytest.mark.parametrize("key, value, torch_phrase, onnx_phrase", CONFIGS,
                         ids=[f"{k if isinstance(k, str) else '.'.join(k)}={v!r}"[:40] for k, v, _, _ in CONFIGS])
def test_config_json_is_checked_before_anything_is_built_from_it(key, value, torch_phrase, onnx_phrase, exported,
                                                                 tweets, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(exported, folder)
    edit_config(folder, key, value)
    reseal(folder, exported)
    for backend, phrase in (("torch", torch_phrase), ("onnx", onnx_phrase or torch_phrase)):
        if phrase == "skip":  # the graph does not read this field: it was traced from the model whole
            continue
        with pytest.raises(CheckpointError, match=_pattern(phrase)):
            hbilstm.load(folder, backend=backend, device="cpu")
    result = runner.invoke(app, ["predict", str(folder), str(tweets), "--backend", "torch"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and torch_phrase in result.stderr, result.output


def _pattern(phrase: str) -> str:
    import re

    return re.escape(phrase)


def test_a_graph_and_config_that_disagree_on_n_grams_are_one_line_errors(exported, tweets, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(exported, folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["model_config"].update(ngram_buckets=0, temperatures=config["model_config"]["temperatures"][:1])
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    reseal(folder, exported)
    with pytest.raises(CheckpointError, match="says the model reads 0 n-gram buckets, but its graph reads n-grams"):
        hbilstm.load(folder, backend="onnx")
    config["model_config"].update(ngram_buckets=1 << 20, temperatures=[1.0, 1.0])  # more buckets than the graph has
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    reseal(folder, exported)
    result = runner.invoke(app, ["predict", str(folder), str(tweets), "--backend", "onnx"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert "the graph cannot score these inputs" in result.stderr


def test_a_checkpoint_is_checked_like_a_folders_config(trained_run, tmp_path):
    import torch

    from hbilstm.checkpoint import load_checkpoint

    payload = torch.load(trained_run / "model.pt", weights_only=True)
    for key, value, phrase in (("labels", "abc", "labels must be a list"), ("max_tokens", -5, "max_tokens must be"),
                               ("vocab", ["a", "a"], "tokens for a model of")):
        torch.save({**payload, key: value}, tmp_path / "model.pt")
        with pytest.raises(CheckpointError, match=phrase):
            load_checkpoint(tmp_path / "model.pt")
    os.unlink(tmp_path / "model.pt")
    os.mkfifo(tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="a FIFO, not a regular file"):
        load_checkpoint(tmp_path / "model.pt")


def test_a_run_whose_export_has_no_record_is_scored_with_torch(trained_run, tweets, tmp_path):
    """A run directory exported before folders had a record is not refused: its export is passed over."""
    from hbilstm.export.backend import choose_backend
    from hbilstm.export.run_export import export_run

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    export_run(run)
    assert choose_backend(run, "auto", "cpu")[0] == "onnx"
    (run / "export" / RECORD_FILE).unlink()
    assert choose_backend(run, "auto", "cpu") == ("torch", None)
    assert hbilstm.load(run, device="cpu").backend == "torch"
