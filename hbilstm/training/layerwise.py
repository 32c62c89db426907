"""The model by levels, bottom to top, for fine-tuning a pretrained encoder (ULMFiT, Howard and
Ruder, 2018): level 0 the embeddings (and the character and lexicon features), level i the i-th
stacked layer, the last level the top (attention and classifiers).

* discriminative fine-tuning (``lr_layer_decay`` d): the top learns at ``lr``, each level below at
  d times the rate of the level above it;
* gradual unfreezing (``gradual_unfreeze`` k): in epochs 1..k only the top trains, then every k
  epochs one more level from the top down, until the embeddings train too (DeepMoji's chain-thaw
  trains one level at a time instead; this keeps the levels above training as each one thaws).
"""

from __future__ import annotations

from torch import nn


def level_of(name: str, layers: int) -> int:
    """The level of the parameter called ``name`` in a model with ``layers`` stacked layers."""
    if name.startswith("layers."):
        return int(name.split(".")[1]) + 1
    if name.startswith(("embedding.", "chars.")):
        return 0
    return layers + 1


def layer_groups(model: nn.Module, lr: float, decay: float) -> list[tuple[int, list[nn.Parameter], float]]:
    """``(level, parameters, learning rate)`` for every level that has parameters, bottom first;
    with ``decay`` 1, one group of every parameter at ``lr``."""
    if decay == 1.0:
        return [(0, list(model.parameters()), lr)]
    layers = len(getattr(model, "layers", ()))
    levels: dict[int, list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        levels.setdefault(level_of(name, layers), []).append(param)
    top = layers + 1
    return [(level, levels[level], lr * decay ** (top - level)) for level in sorted(levels)]


def thawed_from(epoch: int, every: int, layers: int) -> int:
    """The lowest level that trains in ``epoch`` (1-based) when one more level thaws every
    ``every`` epochs from the top (0: all levels from the start)."""
    if not every:
        return 0
    return max(0, layers + 1 - (epoch - 1) // every)


def apply_thaw(model: nn.Module, lowest: int, trainable: set[int]) -> None:
    """Let the parameters at ``lowest`` and above train, the rest not; ``trainable`` holds the ids
    of the parameters that may train at all (a frozen embedding stays frozen)."""
    layers = len(getattr(model, "layers", ()))
    for name, param in model.named_parameters():
        param.requires_grad_(id(param) in trainable and level_of(name, layers) >= lowest)
