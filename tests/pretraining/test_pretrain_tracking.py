"""hbilstm pretrain --log-to tensorboard: every epoch's scalars are metrics.jsonl's, and a resumed
run's events hold each epoch once, as the finished run has it."""

import json
import threading

import pytest
from _pretrain_data import pretrain_data, tiny  # noqa: F401  (fixtures)
from typer.testing import CliRunner

from hbilstm.cli import app
from hbilstm.errors import TrainingInterrupted
from hbilstm.pretraining import pretrain

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer  # noqa: E402
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData  # noqa: E402

TAGS = {"train_loss": "train/loss", "perplexity": "val/perplexity", "emoji_macro_f1": "val/emoji_macro_f1"}


def scalars(folder, tag):
    """Each step's value as TensorBoard shows it: every events file of the folder, read in order."""
    multiplexer = EventMultiplexer(size_guidance={"scalars": 0})
    multiplexer.AddRun(str(folder), name="run")
    multiplexer.Reload()
    return {e.step: e.value for e in multiplexer.Scalars("run", tag)}


def test_interrupted_and_resumed_pretraining_logs_each_epoch_once(pretrain_data, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    stop = threading.Event()
    stop.set()  # stop at the first batch: a part epoch 1 is logged, then trained again on resume
    with pytest.raises(TrainingInterrupted):
        pretrain(tiny(data_dir=str(pretrain_data), epochs=2, log_to="tensorboard"), run, stop=stop)
    part = scalars(run / "tensorboard", "val/perplexity")
    assert list(part) == [1]
    result = pretrain(tiny(data_dir=str(pretrain_data), epochs=2, log_to="tensorboard"), run, resume=True,
                      stop=threading.Event())
    assert result.stopped == "completed"
    whole = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    whole = [r for r in whole if not r["partial"]]
    assert [r["epoch"] for r in whole] == [1, 2]
    for key, tag in TAGS.items():
        logged = scalars(run / "tensorboard", tag)
        assert sorted(logged) == [1, 2]
        assert logged == pytest.approx({r["epoch"]: r[key] for r in whole}, rel=1e-6)


def test_pretrain_log_to_from_the_command_line_and_bad_names(pretrain_data, tmp_path):  # noqa: F811
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "cli"
    args = ["pretrain", "--data-dir", str(pretrain_data), "--set", "hidden=8", "--set", "embedding_dim=12",
            "--set", "min_freq=1", "--epochs", "1", "--threads", "1", "-q", "-o", str(run)]
    result = CliRunner().invoke(app, [*args, "--log-to", "tensorboard"])
    assert result.exit_code == 0, result.output
    accumulator = EventAccumulator(str(run / "tensorboard"))
    accumulator.Reload()
    content = accumulator.PluginTagToContent("hparams")
    experiment = HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert {m.name.tag for m in experiment.metric_infos} == {"val/perplexity", "val/emoji_macro_f1"}
    start = HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["hidden"].number_value == 8 and start.hparams["objectives"].string_value == "lm,emoji"
    result = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "bad"), "--log-to", "wandb"])
    assert result.exit_code == 2 and "log_to must be one of none, tensorboard, not 'wandb'" in result.output
    assert not (tmp_path / "bad").exists()


def test_pretrain_under_torchrun_is_refused_in_one_line(pretrain_data, tmp_path, monkeypatch):  # noqa: F811
    for key, value in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["pretrain", "--data-dir", str(pretrain_data), "-o", str(tmp_path / "r")])
    assert result.exit_code == 2 and "runs in one process: start it without torchrun" in result.output
    assert not (tmp_path / "r").exists()
