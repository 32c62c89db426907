"""Temperature scaling of a trained model's classifiers on validation data.

After training, each classifier of the model (the stack, and the n-gram classifier where there
is one) gets the temperature T that minimises the negative log-likelihood of ``softmax(logits /
T)`` on the validation split (Guo et al., 2017, "On Calibration of Modern Neural Networks"). T
is one number per classifier, so it cannot fit the validation split the way a retraining
could. Alone, it changes how confident the classifier is, not which class it picks; in a model
of two classifiers it also sets how much each one weighs in their mean: in the ten runs of
docs/journal/accuracy.md's fifth round the stack came out over-confident on val (T of 0.98 to 1.19,
above 1 in nine) and the n-gram classifier under-confident (T of 0.86 to 0.94). The
temperatures are kept in the model's configuration (``ModelConfig.temperatures``), so every way
of running the model uses them.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional

# Candidate temperatures: 1/4 to 4, each 2.2% above the last (a grid, so that the result does
# not depend on an optimiser's steps; the negative log-likelihood is smooth and has one minimum).
GRID = torch.exp(torch.linspace(math.log(0.25), math.log(4.0), 129))


def fit_temperatures(part_logits: Tensor, labels: Tensor) -> tuple[float, ...]:
    """The temperature of each classifier, from its logits ``(parts, n, classes)`` on
    validation data and the true classes ``(n,)``: the one of :data:`GRID` with the lowest mean
    negative log-likelihood."""
    if part_logits.dim() != 3 or part_logits.size(1) != labels.numel() or labels.numel() == 0:
        raise ValueError(f"need logits (parts, n, classes) and n > 0 labels, not {tuple(part_logits.shape)} "
                         f"and {labels.numel()}")
    chosen = []
    for logits in part_logits.float():
        scaled = logits[None] / GRID[:, None, None]  # (grid, n, classes)
        nll = functional.cross_entropy(scaled.transpose(1, 2), labels[None].expand(len(GRID), -1),
                                       reduction="none").mean(dim=1)
        chosen.append(round(float(GRID[int(nll.argmin())]), 4))
    return tuple(chosen)
