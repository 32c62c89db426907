"""Distillation: the loss on a hand-made case, the teachers' soft targets, and hbilstm distill."""

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from hbilstm.checkpoint import load_checkpoint
from hbilstm.cli import app
from hbilstm.training.distillation import DistillationLoss, softened, with_gold


def test_distillation_loss_hand_worked():
    # two classes, student logits (0, ln 3): at T = 1 its probabilities are (1/4, 3/4);
    # teacher (1/2, 1/2): loss = -(1/2 ln 1/4 + 1/2 ln 3/4)
    logits = torch.tensor([[0.0, math.log(3.0)]])
    targets = torch.tensor([[0.5, 0.5]])
    expected = -(0.5 * math.log(0.25) + 0.5 * math.log(0.75))
    assert DistillationLoss(1.0)(logits, targets).item() == pytest.approx(expected)
    # at T = 2 the logits are halved, (0, ln 3 / 2): probabilities 1/(1+√3) and √3/(1+√3), times T² = 4
    p = 1 / (1 + math.sqrt(3))
    expected = -4 * (0.5 * math.log(p) + 0.5 * math.log(1 - p))
    assert DistillationLoss(2.0)(logits, targets).item() == pytest.approx(expected, rel=1e-6)
    # its gradient is (softmax(z / T) - q) * T: zero when the student matches the teacher
    matched = torch.tensor([[0.0, math.log(3.0)]], requires_grad=True)
    DistillationLoss(1.0)(matched, torch.tensor([[0.25, 0.75]])).backward()
    assert torch.allclose(matched.grad, torch.zeros(1, 2), atol=1e-7)


def test_softened_is_the_softmax_of_the_logits_over_t():
    probs = np.array([[0.7, 0.2, 0.1]])
    expected = torch.softmax(torch.log(torch.tensor(probs)) / 3.0, dim=-1).numpy()
    assert np.allclose(softened(probs, 3.0), expected)
    assert np.allclose(softened(probs, 1.0), probs)


def test_with_gold_moves_only_the_labelled_rows_toward_their_labels():
    teachers = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.5, 0.25, 0.25]])  # two labelled rows, one unlabelled
    mixed = with_gold(teachers, [1, 2], 0.25)
    assert np.allclose(mixed[0], [0.45, 0.475, 0.075])  # 0.75 * teachers + 0.25 * (0, 1, 0)
    assert np.allclose(mixed[1], [0.15, 0.15, 0.7])
    assert np.allclose(mixed[2], teachers[2]) and np.allclose(mixed.sum(1), 1.0)
    assert np.allclose(with_gold(teachers, [1, 2], 1.0)[:2], [[0, 1, 0], [0, 0, 1]])
    assert with_gold(teachers, [1, 2], 0.0) is teachers  # the default: the teachers alone
    assert np.allclose(teachers[0], [0.6, 0.3, 0.1])  # the input is not changed


def test_distill_trains_a_student_from_two_teachers(trained_run, ngram_run, data_dir, tmp_path):
    unlabelled = tmp_path / "more.txt"
    test_text = (data_dir / "tweeteval-sentiment" / "test_text.txt").read_text(encoding="utf-8").splitlines()[0]
    unlabelled.write_text(f"what a lovely morning\nworst service ever\n{test_text}\n", encoding="utf-8")
    run = tmp_path / "student"
    result = CliRunner().invoke(app, [
        "distill", "-t", str(trained_run), "-t", str(ngram_run), "-u", str(unlabelled), "--data-dir", str(data_dir),
        "--set", "hidden=8", "--epochs", "1", "--set", "embedding_dim=12", "--set", "min_freq=1", "--set",
        "ngram_buckets=0", "--threads", "1", "--hard-weight", "0.25", "--no-export", "-o", str(run)])
    assert result.exit_code == 0, result.output
    assert "unlabelled: 2 tweets (1 dropped as val or test tweets)" in result.output
    assert "scored 402 tweets" in result.output  # 400 train tweets and the 2 unlabelled ones
    saved = load_checkpoint(run / "model.pt")
    assert saved["train_config"]["teachers"] == f"{trained_run},{ngram_run}"
    assert saved["train_config"]["distill_hard_weight"] == 0.25


def test_distill_refuses_without_a_teacher_or_with_another_task(tmp_path, data_dir, trained_run):
    result = CliRunner().invoke(app, ["distill", "--data-dir", str(data_dir), "-o", str(tmp_path / "s")])
    assert result.exit_code == 2 and "--teacher" in result.output
    result = CliRunner().invoke(app, ["distill", "-t", str(trained_run), "--hard-weight", "1.5", "--data-dir",
                                      str(data_dir), "-o", str(tmp_path / "s")])
    assert result.exit_code == 2 and "distill_hard_weight must be in [0, 1]" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(app, ["distill", "-t", str(tmp_path / "nothing"), "--data-dir", str(data_dir),
                                      "-o", str(tmp_path / "s")])
    assert result.exit_code == 2 and "nothing: no such run directory or model" in result.output
    assert not (tmp_path / "s").exists()  # refused before the run directory was made
    result = CliRunner().invoke(app, ["distill", "-t", str(trained_run), "--data", "tweeteval-sentiment-binary",
                                      "--data-dir", str(data_dir), "-o", str(tmp_path / "s2")])
    assert result.exit_code == 2 and "predicts negative, neutral, positive, the task has negative, positive" \
        in " ".join(result.output.split())


def test_teacher_probabilities_are_cached_per_model_and_texts(trained_run, ngram_run, data_dir, tmp_path, monkeypatch):
    from hbilstm.inference.model import Model
    from hbilstm.training.distillation import teacher_targets

    texts = (data_dir / "tweeteval-sentiment" / "val_text.txt").read_text(encoding="utf-8").splitlines()[:60]
    labels = ["negative", "neutral", "positive"]
    teachers, lines = [str(trained_run), str(ngram_run)], []
    first = teacher_targets(teachers, texts, labels, 2.0, "cpu", lines.append, tmp_path)
    entries = sorted((tmp_path / "teachers").glob("*.npy"))
    assert len(entries) == 2 and all("scored 60 tweets" in line for line in lines)
    scored = []
    original = Model.predict_probs
    monkeypatch.setattr(Model, "predict_probs", lambda self, t, *a: scored.append(len(t)) or original(self, t, *a))
    lines.clear()
    again = teacher_targets(teachers, texts, labels, 3.0, "cpu", lines.append, tmp_path)  # another temperature
    assert scored == [] and all("read the cached probabilities of 60 tweets" in line for line in lines)
    assert np.allclose(again, teacher_targets(teachers, texts, labels, 3.0, "cpu", print, None))
    assert np.allclose(first, teacher_targets(teachers, texts, labels, 2.0, "cpu", print, tmp_path))
    scored.clear()
    teacher_targets(teachers, texts[:59], labels, 2.0, "cpu", print, tmp_path)  # other texts: scored again
    assert scored == [59, 59] and len(list((tmp_path / "teachers").glob("*.npy"))) == 4
    scored.clear()
    entries[0].write_bytes(b"not an array")  # a damaged entry is scored again and rewritten
    assert np.allclose(first, teacher_targets(teachers, texts, labels, 2.0, "cpu", print, tmp_path))
    assert scored == [60] and np.load(entries[0]).shape == (60, 3)
