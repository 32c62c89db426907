"""Hostile prediction inputs: each case has a defined behaviour (see docs/reliability.md)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hbilstm.cli import app

runner = CliRunner()


def run_predict(trained_run, tmp_path, name, content, *extra, out="out.csv"):
    source = tmp_path / name
    source.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    result = runner.invoke(app, ["predict", str(trained_run), str(source), "-o", str(tmp_path / out), *extra])
    return result, tmp_path / out


def rows_of(path):
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("name", ["empty.txt", "empty.csv", "empty.jsonl"])
def test_empty_file_gives_an_output_with_no_rows(trained_run, tmp_path, name):
    result, out = run_predict(trained_run, tmp_path, name, b"")
    assert result.exit_code == 0, result.output
    assert rows_of(out) == []
    assert out.read_text().startswith("line,text,label,confidence,prob_negative")


def test_only_blank_lines_keep_one_error_row_each(trained_run, tmp_path):
    result, out = run_predict(trained_run, tmp_path, "blank.txt", "\n \n\t\n")
    assert result.exit_code == 0
    rows = rows_of(out)
    assert [r["line"] for r in rows] == ["1", "2", "3"]
    assert all(r["label"] == "" and r["error"] == "empty text" for r in rows)


def test_crlf_and_lone_cr_line_endings(trained_run, tmp_path):
    result, out = run_predict(trained_run, tmp_path, "mixed.txt", b"first\r\nsecond\rthird\nfourth")
    assert result.exit_code == 0
    assert [r["text"] for r in rows_of(out)] == ["first", "second", "third", "fourth"]


def test_utf8_bom_is_not_part_of_the_first_tweet_or_header(trained_run, tmp_path):
    result, out = run_predict(trained_run, tmp_path, "bom.txt", "\ufeffhello\nworld\n".encode())
    assert [r["text"] for r in rows_of(out)] == ["hello", "world"]
    result, out = run_predict(trained_run, tmp_path, "bom.csv", "\ufefftext,id\nhi,9\n".encode(), out="b.csv")
    assert result.exit_code == 0, result.output
    assert [(r["id"], r["text"]) for r in rows_of(out)] == [("9", "hi")]


def test_nul_bytes_stay_in_the_text_and_the_row_is_predicted(trained_run, tmp_path):
    result, out = run_predict(trained_run, tmp_path, "nul.txt", b"a\x00b good\n\x00\n")
    assert result.exit_code == 0
    rows = rows_of(out)
    assert [r["text"] for r in rows] == ["a\x00b good", "\x00"]
    assert rows[0]["label"] and rows[1]["label"]  # NUL is a character, not whitespace
    result, out = run_predict(trained_run, tmp_path, "nul.csv", b"text\n\"x\x00y\"\n", out="n.csv")
    assert result.exit_code == 0 and rows_of(out)[0]["text"] == "x\x00y"


def test_a_single_5_mb_line_is_one_truncated_row(trained_run, tmp_path):
    from hbilstm.data.limits import MAX_TEXT_CHARS

    line = ("spam " * 1_048_576).encode()  # 5 MiB, about a million tokens
    result, out = run_predict(trained_run, tmp_path, "huge.txt", line + b"\nnext\n")
    assert result.exit_code == 0
    rows = rows_of(out)
    assert len(rows) == 2 and rows[0]["label"] and rows[1]["text"] == "next"
    assert len(rows[0]["text"]) == MAX_TEXT_CHARS  # the output holds what the tokenizer read of it
    assert f"warning: 1 tweet(s) longer than 128 tokens were cut to 128 (or to their first {MAX_TEXT_CHARS:,} " \
           "characters)" in result.stderr


def test_standard_input_without_line_ends_is_a_one_line_error_not_an_endless_read(trained_run, tmp_path):
    """``hbilstm predict MODEL - < /dev/zero`` read the endless line whole (5.8 GB, then MemoryError)."""
    with open("/dev/zero", "rb") as zeros:
        done = subprocess.run([sys.executable, "-m", "hbilstm", "predict", str(trained_run), "-"], stdin=zeros,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == "", done.stderr[-2000:]
    assert done.stderr == ("error: standard input:1: a line of more than 16,777,216 characters; a file of tweets "
                           "has one text per line (is this the right file?)\n")
    for name, content in (("z.jsonl", b"\x00" * (17 << 20)), ("z.csv", b"text\n" + b"a" * (17 << 20))):
        result, out = run_predict(trained_run, tmp_path, name, content)
        assert result.exit_code == 2 and "a line of more than 16,777,216 characters" in result.stderr
        assert not out.exists()


def test_words_after_a_long_run_of_spaces_are_read_alike_in_every_path(trained_run, tmp_path):
    """predict cut texts at max_tokens x 32 characters before tokenizing, so the words after 5,000
    spaces were lost there and not in the Python API; every path now cuts on tokens alike."""
    import numpy as np

    import hbilstm

    texts = ["good" + " " * 5000 + "awful bad sad hate", "awful bad sad hate", "good"]
    result, out = run_predict(trained_run, tmp_path, "spaces.jsonl", "".join(json.dumps({"text": t}) + "\n"
                                                                             for t in texts), out="o.jsonl")
    assert result.exit_code == 0, result.output
    rows = rows_of(out)
    labels = hbilstm.load(trained_run, device="cpu").labels
    from_predict = np.array([[row[f"prob_{name}"] for name in labels] for row in rows])
    from_api = hbilstm.load(trained_run, device="cpu").predict_proba(texts)
    assert np.abs(from_predict - from_api).max() < 1e-5
    assert not np.allclose(from_api[0], from_api[2])  # the words after the spaces count
    assert "longer than" not in result.stderr  # 5 tokens: nothing was cut


def test_long_tweets_are_truncated_and_counted_in_one_warning(trained_run, tmp_path):
    from hbilstm.checkpoint import load_model

    max_tokens = load_model(trained_run).max_tokens
    long = " ".join(["word"] * (max_tokens + 5))
    result, out = run_predict(trained_run, tmp_path, "long.txt", f"{long}\nshort\n{long}\n")
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if "longer than" in line]
    assert warnings == [f"warning: 2 tweet(s) longer than {max_tokens} tokens were cut to {max_tokens}"]
    assert len(rows_of(out)) == 3


def test_tsv_with_quoted_newlines_and_embedded_delimiters(trained_run, tmp_path):
    content = 'id\ttext\n1\t"tab\there\nand newline"\n2\tplain, with comma\n'
    result, out = run_predict(trained_run, tmp_path, "in.tsv", content)
    assert result.exit_code == 0
    assert [(r["id"], r["text"]) for r in rows_of(out)] == [("1", "tab\there\nand newline"), ("2", "plain, with comma")]


@pytest.mark.parametrize("header", ["text,text\na,b\n", "id,text,id\n1,a,2\n"])
def test_duplicated_header_column_is_refused(trained_run, tmp_path, header):
    result, out = run_predict(trained_run, tmp_path, "dup.csv", header)
    assert result.exit_code == 2
    assert "appears more than once in the header" in result.stderr
    assert not out.exists()


def test_jsonl_bad_lines_skipped_on_request_keep_their_rows_and_are_counted(trained_run, tmp_path):
    content = '{"text": "good"}\n{broken\n["not", "an object"]\n{"body": "no text field"}\n{"text": "fine"}\n'
    result, out = run_predict(trained_run, tmp_path, "in.jsonl", content, "--skip-bad-lines", out="o.jsonl")
    assert result.exit_code == 0, result.output
    rows = rows_of(out)
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["error"] for r in rows] == [None, "malformed JSON", "expected a JSON object", "no field 'text'", None]
    assert "warning: 3 row(s) got no prediction" in result.stderr


def test_csv_row_with_extra_fields_is_refused_or_kept_as_an_error_row(trained_run, tmp_path):
    content = "text\nfine\nunquoted, comma\n"
    result, out = run_predict(trained_run, tmp_path, "in.csv", content)
    assert result.exit_code == 2 and "in.csv:3: 2 fields but the header has 1" in result.stderr
    result, out = run_predict(trained_run, tmp_path, "in.csv", content, "--skip-bad-lines")
    assert [r["error"] != "" for r in rows_of(out)] == [False, True]


def writing_into(pid: int, folder) -> bool:
    """Whether process ``pid`` has a file open in ``folder``: a temporary output, named or (Linux,
    O_TMPFILE) not."""
    if any(p.name.startswith(".") and p.name.endswith(".tmp") for p in Path(folder).iterdir()):
        return True
    try:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return False
    return any(link.startswith(str(folder) + os.sep) for link in links)


def wait_until_writing(process, folder, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and not writing_into(process.pid, folder):
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    assert writing_into(process.pid, folder), "no output was started"


def test_sigterm_during_prediction_leaves_no_output_and_no_temporary_file(trained_run, tmp_path):
    # The tweets come from a pipe that stays open: once the output's temporary file exists the
    # command is mid-run and cannot finish before the signal, however fast the machine is.
    out = tmp_path / "out.csv"
    process = subprocess.Popen(
        [sys.executable, "-m", "hbilstm", "predict", str(trained_run), "-", "-o", str(out), "--workers", "0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    process.stdin.write(b"this is a tweet about something\n" * 10_000)  # more than one chunk
    process.stdin.flush()
    wait_until_writing(process, tmp_path)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)  # closes stdin too
    stderr = stderr.decode()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_kill_9_mid_prediction_leaves_nothing_behind_and_its_workers_end_quietly(trained_run, tmp_path):
    """Killed outright, the command cannot clean up: its output had no name yet (O_TMPFILE), its
    workers end with it without tracebacks, and the file they started from goes with the next run."""
    from conftest import TWEETEVAL

    lines = [line for line in (TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    source = tmp_path / "in" / "tweets.txt"
    source.parent.mkdir()
    source.write_text("\n".join(lines * 4) + "\n", encoding="utf-8")  # about 49,000 rows, six chunks
    out_dir, temp = tmp_path / "out", tmp_path / "temp"
    out_dir.mkdir()
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "hbilstm", "predict", str(trained_run), str(source), "-o", str(out_dir / "o.csv"),
               "--workers", "2", "--backend", "torch"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until_writing(process, out_dir)
    deadline = time.time() + 120
    while time.time() < deadline and not [p for p in temp.iterdir() if p.name.startswith("hbilstm-workers-")]:
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    time.sleep(3)  # the workers start and take work
    process.kill()
    _, stderr = process.communicate(timeout=60)  # ends once every worker has let go of the pipe
    assert list(out_dir.iterdir()) == []  # no output and no temporary file
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    left = [p.name for p in temp.iterdir()]
    assert len(left) == 1 and left[0].startswith("hbilstm-workers-")  # the one thing a kill -9 leaves...
    done = subprocess.run(command[:-4] + ["-o", str(out_dir / "again.csv"), "--workers", "1", "--backend", "torch"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in temp.iterdir()] == []  # ...is swept by the next run that starts workers
    assert [p.name for p in out_dir.iterdir()] == ["again.csv"]


@pytest.mark.parametrize("content,ids", [
    # the first record has no id, later ones do: the file has ids, the first row keeps its line number
    ('{"text": "a"}\n{"id": "x2", "text": "b"}\n{"text": "c"}\n', [1, "x2", 3]),
    # the first has one, a later one does not: that row gets its line number, never ""
    ('{"id": "a1", "text": "x"}\n{"text": "y"}\n', ["a1", 2]),
])
def test_jsonl_ids_are_decided_for_the_whole_file_and_every_row_gets_one(trained_run, tmp_path, content, ids):
    result, out = run_predict(trained_run, tmp_path, "in.jsonl", content, out="o.jsonl")
    assert result.exit_code == 0, result.output
    rows = rows_of(out)
    assert [r["id"] for r in rows] == ids and all("line" not in r for r in rows)


def test_jsonl_ids_after_the_first_chunk_are_found(trained_run, tmp_path):
    from hbilstm.predict import predict

    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "no id here"}\n' * 5 + '{"id": "late", "text": "found"}\n')
    out = tmp_path / "o.csv"
    predict(trained_run, str(source), str(out), chunk_size=2)
    assert [r["id"] for r in rows_of(out)] == ["1", "2", "3", "4", "5", "late"]


def test_csv_ids_are_decided_by_the_header_not_the_first_row(trained_run, tmp_path):
    # the first row is short: it has no id cell, yet the header has an id column
    content = "text,id\nhello\nsecond,x9\n"
    result, out = run_predict(trained_run, tmp_path, "in.csv", content)
    assert result.exit_code == 0, result.output
    rows = rows_of(out)
    assert list(rows[0])[0] == "id" and [r["id"] for r in rows] == ["1", "x9"]
