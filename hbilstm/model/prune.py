"""Removing layers from a trained stack (pruning by lesion). Imports only torch.

A layer whose carry path is the identity (its input and output widths match) and whose lesion
(y = P(x) = x) costs little can be dropped outright: the stack without it computes exactly what
the stack with it lesioned computes, with fewer parameters and less time.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from torch import nn

from .classifier import HighwayBiLSTMClassifier


def removable(model: HighwayBiLSTMClassifier, index: int) -> bool:
    """Whether layer ``index`` (0-based) carries its input unchanged when lesioned."""
    layer = model.layers[index]
    return layer.carry != "plain" and isinstance(layer.project, nn.Identity)


def prune_layers(model: HighwayBiLSTMClassifier, drop: Iterable[int]) -> HighwayBiLSTMClassifier:
    """A new classifier with the layers ``drop`` (0-based) removed and every other weight copied.

    ValueError for a layer that is not :func:`removable`, or for dropping every layer.
    """
    drop = sorted(set(drop))
    for index in drop:
        if not 0 <= index < len(model.layers):
            raise ValueError(f"no layer {index + 1} in a stack of {len(model.layers)}")
        if not removable(model, index):
            raise ValueError(f"layer {index + 1} changes the width of its input (or has no carry path), "
                             "so it cannot be removed")
    keep = [i for i in range(len(model.layers)) if i not in drop]
    if not keep:
        raise ValueError("cannot remove every layer")
    pruned = HighwayBiLSTMClassifier(replace(model.config, layers=len(keep)))
    renumber = {f"layers.{old}.": f"layers.{new}." for new, old in enumerate(keep)}
    state = {}
    for key, value in model.state_dict().items():
        if not key.startswith("layers."):
            state[key] = value  # embedding, pooling (attention), classifier: everything but the stack
            continue
        prefix = ".".join(key.split(".")[:2]) + "."
        if prefix in renumber:
            state[renumber[prefix] + key[len(prefix):]] = value
    pruned.load_state_dict(state)  # strict: every weight of the pruned model comes from the model
    return pruned.to(next(model.parameters()).device).train(model.training)
