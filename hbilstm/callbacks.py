"""What training tells its caller as it goes. The library prints nothing itself: the command
line shows a progress bar with these hooks, and a sweep reports each run's epochs."""

from __future__ import annotations


class TrainCallback:
    """Hooks :func:`hbilstm.training.train` calls; each does nothing unless overridden."""

    def log(self, message: str) -> None:
        """A line worth showing: data and model summaries, one line per finished epoch."""

    def epoch_start(self, epoch: int, epochs: int, batches: int, done: int) -> None:
        """Epoch ``epoch`` of ``epochs`` begins with ``batches`` batches, ``done`` of them already
        done before an interruption."""

    def batch_end(self, step: int, loss: float, tokens_per_s: float, tweets_per_s: float) -> None:
        """``step`` batches of the epoch are done; ``loss`` is the epoch's running mean so far, and
        the speeds are the epoch's so far.
        Called every few batches, not every batch (each call syncs a GPU)."""

    def epoch_end(self, record: dict) -> None:
        """An epoch finished; ``record`` is its line of ``metrics.jsonl``."""
