"""Damaged or unsafe checkpoints through the CLI: one line, exit code 2, and no code runs."""

import os
import shutil

import pytest
import torch
from test_checkpoint import Payload
from typer.testing import CliRunner

from hbilstm.cli import app

runner = CliRunner()


def make(kind, trained_run, path, marker):
    good = (trained_run / "model.pt").read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(bytes(range(256)) * 64)
    elif kind == "truncated":
        path.write_bytes(good[: len(good) * 2 // 3])
    elif kind == "other-version":
        payload = torch.load(trained_run / "model.pt", weights_only=True)
        payload["format_version"] = 99
        torch.save(payload, path)
    elif kind == "code-payload":
        payload = torch.load(trained_run / "model.pt", weights_only=True)
        payload["vocab"] = Payload(str(marker))
        torch.save(payload, path)


@pytest.mark.parametrize("command", ["evaluate", "predict"])
@pytest.mark.parametrize("kind", ["empty", "random", "truncated", "other-version", "code-payload"])
def test_bad_checkpoints_are_refused(trained_run, tmp_path, command, kind):
    marker = tmp_path / "payload-ran"
    checkpoint = tmp_path / "model.pt"
    make(kind, trained_run, checkpoint, marker)
    tweets = tmp_path / "t.txt"
    tweets.write_text("hello\n")
    args = [command, str(checkpoint)] + ([str(tweets), "-o", str(tmp_path / "o.csv")] if command == "predict" else [])
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {checkpoint}"), result.stderr
    assert "Traceback" not in result.output
    assert not marker.exists()
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_model_files_this_user_may_not_read_are_one_line_errors(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    folder = tmp_path / "folder"
    assert runner.invoke(app, ["export", str(run), str(folder), "--no-onnx"]).exit_code == 0
    tweets = tmp_path / "t.txt"
    tweets.write_text("hello\n")
    (run / "model.pt").chmod(0)
    (folder / "vocab.json").chmod(0)
    try:
        for args, unreadable in ((["evaluate", str(run)], run / "model.pt"),
                                 (["predict", str(run), str(tweets)], run / "model.pt"),
                                 (["export", str(run), str(tmp_path / "again")], run / "model.pt"),
                                 (["predict", str(folder), str(tweets)], folder / "vocab.json")):
            result = runner.invoke(app, args)
            assert result.exit_code == 2, (args, result.output)
            assert result.stderr == f"error: {unreadable}: cannot read (Permission denied)\n", result.stderr
    finally:
        (run / "model.pt").chmod(0o644)
        (folder / "vocab.json").chmod(0o644)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their permissions")
def test_a_run_whose_export_folder_may_not_be_read_is_scored_with_torch(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    (run / "export").mkdir()
    tweets = tmp_path / "t.txt"
    tweets.write_text("hello\n")
    (run / "export").chmod(0)
    try:
        result = runner.invoke(app, ["predict", str(run), str(tweets)])
    finally:
        (run / "export").chmod(0o755)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 2
