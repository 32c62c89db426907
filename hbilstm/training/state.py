"""Where a training run stands: its position, the epoch in progress, early stopping and history.

All of it is plain values, so :meth:`TrainState.to_dict` goes into the resume checkpoint as it is
and :meth:`TrainState.from_dict` brings it back.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass
class EpochTally:
    """Running totals of the epoch in progress (saved with a mid-epoch interruption)."""

    loss_sum: float = 0.0
    correct: int = 0
    examples: int = 0
    tokens: int = 0
    seconds: float = 0.0

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(1, self.examples)

    @property
    def accuracy(self) -> float:
        return self.correct / max(1, self.examples)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / max(1e-9, self.seconds)

    @property
    def tweets_per_s(self) -> float:
        return self.examples / max(1e-9, self.seconds)


@dataclass
class EarlyStopping:
    """Tracks the best validation score; stops after ``patience`` epochs without a better one
    (``patience`` 0: never stops early)."""

    patience: int
    best_value: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0

    def update(self, epoch: int, value: float) -> bool:
        """Record epoch ``epoch``'s score; True when it is the best so far."""
        if value > self.best_value + 1e-12:
            self.best_value, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_epochs >= self.patience


@dataclass
class TrainState:
    """Everything about a run's progress that a resume needs, besides weights and optimizer.

    ``epoch`` is the epoch in progress (1-based) and ``step`` the batches of it already done.
    """

    patience: int
    epoch: int = 1
    step: int = 0
    tally: EpochTally = field(default_factory=EpochTally)
    stopping: EarlyStopping = field(init=False)
    history: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stopping = EarlyStopping(self.patience)

    def next_epoch(self) -> None:
        self.epoch += 1
        self.step = 0
        self.tally = EpochTally()

    def to_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "partial": asdict(self.tally),
            "best_value": self.stopping.best_value,
            "best_epoch": self.stopping.best_epoch,
            "bad_epochs": self.stopping.bad_epochs,
            "history": list(self.history),
        }

    @classmethod
    def from_dict(cls, data: dict, patience: int) -> "TrainState":
        """The saved state; ``patience`` is today's (a resume may change it)."""
        state = cls(patience, int(data["epoch"]), int(data["step"]), EpochTally(**data["partial"]),
                    history=list(data["history"]))
        state.stopping.best_value = float(data["best_value"])
        state.stopping.best_epoch = int(data["best_epoch"])
        state.stopping.bad_epochs = int(data["bad_epochs"])
        return state
