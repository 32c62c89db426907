"""Batch prediction: formats, order, ids, and every bad-input case of the predict command."""

import csv
import io
import json
import tempfile

import pytest
import torch
from typer.testing import CliRunner

from hbilstm.cli import app
from hbilstm.errors import DataError
from hbilstm.predict import predict

runner = CliRunner()


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_txt_input_gives_one_row_per_line_in_order_with_line_numbers(trained_run, tmp_path):
    source = tmp_path / "tweets.txt"
    source.write_text("I love it :)\n\nworst day ever\n   \nok then\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    stats = predict(trained_run, str(source), str(out))
    rows = read_csv(out)
    assert [r["line"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert [r["text"] for r in rows] == ["I love it :)", "", "worst day ever", "   ", "ok then"]
    assert list(rows[0]) == [
        "line",
        "text",
        "label",
        "confidence",
        "prob_negative",
        "prob_neutral",
        "prob_positive",
        "error",
    ]
    for row in rows:
        if row["text"].strip():
            probs = [float(row[f"prob_{c}"]) for c in ("negative", "neutral", "positive")]
            assert sum(probs) == pytest.approx(1.0, abs=1e-5)
            assert row["label"] in ("negative", "neutral", "positive") and row["error"] == ""
            assert float(row["confidence"]) == pytest.approx(max(probs))
        else:
            assert row["label"] == "" and row["error"] == "empty text" and row["confidence"] == ""
    assert (stats.rows, stats.predicted, stats.errors) == (5, 3, 2)


def test_csv_input_keeps_its_id_column_and_quoted_newlines(trained_run, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text('tweet,id\n"multi\nline, with comma",a7\nsecond,b8\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    predict(trained_run, str(source), str(out), text_column="tweet")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["text"]) for r in rows] == [("a7", "multi\nline, with comma"), ("b8", "second")]
    assert all(r["error"] is None and r["label"] for r in rows)


def test_jsonl_input_and_output_order_match_a_reference_of_single_predictions(trained_run, tmp_path):
    texts = [f"tweet number {i} {'great' if i % 3 else 'awful'} " + "word " * (i % 17) for i in range(300)]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    chunked = tmp_path / "chunked.csv"
    predict(trained_run, str(source), str(chunked), chunk_size=7, batch_size=5)
    whole = tmp_path / "whole.csv"
    predict(trained_run, str(source), str(whole))
    a, b = read_csv(chunked), read_csv(whole)
    assert [r["id"] for r in a] == [str(i) for i in range(300)]
    assert [r["label"] for r in a] == [r["label"] for r in b]
    for x, y in zip(a, b):
        assert float(x["prob_positive"]) == pytest.approx(float(y["prob_positive"]), abs=1e-5)


def test_jsonl_output_keeps_one_record_per_line_for_unicode_line_separators(trained_run, tmp_path):
    texts = ["next\x85line", "line\u2028separator", "para\u2029graph"]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    predict(trained_run, str(source), str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["text"] for line in lines] == texts


def test_stdin_to_stdout(trained_run):
    result = runner.invoke(app, ["predict", str(trained_run), "-"], input="hello world\nbad bad\n")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["text"] for r in rows] == ["hello world", "bad bad"]


def test_undecodable_bytes_are_replaced_and_counted_in_one_warning(trained_run, tmp_path):
    source = tmp_path / "bad.txt"
    source.write_bytes(b"caf\xe9 time\nfine\n\xff\xfe oops\n")
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["predict", str(trained_run), str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = read_csv(out)
    assert [r["text"] for r in rows] == ["caf\ufffd time", "fine", "\ufffd\ufffd oops"]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: 3 undecodable byte(s) in " + str(source) + " were replaced with U+FFFD"]


def test_empty_tweet_warning_counts_rows_without_prediction(trained_run, tmp_path):
    source = tmp_path / "t.txt"
    source.write_text("\n\nhi\n")
    result = runner.invoke(app, ["predict", str(trained_run), str(source)])
    assert result.exit_code == 0
    assert "warning: 2 row(s) got no prediction" in result.stderr


@pytest.mark.parametrize(
    "setup,args,message",
    [
        (lambda d: (d / "in.csv").write_text("body\nhello\n"), ["in.csv"],
         "no column 'text' (columns: body); --text-column names the column that holds the tweets"),
        (lambda d: (d / "in.jsonl").write_text('{"body": "a"}\n'), ["in.jsonl"],
         "in.jsonl:1: no field 'text'; --text-column names the column that holds the tweets"),
        (lambda d: None, ["missing.txt"], "missing.txt: no such file"),
        (lambda d: (d / "dir").mkdir(), ["dir.txt"], "no such file"),
        (lambda d: (d / "in.xml").write_text("<a/>"), ["in.xml"], "unknown file type"),
        (lambda d: (d / "in.jsonl").write_text('{"text": "a"}\n{nope\n'), ["in.jsonl"], "in.jsonl:2: malformed JSON"),
        (lambda d: (d / "in.txt").write_text("x\n"), ["in.txt", "-o", "nodir/out.csv"], "does not exist"),
        (lambda d: (d / "in.csv").write_text("text\nx\n"), ["in.csv", "-o", "in.csv"], "overwrite the input"),
        (
            lambda d: (d / "in.txt").write_text("x\n"),
            ["in.txt", "-o", "out.xml"],
            "must end in .csv, .jsonl, .ndjson or .parquet",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_output_file(trained_run, tmp_path, monkeypatch, setup, args, message):
    monkeypatch.chdir(tmp_path)
    setup(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, ["predict", str(trained_run), *args, *([] if "-o" in args else ["-o", "out.csv"])])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no temporary file


def test_an_existing_output_is_kept_unless_overwrite(trained_run, tmp_path):
    source, out = tmp_path / "in.txt", tmp_path / "out.csv"
    source.write_text("hi\n")
    out.write_text("precious\n")
    with pytest.raises(DataError, match="already exists"):
        predict(trained_run, str(source), str(out))
    assert out.read_text() == "precious\n"
    predict(trained_run, str(source), str(out), overwrite=True)
    assert read_csv(out)[0]["text"] == "hi"


def test_a_failure_midway_leaves_no_output_file(trained_run, tmp_path, monkeypatch):
    import hbilstm.predict.stream as module

    source, out = tmp_path / "in.txt", tmp_path / "out.csv"
    source.write_text("".join(f"tweet {i}\n" for i in range(50)))
    calls = {"n": 0}
    real = module.labelled_rows

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "labelled_rows", failing)
    with pytest.raises(KeyboardInterrupt):
        predict(trained_run, str(source), str(out), chunk_size=10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


@pytest.mark.parametrize("run", ["trained_run", "ngram_run"])
@pytest.mark.parametrize("workers_score", [True, False], ids=["workers-score", "workers-only-encode"])
def test_worker_processes_give_the_same_output_as_one_process(run, tmp_path, monkeypatch, workers_score, request):
    from hbilstm.predict import stream as module

    trained_run = request.getfixturevalue(run)  # the second reads character n-grams, a second input

    texts = [f"tweet {i} :) #tag{i % 7} @someone http://t.co/{i} " + "soooo good " * (i % 5) for i in range(2500)]
    texts[10] = ""
    texts[1500] = "word " * 400  # longer than max_tokens, in a chunk the workers do
    source = tmp_path / "in.txt"
    source.write_text("\n".join(texts) + "\n")
    local, pooled = tmp_path / "local.csv", tmp_path / "pooled.csv"
    temp = tmp_path / "temp"  # this test's own temporary folder: other tests' predictions may run beside it
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    a = predict(trained_run, str(source), str(local), chunk_size=600, workers=0)
    # On a GPU the workers only encode and the model runs in the parent: take that path on the CPU.
    real_init = module.ChunkScorer.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self.workers_score = workers_score

    monkeypatch.setattr(module.ChunkScorer, "__init__", init)
    started = []
    real_start = module.ChunkScorer._start_pool
    monkeypatch.setattr(module.ChunkScorer, "_start_pool", lambda self: started.append(1) or real_start(self))
    b = predict(trained_run, str(source), str(pooled), chunk_size=600, workers=2)
    assert started == [1]  # the workers did take part
    assert local.read_bytes() == pooled.read_bytes()
    assert (a.rows, a.truncated, a.errors) == (b.rows, b.truncated, b.errors) == (2500, 1, 1)
    assert not list(temp.glob("hbilstm-workers-*"))  # the file for the workers is gone


def test_workers_that_only_encode_read_their_file_without_torch(ngram_run):
    """On a GPU the workers only tokenize and encode: they never import torch, and their flat ids
    equal what this process encodes."""
    import json
    import os
    import subprocess
    import sys

    from conftest import REPO

    from hbilstm.checkpoint import load_model
    from hbilstm.data.pipeline import encode_texts
    from hbilstm.data.tokenizer import TweetTokenizer
    from hbilstm.predict.workers import _ship_encoder

    loaded = load_model(ngram_run)
    texts = ["so good :) #win", "meh", "worst. day. ever @someone http://t.co/x"]
    shipped = _ship_encoder(loaded)
    try:
        code = ("import json, sys; from hbilstm.predict.workers import _start_worker, _worker_run; "
                f"_start_worker({shipped!r}, 64); encoded, cut = _worker_run({texts!r}); "
                "print(json.dumps([encoded.ids.tolist(), encoded.ngrams.tolist(), str(encoded.ids.values.dtype), "
                "'torch' in sys.modules]))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    finally:
        os.unlink(shipped)
    assert done.returncode == 0, done.stderr
    ids, ngrams, dtype, imported_torch = json.loads(done.stdout)
    here = encode_texts(TweetTokenizer(loaded.tokenizer), loaded.vocab, loaded.max_tokens, texts, loaded.ngram_buckets,
                        loaded.ngram_words)
    assert ids == here.ids and ngrams == here.ngrams and len(ngrams[0]) > 0
    assert dtype == "int32" and imported_torch is False


def test_a_one_chunk_input_starts_no_workers(trained_run, tmp_path, monkeypatch):
    from hbilstm.predict import stream as module

    monkeypatch.setattr(module.ChunkScorer, "_start_pool", lambda self: pytest.fail("workers started"))
    source = tmp_path / "in.txt"
    source.write_text("one\ntwo\nthree\n")
    assert predict(trained_run, str(source), str(tmp_path / "out.csv"), chunk_size=3, workers=2).predicted == 3


def test_sorted_batches_give_the_predictions_of_one_tweet_at_a_time(trained_run, tmp_path):
    from hbilstm.checkpoint import load_model
    from hbilstm.data.pipeline import encode_texts
    from hbilstm.data.tokenizer import TweetTokenizer
    from hbilstm.inference import predict_probs

    loaded = load_model(trained_run)
    texts = ["good", "a much longer tweet about nothing much at all today", "bad bad day", "meh #monday"] * 5
    sequences, _, ngrams = encode_texts(TweetTokenizer(loaded.tokenizer), loaded.vocab, loaded.max_tokens, texts,
                                        loaded.ngram_buckets, loaded.ngram_words)
    batched = predict_probs(loaded.model, sequences, batch_size=7, ngrams=ngrams)
    single = torch.cat([predict_probs(loaded.model, [s], batch_size=1, ngrams=[g]) for s, g in zip(sequences, ngrams)])
    assert torch.allclose(batched, single, atol=1e-6)


def test_automatic_workers_start_only_for_inputs_estimated_large_enough(trained_run, tmp_path, monkeypatch):
    from hbilstm.predict import stream as module
    from hbilstm.predict import workers as workers_module

    monkeypatch.setattr(workers_module, "auto_workers", lambda device: 2)
    monkeypatch.setattr(module, "auto_workers", lambda device: 2)
    started = []
    monkeypatch.setattr(module.ChunkScorer, "_start_pool", lambda self: started.append(1) or pytest.fail("workers"))
    source = tmp_path / "in.txt"
    source.write_text("".join(f"tweet number {i} is here\n" for i in range(3000)))
    # 3,000 rows in chunks of 500: more than one chunk, far below AUTO_MIN_ROWS, so no workers
    assert predict(trained_run, str(source), str(tmp_path / "a.csv"), chunk_size=500, workers=-1).predicted == 3000
    assert started == []

    # the estimate is the rows of the first chunk scaled by the file's size
    with open(source, "rb") as stream:
        stream.read(source.stat().st_size // 4)
        assert module._estimated_rows(stream, 750, 500) == 3000
    monkeypatch.setattr(workers_module, "AUTO_MIN_ROWS", 2000)  # now the same input is "large"
    with pytest.raises(pytest.fail.Exception, match="workers"):
        predict(trained_run, str(source), str(tmp_path / "b.csv"), chunk_size=500, workers=-1, overwrite=True)


def test_plan_for_an_input_of_unknown_size_waits_before_starting_workers(trained_run):

    from hbilstm.checkpoint import load_model
    from hbilstm.predict.workers import AUTO_MIN_ROWS, ChunkScorer

    scorer = ChunkScorer(load_model(trained_run), 64, 2)
    scorer.plan(None, 8192)
    assert scorer.workers == 2 and scorer.local_chunks * 8192 >= AUTO_MIN_ROWS
    scorer.plan(AUTO_MIN_ROWS - 1, 8192)
    assert scorer.workers == 0


def test_batch_size_defaults_to_512_on_a_cpu_and_2048_on_a_gpu(trained_run, tmp_path, monkeypatch):
    import torch as _torch

    from hbilstm.predict import stream as module
    from hbilstm.predict.workers import default_batch_size

    assert default_batch_size("cuda") == default_batch_size(_torch.device("cuda", 0)) == 2048
    assert default_batch_size("cpu") == default_batch_size(None) == default_batch_size(_torch.device("cpu")) == 512
    seen = []
    real_init = module.ChunkScorer.__init__
    monkeypatch.setattr(module.ChunkScorer, "__init__", lambda self, loaded, batch_size, *a, **k:
                        seen.append(batch_size) or real_init(self, loaded, batch_size, *a, **k))
    source = tmp_path / "in.txt"
    source.write_text("one\ntwo\n")
    predict(trained_run, str(source), str(tmp_path / "a.csv"), device="cpu")
    predict(trained_run, str(source), str(tmp_path / "b.csv"), device="cpu", batch_size=7)
    assert seen == [512, 7]


def test_plan_keeps_small_inputs_in_one_process_when_workers_only_encode_too(trained_run):
    """On a GPU the workers only tokenize; for a small input this process does that sooner."""

    from hbilstm.checkpoint import load_model
    from hbilstm.predict.workers import AUTO_MIN_ROWS, ChunkScorer

    scorer = ChunkScorer(load_model(trained_run), 64, 3)
    scorer.workers_score = False  # what a GPU device sets
    scorer.plan(AUTO_MIN_ROWS, 8192)
    assert scorer.workers == 3
    scorer.plan(12_284, 8192)
    assert scorer.workers == 0


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_int8_scoring_keeps_the_labels_of_the_full_model_on_real_tweets(trained_run, backend, tmp_path):
    import json as _json

    from conftest import TWEETEVAL

    from hbilstm.export.exporter import export_model

    # ONNX Runtime quantizes the graph of an exported folder, which each worker loads (and quantizes) itself
    model = trained_run if backend == "torch" else export_model(trained_run, tmp_path / "folder", onnx=True)
    source = tmp_path / "in.txt"
    source.write_text("\n".join((TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").splitlines()[:2000]) + "\n")
    full, quantized, pooled = tmp_path / "full.jsonl", tmp_path / "int8.jsonl", tmp_path / "pooled.jsonl"
    predict(model, str(source), str(full), workers=0, backend=backend)
    predict(model, str(source), str(quantized), workers=0, int8=True, backend=backend)
    a = [_json.loads(line) for line in full.read_text().splitlines()]
    b = [_json.loads(line) for line in quantized.read_text().splitlines()]
    same = sum(x["label"] == y["label"] for x, y in zip(a, b)) / len(a)
    # This tiny model (400 training tweets) puts many tweets near a tie between two labels, so int8
    # flips more of them than on a real model: the default model kept 99.3% of TweetEval test's
    # labels (docs/journal/benchmarks.md). 97% still catches a broken quantized path (about 1/3 by chance).
    assert len(a) == len(b) == 2000 and same >= 0.97, same
    assert any(x["prob_negative"] != y["prob_negative"] for x, y in zip(a, b))  # it did score quantized
    # worker processes quantize their own copy too. Dynamic quantization scales each batch's
    # activations by that batch's range, so other batches (the workers' pieces) give slightly
    # other numbers: the labels agree, the bytes need not.
    predict(model, str(source), str(pooled), chunk_size=700, workers=2, int8=True, backend=backend)
    c = [_json.loads(line) for line in pooled.read_text().splitlines()]
    assert [r["line"] for r in c] == list(range(1, 2001))
    assert sum(x["label"] == y["label"] for x, y in zip(b, c)) / len(b) >= 0.97
    assert max(abs(x["prob_negative"] - y["prob_negative"]) for x, y in zip(b, c)) < 0.05
    # rows after the first chunk were scored by the workers, and not with the full-precision model
    assert any(a[i]["prob_negative"] != c[i]["prob_negative"] for i in range(700, 2000))


def test_int8_is_for_the_cpu(trained_run, tmp_path):
    from hbilstm.errors import ConfigError

    source = tmp_path / "in.txt"
    source.write_text("hello\n")
    for kwargs in ({"device": "cuda"}, {"device": "cuda", "backend": "torch"}):
        with pytest.raises(ConfigError, match="int8 quantizes the model for the CPU"):
            predict(trained_run, str(source), str(tmp_path / "o.csv"), int8=True, **kwargs)
