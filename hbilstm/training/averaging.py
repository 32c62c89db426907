"""Averages of the weights, the model that is validated and kept: an EMA, or an epoch average.

**EMA** (``ema: 0.999``): every optimizer step moves a shadow copy of each trainable weight a
little toward the weight just updated::

    shadow = d * shadow + (1 - d) * weight,   d = min(ema, (1 + t) / (10 + t))  at step t

(the ramp keeps the first steps from being dominated by the random start). The shadow averages
the weights of the last ~1 / (1 - ema) steps, which lie around the noisy path the optimizer takes.

**Epoch average** (``swa_start: 3``, stochastic weight averaging after Izmailov et al., 2018): the
equal-weight mean of the weights at the end of every epoch from ``swa_start`` on; before it, the
weights themselves. The epochs' weights lie on the plateau the constant learning rate keeps the
optimizer on; their mean sits nearer its middle, and which epoch the early stop happens to pick
matters less.

Either way, validation, early stopping and ``model.pt`` use the average; training goes on from
the raw weights, and ``last.pt`` holds both, so a resumed run continues the same average.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn


class _Shadow:
    """A copy of ``model``'s trainable weights that ``applied()`` swaps in for a while."""

    def __init__(self, model: nn.Module):
        self.updates = 0
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.shadow = [p.detach().clone() for p in self.params]

    def update(self) -> None:
        """After every optimizer step."""

    def epoch_end(self, epoch: int) -> None:
        """At the end of epoch ``epoch`` (counted from 1), before it is validated."""

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
        return {"updates": self.updates, "shadow": [s.detach().cpu() for s in self.shadow]}

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


class WeightAverage(_Shadow):
    """The EMA of ``model``'s trainable weights, moved at every optimizer step."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the EMA decay must be in (0, 1), not {decay}")
        super().__init__(model)
        self.decay = decay

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        keep = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for shadow, param in zip(self.shadow, self.params):
            shadow.lerp_(param.detach(), 1.0 - keep)

    def state_dict(self) -> dict:
        return {"decay": self.decay, **super().state_dict()}


class EpochAverage(_Shadow):
    """The mean of ``model``'s trainable weights at the ends of epochs ``start``, ``start + 1``, ...
    (``updates`` counts them); before epoch ``start`` ends, the weights themselves."""

    def __init__(self, model: nn.Module, start: int):
        if start < 1:
            raise ValueError(f"the first averaged epoch must be at least 1, not {start}")
        super().__init__(model)
        self.start = start

    @torch.no_grad()
    def epoch_end(self, epoch: int) -> None:
        if epoch < self.start:
            return
        self.updates += 1
        for shadow, param in zip(self.shadow, self.params):
            shadow.lerp_(param.detach(), 1.0 / self.updates)  # the running mean of the epochs so far

    def applied(self) -> contextlib.AbstractContextManager:
        """The average swapped in; before the first averaged epoch, the weights as they are."""
        return super().applied() if self.updates else contextlib.nullcontext()

    def state_dict(self) -> dict:
        return {"start": self.start, **super().state_dict()}
