"""Adversarial training on the word embeddings (``adversarial`` ε; Miyato et al., 2017).

Each training step scores the batch once as usual, then once more with every row's embeddings
moved by the small step that raises the stack's loss the most to first order: the gradient of
the loss with respect to that row's embeddings, scaled to an L2 norm of ε times the norm of the
row's embeddings (so that ε means the same for spaCy's vectors, whose entries have an sd near
2.7, and for a table learnt from scratch). The step's loss is the sum of the two. The moved
embeddings are the table's rows, before the Gaussian noise of ``embedding_noise``; padding has
no gradient, so it is never moved. Only the stack reads the embeddings, so only the stack's
logits count in the second loss; the n-gram classifier trains on the first alone.

The two passes are hooked onto the model's ``embedding`` module: :class:`EmbeddingAttack`
records its output in the first pass and adds the perturbation in the second; between steps
the hook does nothing, so evaluation and prediction never see it. The same hook serves the
virtual adversarial step (virtual_adversarial.py), which shifts the embeddings by steps of its own.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class EmbeddingAttack:
    """A forward hook on ``model.embedding`` for the passes of an adversarial step (and of a
    virtual adversarial one: virtual_adversarial.py). ``epsilon``: the size of :meth:`perturb`'s
    step (0 where only :meth:`capture` and :meth:`shift` are used)."""

    def __init__(self, model: nn.Module, epsilon: float = 0.0):
        if not epsilon >= 0:
            raise ValueError(f"the adversarial step needs a size of at least 0, not {epsilon}")
        self.epsilon = float(epsilon)
        self._mode: str | None = None
        self._recorded: Tensor | None = None
        self._delta: Tensor | None = None
        self._handle = model.embedding.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, inputs: tuple, output: Tensor) -> Tensor | None:
        if self._mode == "record":
            if output.requires_grad:
                output.retain_grad()
            else:  # a frozen table: its output is a leaf, and its gradient lands in .grad
                output.requires_grad_()
            self._recorded = output
            return output
        if self._mode == "capture":
            self._recorded = output.detach()
            return output
        if self._mode == "shift":
            return output + self._delta
        return None

    def record(self) -> None:
        """The next forward pass keeps its embeddings' gradient (call before the clean pass)."""
        self._mode, self._recorded = "record", None

    def perturb(self) -> None:
        """The next forward passes add the step that raises the recorded pass's loss most (call
        after the clean pass's backward)."""
        recorded = self._recorded
        if recorded is None or recorded.grad is None:
            raise RuntimeError("no gradient recorded: call record(), then the forward pass and backward()")
        self.shift(perturbation(recorded.grad, recorded.detach(), self.epsilon))

    def capture(self) -> None:
        """The next forward pass keeps its embeddings (detached, in :attr:`captured`)."""
        self._mode, self._recorded = "capture", None

    @property
    def captured(self) -> Tensor:
        if self._mode != "capture" or self._recorded is None:
            raise RuntimeError("no embeddings captured: call capture(), then a forward pass")
        return self._recorded

    def shift(self, delta: Tensor) -> None:
        """The next forward passes add ``delta`` (``(batch, time, width)``) to the embeddings."""
        self._mode, self._recorded, self._delta = "shift", None, delta

    def clear(self) -> None:
        """Back to doing nothing (after the adversarial pass's backward)."""
        self._mode, self._recorded, self._delta = None, None, None

    def remove(self) -> None:
        self.clear()
        self._handle.remove()


def perturbation(grad: Tensor, embedded: Tensor, epsilon: float) -> Tensor:
    """``(batch, time, width)``: each row's gradient scaled to ``epsilon`` times the L2 norm of
    that row's embeddings (a row without gradient, or without embeddings, is not moved)."""
    grad = grad.detach().float()
    grad_norm = grad.flatten(1).norm(dim=1)
    size = epsilon * embedded.detach().float().flatten(1).norm(dim=1)
    scale = torch.where(grad_norm > 0, size / grad_norm.clamp_min(1e-30), torch.zeros_like(size))
    return (grad * scale[:, None, None]).to(embedded.dtype)
