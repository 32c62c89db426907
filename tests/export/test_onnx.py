"""model.onnx: the exported graph, OnnxScorer, and ``hbilstm predict --backend onnx``."""

import csv
import itertools
import shutil
import sys

import numpy as np
import pytest
import torch
from conftest import REAL_TWEETS, TWEETEVAL
from typer.testing import CliRunner

from hbilstm.checkpoint import load_model
from hbilstm.cli import app
from hbilstm.data.pipeline import encode_texts
from hbilstm.data.tokenizer import TweetTokenizer
from hbilstm.errors import CheckpointError, ConfigError
from hbilstm.export.onnx import MODEL_KEY, OnnxScorer, export_onnx, find_onnx_model
from hbilstm.inference import predict_probs
from hbilstm.model import CARRIES, POOLINGS, HighwayBiLSTMClassifier, ModelConfig

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

runner = CliRunner()
TWEETS = REAL_TWEETS


@pytest.fixture(scope="module")
def onnx_run(trained_run, tmp_path_factory):
    """A copy of the tiny trained run with its model exported beside model.pt as model.onnx."""
    run = tmp_path_factory.mktemp("onnx") / "run"
    shutil.copytree(trained_run, run)
    export_onnx(load_model(run).model, run / "model.onnx")
    return run


@pytest.fixture(scope="module")
def tweets_file(real_tweets_file):
    return real_tweets_file


def real_encoded(loaded, n):
    """Token ids and n-gram ids of the first ``n`` real test tweets (the default model reads both)."""
    texts = (TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").splitlines()[:n]
    return encode_texts(TweetTokenizer(loaded.tokenizer), loaded.vocab, loaded.max_tokens, texts, loaded.ngram_buckets,
                        loaded.ngram_words)


def padded(sequences, width=None):
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    tokens = np.zeros((len(sequences), width or int(lengths.max())), dtype=np.int64)
    for row, seq in enumerate(sequences):
        tokens[row, : len(seq)] = seq
    return tokens, lengths


def torch_probs(model, tokens, lengths, *ngrams):
    with torch.no_grad():
        inputs = (torch.from_numpy(tokens), torch.from_numpy(lengths), *map(torch.from_numpy, ngrams))
        return torch.softmax(model(*inputs), dim=-1).numpy()


def test_the_graph_passes_the_checker_with_named_typed_inputs_and_dynamic_axes(onnx_run):
    graph = onnx.load(str(onnx_run / "model.onnx"))
    onnx.checker.check_model(graph, full_check=True)

    def shape(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    inputs = {i.name: i for i in graph.graph.input}
    assert list(inputs) == ["tokens", "lengths", "ngrams"]  # the default model has the n-gram classifier
    assert all(i.type.tensor_type.elem_type == onnx.TensorProto.INT64 for i in inputs.values())
    assert shape(inputs["tokens"]) == ["batch", "time"] and shape(inputs["lengths"]) == ["batch"]
    assert shape(inputs["ngrams"]) == ["batch", "ngrams"]
    (output,) = graph.graph.output
    assert output.name == "probs" and output.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert shape(output) == ["batch", 3]
    assert {p.key for p in graph.metadata_props} == {MODEL_KEY}
    assert [p.name for p in (onnx_run).iterdir() if p.name.endswith(".tmp")] == []  # no temporary left


def test_the_graph_scores_batches_of_any_size_and_length_like_the_model(onnx_run):
    loaded = load_model(onnx_run)
    session = OnnxScorer(onnx_run / "model.onnx").session
    encoded = real_encoded(loaded, 400)
    # sizes and widths unlike the export example's (3 rows of 5), the rows' lengths mixed
    for start, size, extra in ((0, 1, 0), (1, 2, 0), (3, 17, 4), (20, 64, 0), (84, 316, 9)):
        tokens, lengths = padded(encoded.ids[start : start + size])
        tokens = np.pad(tokens, ((0, 0), (0, extra)))  # more padding than needed changes nothing
        ngrams, _ = padded(encoded.ngrams[start : start + size])
        ngrams = np.pad(ngrams, ((0, 0), (0, extra)))
        probs = session.run(["probs"], {"tokens": tokens, "lengths": lengths, "ngrams": ngrams})[0]
        assert probs.shape == (size, 3) and probs.dtype == np.float32
        assert np.abs(probs.sum(axis=1) - 1).max() < 1e-5
        assert np.abs(probs - torch_probs(loaded.model, tokens, lengths, ngrams)).max() < 1e-5


@pytest.mark.parametrize("carry, pooling", list(itertools.product(CARRIES, POOLINGS)))
def test_every_carry_and_pooling_exports_with_the_models_numbers(carry, pooling, tmp_path):
    torch.manual_seed(4)
    model = HighwayBiLSTMClassifier(ModelConfig(vocab_size=70, num_classes=4, embedding_dim=10, hidden=6,
                                                layers=3, carry=carry, pooling=pooling)).eval()
    session = OnnxScorer(export_onnx(model, tmp_path / "m.onnx")).session
    generator = torch.Generator().manual_seed(1)
    lengths = torch.randperm(40, generator=generator) + 1  # every length 1..40 in one batch
    tokens = torch.randint(1, 70, (40, 40), generator=generator).masked_fill(
        torch.arange(40)[None, :] >= lengths[:, None], 0)
    probs = session.run(["probs"], {"tokens": tokens.numpy(), "lengths": lengths.numpy()})[0]
    assert np.abs(probs - torch_probs(model, tokens.numpy(), lengths.numpy())).max() < 1e-5


def test_each_layer_is_one_bidirectional_lstm_node_that_reverses_rows_within_their_lengths(tmp_path):
    torch.manual_seed(5)
    model = HighwayBiLSTMClassifier(ModelConfig(vocab_size=50, num_classes=3, embedding_dim=8, hidden=5,
                                                layers=3)).eval()
    graph = onnx.load(str(export_onnx(model, tmp_path / "m.onnx"))).graph
    lstms = [node for node in graph.node if node.op_type == "LSTM"]
    assert len(lstms) == 3
    for node in lstms:
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attributes["direction"] == b"bidirectional" and attributes["hidden_size"] == 5
        assert len(node.input) == 5 and node.input[4]  # X, W, R, B and the rows' lengths
    assert not [node for node in graph.node if node.op_type == "GatherElements"]  # no reversal by gathers
    # A row's probabilities do not depend on the padding after it, nor on the other rows of its batch,
    # and equal the model's: the backward direction starts at each row's own last token.
    session = OnnxScorer(tmp_path / "m.onnx").session
    rows = [[3, 9, 27, 4, 11, 2], [8, 1], [30, 30, 5, 7]]
    tokens, lengths = padded(rows, width=9)
    together = session.run(["probs"], {"tokens": tokens, "lengths": lengths})[0]
    for row, ids in enumerate(rows):
        alone = session.run(["probs"], {"tokens": np.array([ids]), "lengths": np.array([len(ids)])})[0]
        assert np.abs(alone[0] - together[row]).max() < 1e-6
    assert np.abs(together - torch_probs(model, tokens, lengths)).max() < 1e-5


def test_export_leaves_the_model_in_its_own_mode(tmp_path):
    model = HighwayBiLSTMClassifier(ModelConfig(vocab_size=30, num_classes=3, embedding_dim=8, hidden=4))
    model.train()
    export_onnx(model, tmp_path / "m.onnx")
    assert model.training and all(m.training for m in model.modules())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_onnx_scorer_returns_rows_in_input_order_like_predict_probs(onnx_run):
    loaded = load_model(onnx_run)
    sequences, _, ngrams = real_encoded(loaded, 500)
    scorer = OnnxScorer(onnx_run / "model.onnx", threads=1)
    probs = scorer.predict_probs(sequences, batch_size=37, ngrams=ngrams)  # many buckets of similar length
    assert probs.shape == (500, 3)
    reference = predict_probs(loaded.model, sequences, batch_size=37, ngrams=ngrams).numpy()
    assert np.abs(probs - reference).max() < 1e-5
    alone = scorer.predict_probs([sequences[123]], batch_size=1, ngrams=[ngrams[123]])
    assert np.abs(alone[0] - probs[123]).max() < 1e-5
    assert scorer.predict_probs([], ngrams=[]).shape == (0, 3)


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def compare_outputs(torch_csv, onnx_csv, n):
    expected, got = read_rows(torch_csv), read_rows(onnx_csv)
    assert len(expected) == len(got) == n
    columns = ["prob_negative", "prob_neutral", "prob_positive"]
    assert [r["line"] for r in got] == [r["line"] for r in expected]
    assert [r["label"] for r in got] == [r["label"] for r in expected]
    diff = max(abs(float(a[c]) - float(b[c])) for a, b in zip(expected, got) for c in columns)
    assert diff < 1e-4
    assert len({r["label"] for r in got}) > 1  # a real comparison, not one constant label


def test_predict_backend_onnx_gives_the_torch_labels_and_probabilities_on_2000_real_tweets(
        onnx_run, tweets_file, tmp_path):
    outputs = {}
    for backend in ("torch", "onnx"):
        outputs[backend] = tmp_path / f"{backend}.csv"
        result = runner.invoke(app, ["predict", str(onnx_run), str(tweets_file), "-o", str(outputs[backend]),
                                     "--workers", "0", "--backend", backend])
        assert result.exit_code == 0, result.output
    compare_outputs(outputs["torch"], outputs["onnx"], TWEETS)


def test_predict_backend_onnx_in_worker_processes_and_from_the_checkpoint_file(onnx_run, tweets_file, tmp_path):
    from hbilstm.predict import predict

    reference, pooled = tmp_path / "torch.csv", tmp_path / "pooled.csv"
    predict(onnx_run, str(tweets_file), str(reference), workers=0)
    # chunks after the first go to a worker process, which loads model.onnx itself
    predict(onnx_run / "model.pt", str(tweets_file), str(pooled), workers=1, chunk_size=700, backend="onnx")
    compare_outputs(reference, pooled, TWEETS)


def test_int8_quantizes_the_graph_beside_a_checkpoint_in_this_process_and_in_workers(onnx_run, tweets_file, tmp_path):
    from hbilstm.loading import load
    from hbilstm.predict import predict

    full = load(onnx_run / "model.pt", backend="onnx")
    quantized = load(onnx_run / "model.pt", backend="onnx", int8=True)
    assert quantized.backend == "onnx" and quantized.graph.int8 and not full.graph.int8
    encoded = real_encoded(quantized, 300)
    a = full.graph.predict_probs(encoded.ids, 64, encoded.ngrams)
    b = quantized.graph.predict_probs(encoded.ids, 64, encoded.ngrams)
    assert 0 < np.abs(a - b).max() < 0.1 and (a.argmax(1) == b.argmax(1)).mean() >= 0.95
    # chunks after the first go to a worker process, which quantizes the graph it loads too
    runs = {}
    for name, kwargs in (("fp32", {"workers": 0}), ("local", {"workers": 0, "int8": True}),
                         ("pooled", {"workers": 1, "int8": True})):
        runs[name] = tmp_path / f"{name}.csv"
        predict(onnx_run / "model.pt", str(tweets_file), str(runs[name]), chunk_size=700, batch_size=700,
                backend="onnx", **kwargs)
    fp32, local, pooled = (read_rows(runs[name]) for name in ("fp32", "local", "pooled"))
    # the same batches either way; one thread in the worker against two here moves the int8 numbers
    # by about 1e-4 (the quantized kernels' float parts), not the labels
    assert [r["label"] for r in pooled] == [r["label"] for r in local] and len(pooled) == TWEETS
    columns = ("prob_negative", "prob_neutral", "prob_positive")

    def gap(x, y):  # mean absolute difference of the probabilities, over the rows the worker scored
        probs = [[float(row[c]) for c in columns] for row in x[700:] + y[700:]]
        half = len(probs) // 2
        return float(np.abs(np.array(probs[:half]) - np.array(probs[half:])).mean())

    assert gap(local, pooled) < 1e-3 and gap(fp32, pooled) > 3 * gap(local, pooled)  # the worker's graph was int8


def test_quantizing_drops_only_the_quantizers_hint_and_leaves_the_root_logger_as_it_was(onnx_run, caplog):
    import logging

    from hbilstm.export.onnx_runtime import _QUANTIZER_HINTS, quantized_graph

    root = logging.getLogger()
    filters, level = list(root.filters), root.level
    with caplog.at_level(logging.WARNING):
        graph = quantized_graph(onnx_run / "model.onnx")
        with _QUANTIZER_HINTS:  # while a graph is quantized, anyone else's warnings still pass
            logging.warning("a warning of the application's own")
    assert graph[:2] and [r.getMessage() for r in caplog.records] == ["a warning of the application's own"]
    assert root.filters == filters and root.level == level


def one_line_error(result):
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_a_missing_graph_says_to_run_hbilstm_export_first(trained_run, tweets_file, tmp_path):
    assert not (trained_run / "model.onnx").exists()
    for model in (trained_run, trained_run / "model.pt"):
        result = runner.invoke(app, ["predict", str(model), str(tweets_file), "-o", str(tmp_path / "o.csv"),
                                     "--backend", "onnx"])
        line = one_line_error(result)
        assert "no model.onnx" in line and f"hbilstm export {model} OUT_DIR" in line
    assert not (tmp_path / "o.csv").exists()
    with pytest.raises(CheckpointError, match="hbilstm export"):
        find_onnx_model(tmp_path)


def test_a_missing_onnx_package_says_what_to_install(onnx_run, tweets_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    result = runner.invoke(app, ["predict", str(onnx_run), str(tweets_file), "--backend", "onnx"])
    line = one_line_error(result)
    assert "onnxruntime is not installed" in line and 'pip install "hbilstm[onnx]"' in line
    monkeypatch.setitem(sys.modules, "onnx", None)
    model = HighwayBiLSTMClassifier(ModelConfig(vocab_size=30, num_classes=3, embedding_dim=8, hidden=4))
    with pytest.raises(ConfigError, match=r'onnx is not installed.*pip install "hbilstm\[onnx\]"'):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_a_graph_from_other_weights_is_refused(onnx_run, tweets_file, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(onnx_run, run)
    other = load_model(run).model
    with torch.no_grad():
        other.classifier.bias.add_(0.5)
    export_onnx(other, run / "model.onnx")
    result = runner.invoke(app, ["predict", str(run), str(tweets_file), "--backend", "onnx"])
    assert "exported from another model" in one_line_error(result)


def test_a_graph_of_the_same_weights_with_other_temperatures_is_refused(onnx_run, tweets_file, tmp_path):
    """Calibrating again changes the temperatures the graph bakes in, not the weights: the graph
    records both, so the stale one is refused (it was used, with the old temperatures)."""
    from hbilstm.checkpoint import load_checkpoint, save_checkpoint

    run = tmp_path / "run"
    shutil.copytree(onnx_run, run)
    payload = load_checkpoint(run / "model.pt")
    shape = payload["model_config"]
    payload["model_config"] = {**shape, "temperatures": [t * 1.5 for t in shape["temperatures"] or [1.0, 1.0]]}
    save_checkpoint(run / "model.pt", {k: v for k, v in payload.items() if not k.startswith("format")})
    result = runner.invoke(app, ["predict", str(run), str(tweets_file), "--backend", "onnx"])
    assert "exported from another model" in one_line_error(result) and "temperatures" in one_line_error(result)


def test_a_graph_that_does_not_record_its_model_is_refused(onnx_run, tweets_file, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(onnx_run, run)
    graph = onnx.load(str(run / "model.onnx"))
    del graph.metadata_props[:]
    onnx.save(graph, str(run / "model.onnx"))
    result = runner.invoke(app, ["predict", str(run), str(tweets_file), "--backend", "onnx"])
    assert "does not record which model it was exported from" in one_line_error(result)


def test_backend_onnx_refuses_a_gpu_device_and_unknown_backends_are_named(onnx_run, tweets_file):
    line = one_line_error(runner.invoke(app, ["predict", str(onnx_run), str(tweets_file), "--backend", "onnx",
                                              "--device", "cuda"]))
    assert "backend onnx scores on the CPU" in line
    line = one_line_error(runner.invoke(app, ["predict", str(onnx_run), str(tweets_file), "--backend", "tf"]))
    assert "backend must be one of auto, torch, onnx" in line


@pytest.fixture(scope="module")
def onnx_folder(trained_run, tmp_path_factory):
    """The tiny trained run exported as a model folder, model.onnx included."""
    from hbilstm.export.exporter import export_model

    return export_model(trained_run, tmp_path_factory.mktemp("folder") / "model", onnx=True)


def test_an_exported_folder_is_scored_without_importing_torch_or_spacy_with_the_torch_labels(
        onnx_folder, trained_run, tweets_file, tmp_path):
    import os
    import subprocess

    from hbilstm.predict import predict

    reference, fast = tmp_path / "torch.csv", tmp_path / "fast.csv"
    predict(trained_run, str(tweets_file), str(reference), workers=0)  # also saves the tokenizer's rules
    code = ("import sys\nfrom hbilstm.predict import predict\n"
            f"predict({str(onnx_folder)!r}, {str(tweets_file)!r}, {str(fast)!r}, workers=0, backend='onnx')\n"
            "print(sorted(m for m in ('torch', 'spacy', 'thinc') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    compare_outputs(reference, fast, TWEETS)


def test_an_exported_folder_scored_in_worker_processes_gives_the_one_process_output(onnx_folder, tweets_file, tmp_path):
    from hbilstm.predict import predict

    alone, pooled = tmp_path / "alone.csv", tmp_path / "pooled.csv"
    predict(onnx_folder, str(tweets_file), str(alone), workers=0, backend="onnx")
    # chunks after the first go to a worker process, which loads the folder itself
    predict(onnx_folder, str(tweets_file), str(pooled), workers=1, chunk_size=700, backend="onnx")
    compare_outputs(alone, pooled, TWEETS)


def test_a_folders_record_names_its_graphs_model_and_a_graph_of_other_weights_is_refused(
        onnx_folder, trained_run, tweets_file, tmp_path):
    from hbilstm.export.integrity import GRAPH_KEY, read_record, write_record
    from hbilstm.export.onnx import digest_of_model

    model = load_model(trained_run).model
    assert read_record(onnx_folder)[GRAPH_KEY] == digest_of_model(model)
    assert {p.key: p.value for p in onnx.load(str(onnx_folder / "model.onnx")).metadata_props} == {
        MODEL_KEY: digest_of_model(model)}
    folder = tmp_path / "folder"
    shutil.copytree(onnx_folder, folder)
    with torch.no_grad():
        model.classifier.bias.add_(0.5)
    export_onnx(model, folder / "model.onnx")
    result = runner.invoke(app, ["predict", str(folder), str(tweets_file), "--backend", "onnx"])
    assert "model.onnx: changed or damaged since export" in one_line_error(result)
    # even with the record rewritten over the new graph, it records another model than the folder's
    write_record(folder, read_record(onnx_folder)[GRAPH_KEY])
    result = runner.invoke(app, ["predict", str(folder), str(tweets_file), "--backend", "onnx"])
    assert "exported from another model" in one_line_error(result)


def test_a_folder_whose_vocabulary_does_not_fit_its_model_is_refused(onnx_folder, tweets_file, tmp_path):
    import json

    folder = tmp_path / "folder"
    shutil.copytree(onnx_folder, folder)
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    (folder / "vocab.json").write_text(json.dumps(vocab[:-1]), encoding="utf-8")
    result = runner.invoke(
        app, ["predict", str(folder), str(tweets_file), "--backend", "onnx", "-o", str(tmp_path / "o.csv")]
    )
    assert "vocab.json: changed or damaged since export" in one_line_error(result)
    from hbilstm.export.integrity import GRAPH_KEY, read_record, write_record

    write_record(folder, read_record(onnx_folder)[GRAPH_KEY])  # as if the record had been rewritten too
    result = runner.invoke(app, ["predict", str(folder), str(tweets_file), "--backend", "onnx",
                                 "-o", str(tmp_path / "o.csv")])
    assert "tokens for a model of" in one_line_error(result)
    assert not (tmp_path / "o.csv").exists()
