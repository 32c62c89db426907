"""--log-to tensorboard: tiny trainings on real tweets, their event files read back from disk."""

import json
import sys

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
from typer.testing import CliRunner

from hbilstm.checkpoint import load_checkpoint
from hbilstm.cli import app
from hbilstm.config import TrainConfig, to_yaml
from hbilstm.errors import ConfigError
from hbilstm.study.sweep import PlannedRun, config_changes
from hbilstm.tracking.base import TrackedCallback
from hbilstm.training import TrainCallback, load_run_config, train
from hbilstm.training.checkpoints import RunCheckpoints

runner = CliRunner()
TRAIN_TAGS = {"train/loss", "train/accuracy", "train/lr", "train/tokens_per_s", "train/seconds",
              "val/loss", "val/accuracy", "val/macro_f1", "val/macro_recall"}


def tiny(data_dir, **kw):
    settings = dict(data_dir=str(data_dir), layers=2, hidden=8, embedding_dim=12, epochs=2,
                    batch_size=32, min_freq=1, seed=7, threads=1, log_to="tensorboard")
    settings.update(kw)
    return TrainConfig(**settings)


def events(folder):
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    accumulator.Reload()
    return accumulator


def series(accumulator, tag):
    return [(e.step, e.value) for e in accumulator.Scalars(tag)]


def metrics_lines(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


class Recorder(TrainCallback):
    def __init__(self):
        self.epochs, self.lines = [], []

    def log(self, message):
        self.lines.append(message)

    def epoch_end(self, record):
        self.epochs.append(record["epoch"])


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, data_dir):
    run = tmp_path_factory.mktemp("tracked") / "run"
    recorder = Recorder()
    train(tiny(data_dir), run, callback=recorder)
    return run, recorder


def test_every_epoch_is_logged_with_the_values_of_metrics_jsonl(tracked):
    run, _ = tracked
    acc = events(run / "tensorboard")
    assert TRAIN_TAGS <= set(acc.Tags()["scalars"])
    lines = metrics_lines(run)
    assert [r["epoch"] for r in lines] == [1, 2]
    for key, tag in (("train_loss", "train/loss"), ("val_loss", "val/loss"), ("val_accuracy", "val/accuracy"),
                     ("val_macro_f1", "val/macro_f1"), ("val_macro_recall", "val/macro_recall")):
        logged = series(acc, tag)
        assert [step for step, _ in logged] == [1, 2], tag
        assert [value for _, value in logged] == pytest.approx([r[key] for r in lines], rel=1e-6), tag


def test_final_scores_and_gate_means_are_those_of_results_json(tracked):
    run, _ = tracked
    acc = events(run / "tensorboard")
    results = json.loads((run / "results.json").read_text())
    last = results["epochs_run"]
    for name in ("macro_recall", "macro_f1", "accuracy", "loss"):
        assert series(acc, f"test/{name}") == [(last, pytest.approx(results["test"][name], rel=1e-6))]
    for name in ("macro_recall", "macro_f1", "accuracy"):
        assert series(acc, f"best/val_{name}") == [(last, pytest.approx(results["val"][name], rel=1e-6))]
    assert series(acc, "best/epoch") == [(last, results["best_epoch"])]
    assert len(results["layers"]) == 2
    for layer in results["layers"]:
        tag = f"L{layer['layer']:02d}"
        assert series(acc, f"best/gate_mean/{tag}") == [(last, pytest.approx(layer["gate_mean"], rel=1e-6))]
        per_epoch = dict(series(acc, f"layers/gate_mean/{tag}"))
        assert sorted(per_epoch) == [1, 2]
        # the per-epoch value of the best epoch is measured on the very model results.json describes
        assert per_epoch[results["best_epoch"]] == pytest.approx(layer["gate_mean"], rel=1e-5)
        assert 0 < per_epoch[1] < 1


def test_hyperparameters_are_written_for_the_hparams_tab(tracked):
    run, _ = tracked
    content = events(run / "tensorboard").PluginTagToContent("hparams")
    start = HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["layers"].number_value == 2 and start.hparams["hidden"].number_value == 8
    assert start.hparams["carry"].string_value == "highway"
    assert start.hparams["log_to"].string_value == "tensorboard"
    experiment = HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    metrics = {m.name.tag for m in experiment.metric_infos}
    assert {"test/macro_recall", "best/val_macro_recall", "best/epoch"} <= metrics
    assert "_hparams_/session_end_info" in content


def test_the_callers_callback_still_hears_everything(tracked):
    _, recorder = tracked
    assert recorder.epochs == [1, 2]
    assert any(line.startswith("epoch  2:") for line in recorder.lines)
    hooks = {name for name in vars(TrainCallback) if not name.startswith("_")}
    assert hooks <= set(vars(TrackedCallback)), "a TrainCallback hook is not passed on while tracking"


def test_tracking_does_not_change_what_is_trained(tracked, tmp_path, data_dir):
    run, _ = tracked
    train(tiny(data_dir, log_to="none"), tmp_path / "plain")
    assert not (tmp_path / "plain" / "tensorboard").exists()
    a = load_checkpoint(run / "last.pt")["state_dict"]
    b = load_checkpoint(tmp_path / "plain" / "last.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_resumed_run_logs_each_epoch_once(tmp_path, data_dir, monkeypatch):
    # The process dies after epoch 2 is logged but before last.pt records it as finished:
    # resuming trains epoch 2 again, and its first logging of epoch 2 must not stay beside the second.
    run = tmp_path / "run"
    save_resume = RunCheckpoints.save_resume

    def crash_after_epoch_2(self, state, *rngs):
        if state.epoch == 3:
            raise RuntimeError("killed")
        save_resume(self, state, *rngs)

    monkeypatch.setattr(RunCheckpoints, "save_resume", crash_after_epoch_2)
    with pytest.raises(RuntimeError, match="killed"):
        train(tiny(data_dir, epochs=3), run)
    monkeypatch.setattr(RunCheckpoints, "save_resume", save_resume)
    assert [s for s, _ in series(events(run / "tensorboard"), "val/macro_recall")] == [1, 2]
    train(load_run_config(run), run, resume=True)
    acc = events(run / "tensorboard")
    lines = metrics_lines(run)
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    for tag, key in (("val/macro_recall", "val_macro_recall"), ("train/loss", "train_loss")):
        logged = series(acc, tag)
        assert [step for step, _ in logged] == [1, 2, 3], tag
        assert [value for _, value in logged] == pytest.approx([r[key] for r in lines], rel=1e-6), tag
    assert [s for s, _ in series(acc, "layers/gate_mean/L01")] == [1, 2, 3]
    assert [s for s, _ in series(acc, "test/macro_recall")] == [3]


def test_tracking_can_be_turned_on_when_resuming_and_a_sweep_reuses_runs_across_it(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(to_yaml(TrainConfig(hidden=8)))
    assert load_run_config(run, {"log_to": "tensorboard"}).log_to == "tensorboard"
    assert config_changes(PlannedRun("r", TrainConfig(hidden=8, log_to="tensorboard"), run)) == {}
    assert config_changes(PlannedRun("r", TrainConfig(hidden=9, log_to="tensorboard"), run)) == {"hidden": (8, 9)}


def test_unknown_tracker_is_refused():
    with pytest.raises(ConfigError, match="log_to must be one of none, tensorboard, not 'mlflow'"):
        TrainConfig(log_to="mlflow")


def test_missing_tensorboard_is_one_clear_error_before_anything_is_written(tmp_path, data_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard now fails
    monkeypatch.delitem(sys.modules, "torch.utils.tensorboard", raising=False)
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--data-dir", str(data_dir), "--epochs", "1", "--hidden", "4",
                                 "--log-to", "tensorboard", "--out", str(run)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and 'pip install "hbilstm[tensorboard]"' in lines[0], result.stderr
    assert not run.exists()


def test_compare_logs_every_run_under_one_folder(tmp_path, data_dir):
    out = tmp_path / "study"
    result = runner.invoke(app, ["compare", "--depths", "1", "--carry", "highway,plain", "--seeds", "1",
                                 "--out", str(out), "--data-dir", str(data_dir), "--epochs", "1", "--hidden", "4",
                                 "--embedding-dim", "8", "--min-freq", "1", "--threads", "1",
                                 "--log-to", "tensorboard"])
    assert result.exit_code == 0, result.output
    sweep = EventMultiplexer().AddRunsFromDirectory(str(out / "runs"))
    sweep.Reload()
    assert set(sweep.Runs()) == {"highway-L1-s1/tensorboard", "plain-L1-s1/tensorboard"}
    for name in ("highway-L1-s1", "plain-L1-s1"):
        results = json.loads((out / "runs" / name / "results.json").read_text())
        logged = sweep.Scalars(f"{name}/tensorboard", "test/macro_recall")
        assert [(e.step, e.value) for e in logged] == [(1, pytest.approx(results["test"]["macro_recall"], rel=1e-6))]
    # only the highway layer has a transform gate to report
    assert "layers/gate_mean/L01" in sweep.Runs()["highway-L1-s1/tensorboard"]["scalars"]
    assert "layers/gate_mean/L01" not in sweep.Runs()["plain-L1-s1/tensorboard"]["scalars"]
    assert "layers/output_norm/L01" in sweep.Runs()["plain-L1-s1/tensorboard"]["scalars"]


def test_a_task_with_a_class_wise_official_metric_logs_it_too(tmp_path):
    from conftest import SHARED, make_tweeteval_slice

    make_tweeteval_slice(tmp_path / "data" / "tweeteval-irony", 300, 100, 100, source=SHARED / "tweeteval-irony")
    run = tmp_path / "irony"
    train(tiny(tmp_path / "data", data="tweeteval-irony", epochs=1), run)
    results = json.loads((run / "results.json").read_text())
    acc = events(run / "tensorboard")
    for split, tag in (("test", "test/irony_f1"), ("val", "best/val_irony_f1")):
        assert series(acc, tag) == [(1, pytest.approx(results[split]["irony_f1"], rel=1e-6))]
