"""Property-based tests: the tokenizer on arbitrary Unicode, and row count and order through
the readers and predict for arbitrary generated files."""

import csv
import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hbilstm.data.rows import iter_records
from hbilstm.data.tokenizer import TweetTokenizer
from hbilstm.predict import predict

TOKENIZER = TweetTokenizer()
NO_LINE_BREAKS = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_tokenizer_never_fails_and_gives_non_empty_tokens(text):
    tokens = TOKENIZER.tokenize(text)
    assert all(isinstance(t, str) and t.strip() for t in tokens)


@settings(max_examples=100, deadline=None)
@given(st.lists(NO_LINE_BREAKS, max_size=30), st.sampled_from(["\n", "\r\n", "\r"]), st.booleans())
def test_text_reader_gives_one_record_per_line_in_order(lines, ending, final_newline):
    data = ending.join(lines) + (ending if final_newline and lines else "")
    records = list(iter_records(io.BytesIO(data.encode("utf-8")), "txt", "x"))
    expected = lines if (final_newline or not lines or lines[-1] != "" ) else lines[:-1]
    if not lines:
        expected = []
    assert [r.fields["text"] for r in records] == expected
    assert [r.line for r in records] == list(range(1, len(expected) + 1))


TEXTS = st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40), min_size=0, max_size=25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=TEXTS, fmt=st.sampled_from(["csv", "tsv", "jsonl"]), out_fmt=st.sampled_from(["csv", "jsonl"]))
@example(texts=["\x85", "a\u2028b", "\r", ""], fmt="csv", out_fmt="jsonl")
def test_predict_keeps_row_count_order_and_text_for_generated_tables(trained_run, texts, fmt, out_fmt):
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / f"in.{fmt}"
        if fmt == "jsonl":
            source.write_text(
                "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf-8"
            )
        else:
            with open(source, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, delimiter="," if fmt == "csv" else "\t")
                writer.writerow(["id", "text"])
                writer.writerows([i, t] for i, t in enumerate(texts))
        out = Path(folder) / f"out.{out_fmt}"
        stats = predict(trained_run, str(source), str(out), chunk_size=7)
        if out_fmt == "csv":
            with open(out, newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
        else:
            rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert stats.rows == len(texts) == len(rows)
        assert [str(r["id"]) for r in rows] == [str(i) for i in range(len(texts))]
        assert [r["text"] for r in rows] == texts
        for row, text in zip(rows, texts):
            assert bool(row["label"]) == bool(text.strip())
