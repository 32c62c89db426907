"""``log_to: tensorboard``: a run's hyperparameters and scores as TensorBoard event files.

Everything goes to ``RUN_DIR/tensorboard/``, with the epoch as the step:

* ``train/loss``, ``train/accuracy``, ``train/lr``, ``train/tokens_per_s``, ``train/seconds``,
  ``val/loss``, ``val/accuracy``, ``val/macro_f1`` and ``val/macro_recall`` every epoch;
* ``layers/<stat>/L01``, ``L02``, ... every epoch: each layer's mean transform gate
  (``gate_mean``, ``gate_std``; highway), ``k`` and ``g`` (gated-residual) and ``output_norm``
  on the validation split, as :func:`hbilstm.inference.layer_statistics` measures them;
* at the last epoch's step: the best model's ``best/epoch``, ``best/val_<metric>``,
  ``best/<stat>/Lnn`` and ``test/<metric>`` (``loss``, ``accuracy``, ``macro_f1``,
  ``macro_recall``, and ``irony_f1`` or ``stance_f1`` where the task has it), the scores that
  ``results.json`` holds;
* the options of the run for TensorBoard's HPARAMS tab, with the ``best/val_*`` and ``test/*``
  scores as its metrics.

``hbilstm pretrain --log-to tensorboard`` writes ``train/loss``, ``train/tweets_per_s``,
``train/seconds``, ``train/peak_memory_mb``, ``val/perplexity`` and ``val/emoji_macro_f1`` every
epoch (a part epoch stopped early too), with the held-out scores as the HPARAMS tab's metrics.

A resumed run appends to the same folder: steps from the epoch it resumes at on replace those
an interrupted run may have written, so no epoch appears twice.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from ..callbacks import TrainCallback
from ..config import TrainConfig
from ..data.corpora import CLASS_METRICS
from ..errors import ConfigError
from .base import LayerStats, TrackedCallback, Tracker

EVENTS_DIR = "tensorboard"
FINAL_METRICS = ("macro_recall", "macro_f1", "accuracy")
# metrics.jsonl key -> scalar tag
EPOCH_SCALARS = (
    ("train_loss", "train/loss"), ("train_accuracy", "train/accuracy"), ("lr", "train/lr"),
    ("tokens_per_s", "train/tokens_per_s"), ("seconds", "train/seconds"),
    ("val_loss", "val/loss"), ("val_accuracy", "val/accuracy"), ("val_macro_f1", "val/macro_f1"),
    ("val_macro_recall", "val/macro_recall"),
)
# hbilstm pretrain's metrics.jsonl (each epoch, also a part epoch stopped early)
PRETRAIN_SCALARS = (
    ("train_loss", "train/loss"), ("tweets_per_s", "train/tweets_per_s"), ("seconds", "train/seconds"),
    ("peak_memory_mb", "train/peak_memory_mb"), ("perplexity", "val/perplexity"),
    ("emoji_macro_f1", "val/emoji_macro_f1"),
)
_EVENTS_PREFIX = "events.out.tfevents."


def summary_writer_class() -> type:
    """``torch.utils.tensorboard.SummaryWriter``, or a one-line ConfigError saying what to install."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            'log_to tensorboard needs the tensorboard package: pip install "hbilstm[tensorboard]"'
        ) from None
    return SummaryWriter


def layer_tag(group: str, stat: str, layer: int) -> str:
    """``layers/gate_mean/L01``: zero-padded so that TensorBoard lists layers in order."""
    return f"{group}/{stat}/L{layer:02d}"


class TensorBoardTracker(Tracker):
    """Writes a run's events to ``RUN_DIR/tensorboard/`` through ``torch.utils.tensorboard``.
    ``pretraining``: the run is ``hbilstm pretrain``'s (its per-epoch scalars, and those as the
    HPARAMS tab's metrics)."""

    def __init__(self, pretraining: bool = False) -> None:
        self._writer_class = summary_writer_class()
        self.pretraining = pretraining
        self.writer = None
        self.folder: Path | None = None
        self._layer_stats: LayerStats | None = None

    def start(self, run_dir: Path, config: TrainConfig, *, first_epoch: int, resumed: bool, has_test: bool,
              layer_stats: LayerStats | None = None) -> None:
        self.folder = Path(run_dir) / EVENTS_DIR
        self._layer_stats = layer_stats
        earlier = resumed and _event_files(self.folder)
        if earlier:
            _wait_past(earlier)
        elif self.folder.exists():
            shutil.rmtree(self.folder)  # a fresh run (or --overwrite): no steps from a previous run
        # purge_step: TensorBoard drops what earlier files hold from this step on (an epoch that an
        # interrupted run logged but did not save as finished is trained again now).
        self.writer = self._writer_class(log_dir=str(self.folder), purge_step=first_epoch if earlier else None)
        if not earlier:
            self._write_hparams(config, has_test)

    def _write_hparams(self, config: TrainConfig, has_test: bool) -> None:
        from torch.utils.tensorboard.summary import hparams

        if self.pretraining:
            metrics = [tag for _, tag in PRETRAIN_SCALARS if tag.startswith("val/")]
        else:
            metrics = [f"best/val_{m}" for m in FINAL_METRICS] + ["best/epoch"]
            metrics += [f"test/{m}" for m in FINAL_METRICS] if has_test else []
        options = {k: v for k, v in config.to_dict().items() if v is not None}
        experiment, session_start, _ = hparams(options, dict.fromkeys(metrics, 0.0))
        self.writer.file_writer.add_summary(experiment)
        self.writer.file_writer.add_summary(session_start)
        self.writer.flush()

    def epoch_end(self, record: dict) -> None:
        step = record["epoch"]
        for key, tag in PRETRAIN_SCALARS if self.pretraining else EPOCH_SCALARS:
            if record.get(key) is not None:
                self.writer.add_scalar(tag, record[key], step)
        if self._layer_stats is not None:
            self._add_layers("layers", self._layer_stats(), step)
        self.writer.flush()  # an interrupted run keeps every finished epoch

    def finish(self, *, epochs_run: int, best_epoch: int, val: dict, test: dict | None, layers: list[dict]) -> None:
        from torch.utils.tensorboard.summary import hparams

        step = epochs_run
        self.writer.add_scalar("best/epoch", best_epoch, step)
        official = [name for name in CLASS_METRICS if val.get(name) is not None]  # irony's, stance's
        for name in (*FINAL_METRICS, *official):
            self.writer.add_scalar(f"best/val_{name}", val[name], step)
        if test is not None:
            for name in ("loss", *FINAL_METRICS, *official):
                self.writer.add_scalar(f"test/{name}", test[name], step)
        self._add_layers("best", layers, step)
        _, _, session_end = hparams({}, {})  # the HPARAMS tab's status: finished
        self.writer.file_writer.add_summary(session_end, step)
        self.writer.flush()

    def _add_layers(self, group: str, layers: list[dict], step: int) -> None:
        for entry in layers:
            for stat, value in entry.items():
                if stat != "layer":
                    self.writer.add_scalar(layer_tag(group, stat, entry["layer"]), value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def listen(self, callback: TrainCallback) -> TrainCallback:
        return TrackedCallback(callback, self)


def _event_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(_EVENTS_PREFIX + "*")) if folder.is_dir() else []


def _wait_past(files: list[Path]) -> None:
    """Wait until the clock has left the second in which the newest events file was created.

    TensorBoard reads a folder's event files in name order, and a name starts with its creation
    second: a file created in the same second could be read before the older one, and then the
    older file's purged steps would come back.
    """
    newest = max(_created_second(f) for f in files)
    while int(time.time()) <= newest:
        time.sleep(0.05)


def _created_second(path: Path) -> int:
    try:
        return int(path.name[len(_EVENTS_PREFIX):].split(".")[0])
    except ValueError:
        return 0
