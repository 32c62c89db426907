"""hbilstm predict --shard K/N, Parquet input and output, and the batch Predictor, on real tweets."""

import csv
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import TWEETEVAL
from typer.testing import CliRunner

from hbilstm.cli import app
from hbilstm.errors import ConfigError
from hbilstm.predict import Predictor, parse_shard, predict

runner = CliRunner()
ROWS = 2000
LABELS = ("negative", "neutral", "positive")
PROBS = [f"prob_{label}" for label in LABELS]


@pytest.fixture(scope="module")
def tweets():
    lines = (TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").split("\n")[:ROWS]
    lines[7] = ""  # an empty tweet in shard 2 of 3: it keeps its row (with an error) in its shard
    return lines


@pytest.fixture(scope="module")
def inputs(tweets, tmp_path_factory):
    """The tweets as a .txt file and as a CSV with ids (text first, id second)."""
    folder = tmp_path_factory.mktemp("inputs")
    txt = folder / "tweets.txt"
    txt.write_text("\n".join(tweets) + "\n", encoding="utf-8")
    table = folder / "tweets.csv"
    with open(table, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "id"])
        writer.writerows([text, f"tw{900000 + i}"] for i, text in enumerate(tweets))
    return txt, table


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def assert_same_predictions(rows, reference, key):
    """Rows (dicts) equal the reference's rows with the same key, in label, error and probabilities."""
    assert len(rows) == len(reference)
    for row, ref in zip(rows, reference):
        assert str(row[key]) == str(ref[key])
        assert (row["label"] or "") == ref["label"] and (row["error"] or "") == ref["error"], (row, ref)
        for column in PROBS:
            if ref[column] == "":
                assert row[column] in ("", None) or math.isnan(row[column])
            else:
                assert float(row[column]) == pytest.approx(float(ref[column]), abs=2e-6)


@pytest.mark.parametrize("which,key", [(0, "line"), (1, "id")], ids=["txt", "csv-with-ids"])
def test_shards_hold_every_row_once_with_the_unsharded_predictions(trained_run, inputs, tmp_path, which, key):
    source = inputs[which]
    whole = tmp_path / "whole.csv"
    predict(trained_run, str(source), str(whole), chunk_size=300, workers=0)
    reference = read_csv(whole)
    assert len(reference) == ROWS
    parts = []
    for k in (1, 2, 3):
        out = tmp_path / f"part-{k}.csv"
        stats = predict(trained_run, str(source), str(out), chunk_size=300, workers=0, shard=(k, 3))
        rows = read_csv(out)
        assert stats.rows == len(rows)
        # round-robin by position: shard k holds input rows k, k + 3, k + 6, ... with their own keys
        assert [r[key] for r in rows] == [reference[i][key] for i in range(k - 1, ROWS, 3)]
        parts += rows
    assert sorted(r[key] for r in parts) == sorted(r[key] for r in reference)  # every row exactly once
    by_key = {r[key]: r for r in reference}
    assert_same_predictions(parts, [by_key[r[key]] for r in parts], key)
    if key == "line":
        assert [r["error"] for r in parts if r["line"] == "8"] == ["empty text"]
    else:
        assert parts[0]["id"] == "tw900000"


def test_the_cli_shard_option_matches_the_library(trained_run, inputs, tmp_path):
    out = tmp_path / "cli.csv"
    result = runner.invoke(app, ["predict", str(trained_run), str(inputs[1]), "--shard", "3/4", "-o", str(out),
                                 "--workers", "0"])
    assert result.exit_code == 0, result.output
    rows = read_csv(out)
    assert [r["id"] for r in rows] == [f"tw{900000 + i}" for i in range(2, ROWS, 4)]


@pytest.mark.parametrize("value,message", [
    ("0/3", "K must be between 1 and N (3)"),
    ("4/3", "K must be between 1 and N (3)"),
    ("x", "--shard must be K/N"),
    ("1/0", "N, the number of shards, must be at least 1"),
    ("1/2/3", "--shard must be K/N"),
    ("-1/3", "--shard must be K/N"),
])
def test_bad_shard_values_are_one_line_errors_with_exit_code_2(trained_run, tmp_path, value, message):
    source = tmp_path / "in.txt"
    source.write_text("hello\n")
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["predict", str(trained_run), str(source), "--shard", value, "-o", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


def test_parse_shard_accepts_strings_and_pairs_and_the_library_checks_pairs(trained_run, tmp_path):
    assert parse_shard(" 2 / 5 ") == (2, 5) and parse_shard((1, 1)) == (1, 1)
    source = tmp_path / "in.txt"
    source.write_text("hello\n")
    with pytest.raises(ConfigError, match="K must be between 1 and N"):
        predict(trained_run, str(source), str(tmp_path / "o.csv"), shard=(4, 3))


@pytest.fixture(scope="module")
def csv_reference(trained_run, inputs, tmp_path_factory):
    """The CSV-in, CSV-out predictions every Parquet path is compared with."""
    out = tmp_path_factory.mktemp("reference") / "reference.csv"
    predict(trained_run, str(inputs[1]), str(out), workers=0)
    return read_csv(out)


def test_parquet_input_gives_the_predictions_of_the_csv_input(trained_run, tweets, csv_reference, tmp_path):
    texts = [text if i != 11 else None for i, text in enumerate(tweets)]  # a null text
    source = tmp_path / "tweets.parquet"
    table = pa.table({"lang": ["en"] * ROWS, "id": [f"tw{900000 + i}" for i in range(ROWS)], "text": texts})
    pq.write_table(table, source, row_group_size=450)
    assert pq.ParquetFile(source).metadata.num_row_groups == 5
    out = tmp_path / "out.csv"
    stats = predict(trained_run, str(source), str(out), chunk_size=700, workers=0)
    rows = read_csv(out)
    assert list(rows[0]) == ["id", "text", "label", "confidence", *PROBS, "error"]
    assert stats.rows == ROWS and stats.errors == 2
    assert rows[11]["label"] == "" and rows[11]["error"] == "empty text" and rows[11]["text"] == ""
    reference = [dict(r) for r in csv_reference]
    reference[11].update(text="", label="", confidence="", error="empty text", **{c: "" for c in PROBS})
    assert_same_predictions(rows, reference, "id")
    assert [r["text"] for r in rows] == [r["text"] for r in reference]


def test_parquet_input_without_ids_gets_line_numbers_and_integer_ids_stay_integers(trained_run, tweets, tmp_path):
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"body": tweets[:50]}), source)
    out = tmp_path / "out.parquet"
    predict(trained_run, str(source), str(out), text_column="body", workers=0)
    lines = pq.read_table(out)
    assert lines.schema.field("line").type == pa.int64() and lines.column("line").to_pylist() == list(range(1, 51))
    pq.write_table(pa.table({"body": tweets[:50], "id": list(range(100, 150))}), source)
    predict(trained_run, str(source), str(out), text_column="body", workers=0, overwrite=True)
    ids = pq.read_table(out)
    assert ids.schema.field("id").type == pa.int64() and ids.column("id").to_pylist() == list(range(100, 150))


def test_csv_input_to_parquet_output_matches_the_csv_output_in_row_groups(trained_run, inputs, csv_reference, tmp_path):
    out = tmp_path / "out.parquet"
    result = runner.invoke(app, ["predict", str(trained_run), str(inputs[1]), "-o", str(out), "--workers", "0"])
    assert result.exit_code == 0, result.output
    single = pq.read_table(out)
    assert single.schema.names == ["id", "text", "label", "confidence", *PROBS, "error"]
    assert all(single.schema.field(c).type == pa.float32() for c in ["confidence", *PROBS])
    rows = single.to_pylist()
    assert rows[7]["label"] is None and rows[7]["error"] == "empty text" and rows[7]["prob_negative"] is None
    assert_same_predictions(rows, csv_reference, "id")
    assert [r["text"] for r in rows] == [r["text"] for r in csv_reference]
    # --format parquet writes Parquet whatever the name; a small chunk size gives one row group per chunk
    named = tmp_path / "labelled.out"
    predict(trained_run, str(inputs[1]), str(named), fmt="parquet", chunk_size=600, workers=0)
    assert pq.ParquetFile(named).metadata.num_row_groups == 4
    chunked = pq.read_table(named)
    assert chunked.schema == single.schema
    for name in single.schema.names:
        got, want = chunked.column(name).to_pylist(), single.column(name).to_pylist()
        if name in ("confidence", *PROBS):
            # Attention pooling sums over a batch's padded length: other chunks make other batches,
            # which may change the last bits of a probability, never more.
            assert all((a is None and b is None) or abs(a - b) <= 2e-6 for a, b in zip(got, want))
        else:
            assert got == want


def test_a_failed_parquet_run_leaves_no_file_behind(trained_run, inputs, tmp_path, monkeypatch):
    import hbilstm.predict.stream as module

    calls = {"n": 0}
    real = module.labelled_rows

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "labelled_rows", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        predict(trained_run, str(inputs[0]), str(tmp_path / "out.parquet"), chunk_size=500, workers=0)
    assert calls["n"] == 2
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temporary file


@pytest.mark.parametrize("args,message", [
    (["-", "--format", "parquet"], "Parquet output needs a file"),
    (["-", "--input-format", "parquet", "-o", "x.csv"], "Parquet input must be a file"),
    (["bad.parquet", "-o", "x.csv"], "bad.parquet: not a readable Parquet file"),
    (["good.parquet", "-o", "x.csv"], "no column 'text' (columns: body)"),
])
def test_parquet_misuse_is_a_one_line_error(trained_run, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.parquet").write_text("text\nhello\n")
    pq.write_table(pa.table({"body": ["hi"]}), tmp_path / "good.parquet")
    result = runner.invoke(app, ["predict", str(trained_run), *args], input="hello\n")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "x.csv").exists()


@pytest.fixture(scope="module")
def batch_texts(tweets):
    texts = tweets[:300]
    texts[3], texts[50], texts[51] = "", None, "   "
    return texts


def check_added(predictor, texts, out):
    from hbilstm import load

    good = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
    expected = load(predictor.classifier.path, device="cpu").predict_proba([texts[i] for i in good])
    probs = np.stack([np.asarray(out[c], dtype=np.float32) for c in PROBS], axis=1)
    np.testing.assert_allclose(probs[good], expected, atol=1e-6)
    labels = np.asarray(out["label"], dtype=object)
    assert list(labels[good]) == [LABELS[j] for j in expected.argmax(axis=1)]
    np.testing.assert_allclose(np.asarray(out["confidence"])[good], expected.max(axis=1), atol=1e-6)
    bad = [3, 50, 51]
    assert list(labels[bad]) == ["", "", ""] and np.isnan(probs[bad]).all()
    assert np.isnan(np.asarray(out["confidence"], dtype=np.float32)[bad]).all()
    assert [out["error"][i] for i in bad] == ["empty text"] * 3
    assert all(out["error"][i] == "" for i in good)


def test_predictor_on_a_dataframe_adds_columns_in_row_order(trained_run, batch_texts):
    predictor = Predictor(trained_run, text_column="body", device="cpu")
    frame = pd.DataFrame({"key": range(1000, 1300), "body": batch_texts}, index=range(5, 305))
    out = predictor(frame)
    assert isinstance(out, pd.DataFrame) and list(out.index) == list(frame.index)
    assert list(out.columns) == ["key", "body", "label", "confidence", *PROBS, "error"]
    assert out["key"].tolist() == list(range(1000, 1300)) and list(frame.columns) == ["key", "body"]
    check_added(predictor, batch_texts, {c: out[c].to_numpy() for c in out.columns})


def test_predictor_on_a_dict_of_numpy_arrays_returns_a_dict(trained_run, batch_texts):
    predictor = Predictor(trained_run, device="cpu")
    batch = {"text": np.array(batch_texts, dtype=object), "n": np.arange(300)}
    out = predictor(batch)
    assert isinstance(out, dict) and set(out) == {"text", "n", "label", "confidence", *PROBS, "error"}
    assert all(len(v) == 300 for v in out.values()) and out["n"] is batch["n"]
    check_added(predictor, batch_texts, out)
    # a fixed-width string array (numpy's default for a list of str) and a non-string value
    plain = predictor({"text": np.array(["great game", "worst day"])})
    assert list(plain["error"]) == ["", ""] and all(plain["label"])
    mixed = predictor({"text": np.array(["fine", 7], dtype=object)})
    assert list(mixed["error"]) == ["", "not a string"]
    with pytest.raises(KeyError, match="no column 'text'"):
        predictor({"body": np.array(["x"])})
