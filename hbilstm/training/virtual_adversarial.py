"""Virtual adversarial training on the word embeddings (``virtual_adversarial`` ε; Miyato et
al., 2017): a loss that needs no label, so unlabelled tweets can teach the stack too.

For a batch of tweets drawn from the training split and the ``unlabelled`` files, the stack's
class distribution ``p`` on the clean embeddings is the target (fixed, no gradient). The loss
is the KL divergence from ``p`` to the distribution on embeddings moved by the step of size ε
(relative to each tweet's embedding norm, as in adversarial.py) that changes the distribution
most. That step is found by one power iteration: a random direction of size ``PROBE`` (also
relative), the gradient of the KL divergence there with respect to the direction, and that
gradient scaled to ε. The loss makes the stack's answer stay put in the direction where it
moves most, on tweets whose label nobody gave.

The three passes (clean, probe, moved) run with the same dropout masks and embedding noise
(the random state is rewound before each, and afterwards moves on past the random direction's
draws), so that the divergence measures the step and not two draws of the noise; and in
float32 whatever ``amp`` says, since the probe's effect on the logits is far below bfloat16's
resolution. Only the stack reads the embeddings, so only its
logits count; the n-gram classifier is not involved.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..data.batching import ResidentSplit, bucket_order
from ..data.vocab import PAD_ID
from .adversarial import EmbeddingAttack, perturbation
from .checkpoints import rng_state, set_rng_state

PROBE = 1e-3  # the power iteration's step, relative to each tweet's embedding norm


def divergence(target_log: Tensor, logits: Tensor) -> Tensor:
    """Mean over rows of KL(target ‖ softmax(logits)), ``target_log`` being log-probabilities."""
    return nn.functional.kl_div(logits.float().log_softmax(-1), target_log, log_target=True, reduction="batchmean")


def random_direction(tokens: Tensor, embedded: Tensor, size: float, generator: torch.Generator | None = None) -> Tensor:
    """``(batch, time, width)`` Gaussian noise, zero at padding, each row scaled to ``size``
    times that row's embedding norm."""
    noise = torch.randn(embedded.shape, generator=generator, device=embedded.device, dtype=torch.float32)
    noise = noise * (tokens != PAD_ID)[..., None]
    return perturbation(noise, embedded, size)


def virtual_adversarial_loss(model: nn.Module, attack: EmbeddingAttack, tokens: Tensor, lengths: Tensor,
                             epsilon: float, probe: float = PROBE) -> Tensor:
    """The virtual adversarial loss of the module docstring on one batch (``model`` in training
    mode; its gradient reaches the weights through the last pass only)."""
    with torch.autocast(tokens.device.type, enabled=False):  # float32 whatever amp says
        return _three_passes(model, attack, tokens, lengths, epsilon, probe)


def _three_passes(model: nn.Module, attack: EmbeddingAttack, tokens: Tensor, lengths: Tensor,
                  epsilon: float, probe: float) -> Tensor:
    noise = rng_state(tokens.device)
    try:
        attack.capture()
        with torch.no_grad():
            target = model.stack_logits(tokens, lengths).float().log_softmax(-1)
        embedded = attack.captured
        direction = random_direction(tokens, embedded, probe).requires_grad_()
        after = rng_state(tokens.device)  # where the next draws start: past the direction's
        set_rng_state(noise, tokens.device)
        attack.shift(direction.to(embedded.dtype))
        moved = divergence(target, model.stack_logits(tokens, lengths))
        (grad,) = torch.autograd.grad(moved, direction)
        set_rng_state(noise, tokens.device)
        attack.shift(perturbation(grad, embedded, epsilon))
        loss = divergence(target, model.stack_logits(tokens, lengths))
        set_rng_state(after, tokens.device)
        return loss
    finally:
        attack.clear()


class UnlabelledBatches:
    """The tweets the virtual adversarial loss reads, resident on the device, in batches of
    similar length (as the training split's: :func:`bucket_order`), drawn afresh each epoch from
    the seed and the epoch (so a resumed run draws the same); step ``i`` of an epoch takes its
    ``i``-th batch, wrapping round when the pool has fewer batches than the epoch steps."""

    def __init__(self, sequences: list[list[int]], batch_size: int, device: torch.device, seed: int):
        if not sequences:
            raise ValueError("virtual adversarial training needs tweets to read: the pool is empty")
        self.split = ResidentSplit(sequences, None, device)
        self.lengths = [len(s) for s in sequences]
        self.batch_size, self.seed = batch_size, seed
        self._epoch, self._order = None, None

    def batch(self, epoch: int, step: int):
        """``(tokens, lengths)`` of the ``step``-th batch (from 0) of ``epoch``."""
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch + 500_009)
            self._epoch, self._order = epoch, bucket_order(self.lengths, self.batch_size, generator)
        batch = self.split.batch(self._order[step % len(self._order)])
        return batch.tokens, batch.lengths
