"""The tracker interface: what a run tells an experiment tracker, in the order it tells it.

:func:`hbilstm.training.train` opens a tracker before any work starts (so that a missing package
is reported at once), then calls :meth:`Tracker.start` once the run directory and model exist,
:meth:`Tracker.epoch_end` after every finished epoch (through :meth:`Tracker.listen`), and
:meth:`Tracker.finish` with the best model's scores. :meth:`Tracker.close` is always called, also
when training is interrupted or fails. This base class records nothing: it is ``log_to: none``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..callbacks import TrainCallback
from ..config import TrainConfig

LayerStats = Callable[[], "list[dict]"]


class Tracker:
    """Receives a run's hyperparameters, per-epoch scores, gate statistics and final scores."""

    def start(self, run_dir: Path, config: TrainConfig, *, first_epoch: int, resumed: bool, has_test: bool,
              layer_stats: LayerStats | None = None) -> None:
        """The run in ``run_dir`` trains with ``config`` from epoch ``first_epoch`` on (later than 1
        or ``resumed`` when it continues an interrupted run). ``has_test``: whether final test scores
        will come. ``layer_stats`` returns the per-layer statistics of the model as it is now
        (:func:`hbilstm.inference.layer_statistics` on the validation split)."""

    def epoch_end(self, record: dict) -> None:
        """An epoch finished; ``record`` is its line of ``metrics.jsonl``."""

    def finish(self, *, epochs_run: int, best_epoch: int, val: dict, test: dict | None, layers: list[dict]) -> None:
        """Training ended: the best epoch's validation and test scores and per-layer statistics
        (what ``results.json`` holds)."""

    def close(self) -> None:
        """Write out everything pending and release files; safe to call more than once."""

    def listen(self, callback: TrainCallback) -> TrainCallback:
        """``callback``, with this tracker also hearing every finished epoch."""
        return callback

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TrackedCallback(TrainCallback):
    """Passes every hook on to the caller's callback; finished epochs go to the tracker first."""

    def __init__(self, callback: TrainCallback, tracker: Tracker):
        self.callback, self.tracker = callback, tracker

    def log(self, message: str) -> None:
        self.callback.log(message)

    def epoch_start(self, epoch: int, epochs: int, batches: int, done: int) -> None:
        self.callback.epoch_start(epoch, epochs, batches, done)

    def batch_end(self, step: int, loss: float, tokens_per_s: float, tweets_per_s: float) -> None:
        self.callback.batch_end(step, loss, tokens_per_s, tweets_per_s)

    def epoch_end(self, record: dict) -> None:
        self.tracker.epoch_end(record)
        self.callback.epoch_end(record)
