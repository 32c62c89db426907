"""An exponential moving average (EMA) of the weights, the model that is validated and kept.

With ``ema: 0.999`` every optimizer step moves a shadow copy of each trainable weight a little
toward the weight just updated::

    shadow = d * shadow + (1 - d) * weight,   d = min(ema, (1 + t) / (10 + t))  at step t

(the ramp keeps the first steps from being dominated by the random start). The shadow averages
the weights of the last ~1 / (1 - ema) steps, which lie around the noisy path the optimizer takes;
their average usually scores better and varies less between seeds than the last weights do.
Validation, early stopping and ``model.pt`` use the shadow; training goes on from the raw
weights, and ``last.pt`` holds both, so a resumed run continues the same average.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn


class WeightAverage:
    """The EMA of ``model``'s trainable weights; ``applied()`` swaps it in for a while."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the EMA decay must be in (0, 1), not {decay}")
        self.decay = decay
        self.updates = 0
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.shadow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        """Move the shadow toward the current weights (call after every optimizer step)."""
        self.updates += 1
        keep = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for shadow, param in zip(self.shadow, self.params):
            shadow.lerp_(param.detach(), 1.0 - keep)

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """Inside, the model holds the averaged weights; after, its own again."""
        raw = [p.detach().clone() for p in self.params]
        self._copy(self.shadow)
        try:
            yield
        finally:
            self._copy(raw)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "shadow": [s.detach().cpu() for s in self.shadow]}

    def load_state_dict(self, state: dict) -> None:
        if len(state["shadow"]) != len(self.shadow) or any(
                s.shape != t.shape for s, t in zip(state["shadow"], self.shadow)):
            raise ValueError("the saved weight average does not fit this model")
        self.updates = int(state["updates"])
        with torch.no_grad():
            for shadow, saved in zip(self.shadow, state["shadow"]):
                shadow.copy_(saved)

    @torch.no_grad()
    def _copy(self, values: list[torch.Tensor]) -> None:
        for param, value in zip(self.params, values):
            param.copy_(value)
