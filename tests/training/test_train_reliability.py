"""Interrupted, diverging and failing training: resumable, nothing lost, nothing corrupted."""

import json
import os
import signal

import pytest
import torch
from typer.testing import CliRunner

import hbilstm.training.loop as train_module
import hbilstm.training.parts as parts_module
from hbilstm.checkpoint import load_checkpoint, load_model
from hbilstm.cli import app
from hbilstm.config import TrainConfig
from hbilstm.errors import CheckpointError
from hbilstm.training import TrainingDiverged, TrainingInterrupted, load_run_config, train

runner = CliRunner()


def tiny(data_dir, **kw):
    settings = dict(data_dir=str(data_dir), layers=2, hidden=8, embedding_dim=12, epochs=2,
                    batch_size=16, min_freq=1, seed=11, dropout=0.3)
    settings.update(kw)
    return TrainConfig(**settings)


def signal_at_batch(monkeypatch, number, signum):
    """Deliver a real signal to this process when the training loop reaches batch `number`."""
    real = train_module.iter_batches
    seen = {"n": 0}

    def wrapped(*args, **kwargs):
        for batch in real(*args, **kwargs):
            seen["n"] += 1
            if seen["n"] == number:
                os.kill(os.getpid(), signum)
            yield batch

    monkeypatch.setattr(train_module, "iter_batches", wrapped)


def same_weights(a, b):
    return all(torch.equal(a[k], b[k]) for k in a) and a.keys() == b.keys()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_epoch_saves_a_state_that_resumes_to_the_uninterrupted_weights(
    tmp_path, data_dir, monkeypatch, signum
):
    straight = tmp_path / "straight"
    train(tiny(data_dir), straight)

    run = tmp_path / "run"
    signal_at_batch(monkeypatch, 30, signum)  # epoch 2 (25 batches of 16 in an epoch of 400)
    with pytest.raises(TrainingInterrupted, match=f"resume with: hbilstm train --output {run} --resume"):
        train(tiny(data_dir), run)
    state = load_checkpoint(run / "last.pt", kind="resume")
    assert (state["epoch"], state["step"]) == (2, 5)
    monkeypatch.undo()

    train(load_run_config(run), run, resume=True)
    final, expected = load_checkpoint(run / "last.pt"), load_checkpoint(straight / "last.pt")
    assert same_weights(final["state_dict"], expected["state_dict"])
    assert same_weights(final["optimizer"]["state"][0], expected["optimizer"]["state"][0])
    a = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(x) for x in (straight / "metrics.jsonl").read_text().splitlines()]
    assert [r["val_macro_recall"] for r in a] == [r["val_macro_recall"] for r in b]
    # the epoch's loss is summed in other groupings around the interruption: equal to rounding
    assert [r["train_loss"] for r in a] == pytest.approx([r["train_loss"] for r in b], rel=1e-9)


def test_cli_interrupt_exits_130_with_the_resume_command(tmp_path, data_dir, monkeypatch):
    signal_at_batch(monkeypatch, 3, signal.SIGINT)
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--data-dir", str(data_dir), "--hidden", "8", "--epochs", "1",
                                 "--set", "embedding_dim=8", "--out", str(run), "--quiet"])
    assert result.exit_code == 130
    assert f"hbilstm train --output {run} --resume" in result.stderr and "Traceback" not in result.output
    monkeypatch.undo()
    result = runner.invoke(app, ["train", "--out", str(run), "--resume", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (run / "results.json").is_file()
    # --quiet leaves out the progress and the epoch lines, not the final scores and where the model is
    assert "epoch  1:" not in result.output and result.stdout.startswith("best epoch 1 of 1")
    assert f"model: {run / 'model.pt'}" in result.stdout


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path, data_dir, monkeypatch):
    class PoisonedLoss(parts_module.SmoothedCrossEntropy):
        calls = 0

        def forward(self, logits, labels):
            PoisonedLoss.calls += 1
            loss = super().forward(logits, labels)
            # two losses a batch (the stack's and the n-gram classifier's), 25 batches an epoch
            return loss * float("nan") if PoisonedLoss.calls > 60 else loss  # in epoch 2

    monkeypatch.setattr(parts_module, "SmoothedCrossEntropy", PoisonedLoss)
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="loss became nan in epoch 2.*last good checkpoint \\(epoch 1\\)"):
        train(tiny(data_dir), run)
    best = load_model(run)
    assert best.payload["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in best.payload["state_dict"].values())
    assert load_checkpoint(run / "last.pt")["epoch"] == 2  # resumable from the end of epoch 1
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1


def test_cli_reports_divergence_with_exit_code_1(tmp_path, data_dir):
    result = runner.invoke(app, ["train", "--data-dir", str(data_dir), "--lr", "1e30", "--set", "clip=0",
                                 "--hidden", "8", "--epochs", "1", "--out", str(tmp_path / "r"), "--quiet"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: the loss became") and len(result.stderr.strip().splitlines()) == 1


def test_a_failed_checkpoint_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, data_dir, monkeypatch):
    run = tmp_path / "run"
    train(tiny(data_dir, epochs=1), run)
    before = {name: (run / name).read_bytes() for name in ("model.pt", "last.pt")}
    attempted = []

    def failing_save(obj, handle, *args, **kwargs):
        attempted.append(handle)  # the temporary file beside the one being replaced (on Linux it has no name)
        handle.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(CheckpointError, match=r"cannot write \(No space left on device\); the previous file is kept"):
        train(load_run_config(run, {"epochs": 2}), run, resume=True)
    # the write that failed was to one of the two checkpoints (model.pt if epoch 2 improved, else
    # last.pt): that file, and the other one, are byte for byte what they were
    assert len(attempted) == 1
    assert all((run / name).read_bytes() == data for name, data in before.items())
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]
