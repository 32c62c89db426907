"""A newcomer's first hour: data by name, runs that remember their data, one option language,
help and output that read well, clear errors, and resume edge cases (issue 15)."""

import json
import re
import shutil

import pytest
import yaml
from conftest import REPO, SEMEVAL, SHARED, make_tweeteval_slice
from typer.testing import CliRunner

from hbilstm.cli import app
from hbilstm.data.corpora import load_corpus
from hbilstm.errors import DataError

runner = CliRunner()
TINY = ["--hidden", "8", "--set", "embedding_dim=12", "--set", "min_freq=1", "--batch-size", "32"]
COMMANDS = ["train", "pretrain", "evaluate", "predict", "export", "ensemble", "distill", "serve", "compare", "report",
            "benchmark", "analyze", "data", "cache"]


def small_table_dataset(folder):
    """train/val/test CSVs made of real TweetEval tweets."""
    texts = (SHARED / "tweeteval-sentiment" / "train_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (SHARED / "tweeteval-sentiment" / "train_labels.txt").read_text(encoding="utf-8").splitlines()
    names = ["negative", "neutral", "positive"]
    folder.mkdir(parents=True)
    for split, (start, stop) in {"train": (0, 240), "val": (240, 300), "test": (300, 360)}.items():
        rows = ["text,label"] + [
            f'"{t.replace(chr(34), "")}",{names[int(y)]}' for t, y in zip(texts[start:stop], labels[start:stop])
        ]
        (folder / f"{split}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


# --------------------------------------------------------------------------- 3. data by name


def test_a_recognised_folder_in_the_data_dir_resolves_by_its_name(tmp_path):
    by_name = load_corpus("semeval2017-task4a", SHARED)
    by_path = load_corpus(str(SEMEVAL))
    assert {s: len(e) for s, e in by_name.splits.items()} == {s: len(e) for s, e in by_path.splits.items()}
    small_table_dataset(tmp_path / "mytweets")
    assert set(load_corpus("mytweets", tmp_path).splits) == {"train", "val", "test"}
    with pytest.raises(DataError, match="neither a dataset name.*mytweets"):
        load_corpus("mytweet", tmp_path)  # the message lists the names the data dir offers


def test_train_accepts_a_folder_name_from_the_data_dir(tmp_path):
    small_table_dataset(tmp_path / "data" / "mytweets")
    result = runner.invoke(app, ["train", "--data", "mytweets", "--data-dir", str(tmp_path / "data"),
                                 "--layers", "1", "--epochs", "1", *TINY, "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "test: macro-recall" in result.stdout


def test_data_command_lists_every_dataset_with_layout_classes_rows_and_metric(tmp_path):
    result = runner.invoke(app, ["data", "--data-dir", str(SHARED), "--json"])
    assert result.exit_code == 0, result.output
    listed = {d["name"]: d for d in json.loads(result.stdout)["datasets"]}
    assert {"tweeteval-sentiment", "tweeteval-sentiment-binary", "sst2", "sst5", "semeval2017-task4a"} <= set(listed)
    assert listed["tweeteval-sentiment"]["rows"] == {"train": 47571, "val": 2000, "test": 12284}
    semeval = listed["semeval2017-task4a"]
    assert (semeval["layout"], semeval["metric"]) == ("semeval", "macro_recall")
    assert semeval["classes"] == ["negative", "neutral", "positive"]
    assert semeval["rows"] == {s: len(e) for s, e in load_corpus(str(SEMEVAL)).splits.items()}

    result = runner.invoke(app, ["data", "--data-dir", str(SHARED)])  # a table, one line per dataset
    lines = result.stdout.splitlines()
    row = next(line for line in lines if line.startswith("sst5 "))
    assert re.search(r"8,544\s+1,101\s+2,210\s+accuracy$", row), row

    result = runner.invoke(app, ["data", "--data-dir", str(tmp_path), "--json"])  # an empty data dir
    tweeteval = json.loads(result.stdout)["datasets"][0]
    assert tweeteval["name"] == "tweeteval-sentiment" and tweeteval["status"].startswith("missing")


# ------------------------------------------------------------- 4 and 5. runs remember their data; --set everywhere


def test_a_run_stores_its_data_location_and_evaluate_finds_it_from_another_shell(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("HBILSTM_DATA_DIR", str(data_dir))
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--layers", "1", "--epochs", "1", *TINY, "-o", str(run)])
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert (saved["data"], saved["data_dir"]) == ("tweeteval-sentiment", str(data_dir.resolve()))

    monkeypatch.delenv("HBILSTM_DATA_DIR")  # another shell, another directory
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["evaluate", str(run), "-o", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m.json").read_text())["n"] == 150

    elsewhere = tmp_path / "elsewhere"
    make_tweeteval_slice(elsewhere / "tweeteval-sentiment", 400, 150, 90)
    result = runner.invoke(app, ["evaluate", str(run), "--data-dir", str(elsewhere), "-o", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m.json").read_text())["n"] == 90  # an explicit --data-dir wins


def test_compare_takes_set_and_its_rerun_finds_the_data_without_the_environment(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("HBILSTM_DATA_DIR", str(data_dir))
    args = ["compare", "-o", str(tmp_path / "cmp"), "--depths", "1", "--carry", "highway", "--seeds", "1",
            "--set", "hidden=8", "--set", "embedding_dim=12", "--set", "epochs=1", "--set", "min_freq=1",
            "--set", "gate_bias=-1,-3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    configs = [yaml.safe_load(p.read_text()) for p in sorted((tmp_path / "cmp" / "runs").glob("*/config.yaml"))]
    assert [c["gate_bias"] for c in configs] == [-1.0, -3.0]  # a comma list sweeps
    assert all(c["hidden"] == 8 and c["epochs"] == 1 for c in configs)  # one value fixes

    results = sorted((tmp_path / "cmp" / "runs").glob("*/results.json"))
    before = [p.read_bytes() for p in results]
    monkeypatch.delenv("HBILSTM_DATA_DIR")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output  # no "trained with data_dir ..." refusal
    assert [p.read_bytes() for p in results] == before  # both finished runs reused, not retrained


# --------------------------------------------------------------------------- 6. help


def test_help_lists_commands_in_order_of_use_with_examples_and_one_default_style():
    root = runner.invoke(app, ["--help"]).stdout
    listed = re.findall(r"^  (\w+)\s{2,}", root.split("Commands:")[1], flags=re.M)
    assert listed == COMMANDS
    assert "--install-completion" in root  # Typer's shell completion
    for command in COMMANDS:
        text = runner.invoke(app, [command, "--help"], terminal_width=60).stdout
        options = text.split("Options:")[1]
        assert "<bool>" not in text and "<str>" not in options and "<int" not in options, command
        assert "(default:" not in text, command  # defaults are written one way: [default: ...]
        examples = text.split("Examples:")[1].split("\n\n")[1].splitlines()
        assert 1 <= len(examples) <= 3, (command, examples)
        assert any(re.match(r"^    (cat \S+ \| )?hbilstm " + command, line) for line in examples), examples
        for line in examples:  # one command a line, kept whole, never re-wrapped, even at 60 columns
            assert line.startswith("    ") and not line.startswith("     ") and len(line) > 12, (command, line)


# --------------------------------------------------------------------------- 7. output into pipes


def test_tables_in_a_pipe_are_plain_unwrapped_lines(trained_run, tmp_path):
    deep = tmp_path / ("a-long-folder-name-" * 5) / "run"
    shutil.copytree(trained_run, deep)
    result = runner.invoke(app, ["evaluate", str(deep)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith(f"({deep / 'model.pt'})") and len(lines[0]) > 100  # not wrapped at 80
    assert not any(ch in result.stdout for ch in "│┃━─┏┡")  # no box drawing
    assert any(re.fullmatch(r"macro-recall \(official\)\s+\d+\.\d\d", line) for line in lines)
    assert any(re.fullmatch(r"negative(\s+[\d,]+){3}", line) for line in lines)  # a confusion-matrix row


def test_training_progress_goes_to_stderr_and_results_to_stdout(tmp_path, data_dir):
    result = runner.invoke(app, ["train", "--data-dir", str(data_dir), "--layers", "1", "--epochs", "1", *TINY,
                                 "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "epoch  1:" in result.stderr and "epoch  1:" not in result.stdout
    assert result.stdout.startswith("best epoch 1 of 1")


def test_the_progress_bar_labels_its_times_and_counts_tweets_per_second():
    import io

    from rich.console import Console

    from hbilstm.cli._progress import TrainProgress

    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    progress = TrainProgress(console)
    progress.epoch_start(1, 3, 100, 0)
    progress.batch_end(10, 0.9, 5000.0, 321.0)
    with console.capture() as captured:
        console.print(progress.progress.get_renderable())
    progress.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", captured.get())
    assert "10/100" in text and "321 tweets/s" in text
    assert re.search(r"elapsed \d+:\d\d:\d\d left", text), text


# --------------------------------------------------------------------------- 8. predict errors


def test_predict_says_what_was_given_and_what_is_expected(trained_run, tmp_path):
    folder = tmp_path / "tweets"
    folder.mkdir()
    result = runner.invoke(app, ["predict", str(trained_run), str(folder)])
    assert result.exit_code == 2
    assert result.stderr == (f"error: {folder}: is a directory; give one file of tweets (.txt, .csv, .tsv, "
                             ".jsonl, .ndjson or .parquet), or - to read standard input\n")
    table = tmp_path / "tweets.csv"
    table.write_text("id,text\n1,what a day\n")
    result = runner.invoke(app, ["predict", str(table), str(table)])
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"error: {table}: not a model (expected a run directory, a model.pt checkpoint or an exported "
        "model folder)\n"
    )
    result = runner.invoke(app, ["predict", str(trained_run), str(table), "-o", str(tmp_path / "out.ndjson")])
    assert result.exit_code == 0, result.output
    row = json.loads((tmp_path / "out.ndjson").read_text())
    assert row["id"] == "1" and row["label"] in ("negative", "neutral", "positive")


# --------------------------------------------------------------------------- 9. resume edge cases


def test_resume_on_a_finished_run_says_it_is_finished_and_how_to_go_on(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    before = (run / "results.json").read_bytes()
    result = runner.invoke(app, ["train", "-o", str(run), "--resume"])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert "is a finished run" in message and "--epochs" in message and "--overwrite" in message
    assert (run / "results.json").read_bytes() == before  # not re-scored


def test_resume_and_overwrite_together_are_refused_and_change_nothing(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    before = (run / "model.pt").read_bytes()
    result = runner.invoke(app, ["train", "-o", str(run), "--resume", "--overwrite"])
    assert result.exit_code == 2, result.output
    assert result.stderr == "error: --resume continues the run in --output and --overwrite starts it again: give one\n"
    assert (run / "model.pt").read_bytes() == before


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_from_the_beginning(tmp_path, data_dir):
    run = tmp_path / "run"
    args = ["train", "--data-dir", str(data_dir), "--layers", "1", "--epochs", "1", *TINY, "-o", str(run)]
    assert runner.invoke(app, args).exit_code == 0
    for name in ("manifest.json", "metrics.jsonl", "model.pt", "last.pt", "results.json"):
        (run / name).unlink()  # as a SIGKILL during the first epoch leaves it: config.yaml only
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "use --resume to continue it" in result.stderr
    result = runner.invoke(app, ["train", "-o", str(run), "--resume"])
    assert result.exit_code == 0, result.output
    assert "starting from the beginning" in result.stderr
    assert (run / "model.pt").is_file() and (run / "results.json").is_file()


# --------------------------------------------------------------------------- 13. security floor


def test_torch_floor_excludes_versions_whose_weights_only_load_can_run_code():
    text = (REPO / "pyproject.toml").read_text()
    floor = re.search(r'"torch>=(\d+)\.(\d+)', text)
    assert floor and (int(floor.group(1)), int(floor.group(2))) >= (2, 6)
