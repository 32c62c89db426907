"""The command line end to end on a few hundred real tweets: train -> evaluate -> predict."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO
from typer.testing import CliRunner

from hbilstm.cli import app

runner = CliRunner()


def test_train_evaluate_predict_through_the_cli(tmp_path, data_dir):
    run = tmp_path / "run"
    result = runner.invoke(app, [
        "train", "--data-dir", str(data_dir), "--layers", "3", "--hidden", "8", "--epochs", "2",
        "--batch-size", "32", "--set", "embedding_dim=16", "--set", "min_freq=1", "--out", str(run),
    ])
    assert result.exit_code == 0, result.output
    assert "test: macro-recall" in result.stdout
    config = (run / "config.yaml").read_text()
    assert "layers: 3" in config and "embedding_dim: 16" in config

    report = tmp_path / "metrics.json"
    result = runner.invoke(app, ["evaluate", str(run), "--json", str(report)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(report.read_text())
    assert metrics["n"] == 150 and metrics["split"] == "test"
    assert sum(map(sum, metrics["confusion"])) == 150
    saved = json.loads((run / "results.json").read_text())["test"]
    assert metrics["macro_recall"] == saved["macro_recall"]  # same model, same data, same number
    assert "macro-recall (official)" in result.stdout and "confusion matrix" in result.stdout

    result = runner.invoke(app, ["evaluate", str(run), "--split", "val"])
    assert result.exit_code == 0 and "/ val: 150 examples" in result.stdout

    tweets = tmp_path / "tweets.txt"
    tweets.write_text("what a great game!\nI hate mondays\n")
    result = runner.invoke(app, ["predict", str(run / "model.pt"), str(tweets), "-o", str(tmp_path / "p.jsonl")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rows] == [1, 2]


def test_bad_options_are_one_line_errors_before_any_work(tmp_path, data_dir):
    for args, message in (
        (["--layers", "0"], "layers must be at least 1"),
        (["--carry", "skip"], "carry must be one of highway, plain, residual, gated-residual"),
        (["--dropout", "1.5"], "dropout must be in [0, 1)"),
        (["--data", str(tmp_path / "nowhere")], "neither a dataset name"),
        (["--set", "nonsense=1"], "unknown key 'nonsense'"),
    ):
        result = runner.invoke(app, ["train", "--data-dir", str(data_dir), "--out", str(tmp_path / "r"), *args])
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.strip().splitlines() == [f"error: {result.stderr.strip()[7:]}"]
        assert message in result.stderr, result.stderr
        assert not (tmp_path / "r" / "model.pt").exists()


def test_evaluate_a_missing_or_broken_checkpoint(tmp_path):
    result = runner.invoke(app, ["evaluate", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "no such checkpoint or run directory" in result.stderr
    (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
    result = runner.invoke(app, ["evaluate", str(tmp_path / "x.pt")])
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.output


def test_evaluate_refuses_a_folder_as_its_output_file_before_scoring(trained_run, tmp_path):
    for option in ("-o", "--plot"):
        result = runner.invoke(app, ["evaluate", str(trained_run), option, str(tmp_path)])
        assert result.exit_code == 2, result.output
        assert result.stderr == f"error: {tmp_path}: is a folder, expected a file name\n"
        assert "examples" not in result.stdout  # refused before any scoring
    taken = tmp_path / "taken.txt"
    taken.write_text("mine")
    for args, name in ((["evaluate", str(trained_run), "-o"], "x.json"),
                       (["predict", str(trained_run), str(taken), "-o"], "x.csv")):
        result = runner.invoke(app, [*args, str(taken / name)])
        assert result.exit_code == 2, result.output  # it once said that the folder taken.txt did not exist
        assert result.stderr == f"error: {taken / name}: {taken} is a file, not a folder\n"
    assert taken.read_text() == "mine"


def test_data_refuses_a_file_as_the_data_directory(tmp_path):
    taken = tmp_path / "taken.txt"
    taken.write_text("mine")
    result = runner.invoke(app, ["data", "--data-dir", str(taken)])
    assert result.exit_code == 2, result.output  # it once listed every dataset as missing
    assert result.stderr == f"error: {taken}: is a file; the data directory is the folder that holds the datasets\n"


def test_top_level_cli_py_runs_from_a_checkout():
    done = subprocess.run([sys.executable, str(REPO / "cli.py"), "--help"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0
    for command in ("train", "evaluate", "predict"):
        assert command in done.stdout


def test_a_bad_device_is_the_same_one_line_error_in_every_command(trained_run, tmp_path):
    tweets = tmp_path / "t.txt"
    tweets.write_text("hello\n")
    for args in (["evaluate", str(trained_run)], ["predict", str(trained_run), str(tweets)],
                 ["train", "--output", str(tmp_path / "r")]):
        result = runner.invoke(app, [*args, "--device", "gpu"])
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr == "error: device must be auto, cpu, cuda, cuda:N or mps, not 'gpu'\n", args


def test_import_and_every_help_load_no_torch():
    script = (
        "import sys\n"
        "import hbilstm, hbilstm.cli\n"
        "from typer.testing import CliRunner\n"
        "for args in ([], ['train'], ['evaluate'], ['predict'], ['export'], ['serve'], ['compare'], ['report'], "
        "['analyze'], ['data']):\n"
        "    assert CliRunner().invoke(hbilstm.cli.app, [*args, '--help']).exit_code == 0, args\n"
        "print(sorted(m for m in ('torch', 'spacy', 'datasets', 'sklearn', 'fastapi', 'uvicorn') if m in "
        "sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_an_output_folder_that_is_a_file_is_a_one_line_error(trained_run, tmp_path, data_dir):
    target = tmp_path / "taken"
    target.write_text("mine")
    for args in (["train", "--data-dir", str(data_dir), "-o", str(target)],
                 ["compare", "-o", str(target), "--depths", "1", "--carry", "highway", "--seeds", "1"],
                 ["export", str(trained_run), str(target), "--no-onnx", "--overwrite"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith(f"error: {target}") and len(result.stderr.splitlines()) == 1, result.stderr
        assert target.read_text() == "mine"


def test_an_output_folder_under_a_file_is_a_one_line_error_before_any_work(trained_run, tmp_path, data_dir):
    taken = tmp_path / "taken"
    taken.write_text("mine")
    target = taken / "sub"
    for args in (["train", "--data-dir", str(data_dir), "-o", str(target)],
                 ["pretrain", "--data-dir", str(data_dir), "-o", str(target)],
                 ["compare", "-o", str(target), "--depths", "1", "--carry", "highway", "--seeds", "1"],
                 ["benchmark", "tweeteval", "--tasks", "irony", "--seeds", "1", "-o", str(target)],
                 ["ensemble", str(trained_run), str(trained_run), "-o", str(target)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith(f"error: {target}: {taken} is a file") and len(result.stderr.splitlines()) == 1
        assert taken.read_text() == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into folders whatever their permissions")
def test_outputs_in_a_folder_this_user_may_not_write_are_one_line_errors_before_any_work(trained_run, tmp_path,
                                                                                         data_dir):
    locked = tmp_path / "locked"
    locked.mkdir()
    tweets = tmp_path / "t.txt"
    tweets.write_text("hello\n")
    locked.chmod(0o555)
    try:
        for args, target in ((["predict", str(trained_run), str(tweets), "-o"], locked / "p.csv"),
                             (["evaluate", str(trained_run), "-o"], locked / "e.json"),
                             (["train", "--data-dir", str(data_dir), "-o"], locked / "run"),
                             (["ensemble", str(trained_run), str(trained_run), "-o"], locked / "ens")):
            result = runner.invoke(app, [*args, str(target)])
            assert result.exit_code == 2, (args, result.output)
            assert result.stderr == f"error: {target}: cannot write into {locked} (permission denied)\n"
            assert "examples" not in result.stdout  # refused before any scoring
    finally:
        locked.chmod(0o755)


def test_set_reaches_options_that_have_their_own_flag_and_the_flag_wins(tmp_path, monkeypatch):
    import hbilstm.training as training

    seen = []

    def capture(settings, out, **kwargs):
        seen.append(settings)
        raise SystemExit(0)

    monkeypatch.setattr(training, "train", capture)
    for args, epochs, layers in ((["--set", "epochs=2", "--set", "layers=5"], 2, 5),
                                 (["--set", "epochs=2", "--epochs", "4"], 4, 2)):
        runner.invoke(app, ["train", *args, "--out", str(tmp_path / "run")])
        assert (seen[-1].epochs, seen[-1].layers) == (epochs, layers)


def test_a_torchrun_worker_leaves_with_the_commands_exit_code_and_its_output_flushed(tmp_path):
    """Under torchrun (WORLD_SIZE > 1) the command ends with os._exit after flushing, skipping the
    interpreter shutdown where gloo's threads can abort a finished worker; alone it exits as usual."""
    fake_exit = "os._exit = lambda code: (print(f'os._exit({code})', flush=True), sys.exit(99))"
    script = f"import os, sys; from hbilstm.cli import main; {fake_exit}; main()"
    for world, args, code in (("2", ["--version"], 0), ("2", ["evaluate", str(tmp_path / "absent")], 2)):
        done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                              env={**os.environ, "WORLD_SIZE": world}, timeout=60)
        assert done.returncode == 99 and done.stdout.endswith(f"os._exit({code})\n"), (done.stdout, done.stderr)
    alone = subprocess.run([sys.executable, "-c", script, "--version"], capture_output=True, text=True,
                           env={**os.environ, "WORLD_SIZE": "1"}, timeout=60)
    assert alone.returncode == 0 and "hbilstm" in alone.stdout and "os._exit" not in alone.stdout
