"""Pretraining objectives for the stack: a bidirectional language model, as ELMo's (Peters et al.,
2018), and the weight maps that carry a pretrained encoder into a classifier. Imports only torch.

In a stack of bidirectional layers every layer reads both directions of the layer below, so the
forward half of layer 2 at position t has already seen token t + 1 through layer 1's backward
half: a language model on the ordinary forward pass would learn to copy its target.
:func:`directional_states` runs the stack twice instead, each time in one direction only
(:meth:`~hbilstm.model.layers.HighwayBiLSTMLayer.one_way`): the forward run's top layer at t has
read tokens up to t and predicts token t + 1, the backward run's has read tokens from t on and
predicts token t - 1. Padding is never read and never predicted, and neither is ``<unk>``.

:func:`block_diagonal_start` zeroes the weights by which one direction reads the other's half
(in every layer but the first), so that at the start of pretraining the ordinary bidirectional
pass computes exactly the two one-direction runs side by side; those weights get no gradient from
the language model, so a pretrained encoder starts fine-tuning as the two language models it
learnt, and the crossing weights learn from the task (and the emoji objective).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .classifier import HighwayBiLSTMClassifier
from .layers import reverse_index


def directional_states(model: HighwayBiLSTMClassifier, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """The top layer's forward half from the forward-only run and backward half from the
    backward-only run, each ``(batch, time, hidden)``, over one draw of the embeddings."""
    embedded = model.embed(tokens)
    lengths = lengths.to(embedded.device)
    reverse = reverse_index(lengths, embedded.size(1))
    ahead = back = embedded
    for layer in model.layers:
        ahead = layer.one_way(ahead, reverse, backward=False)
        back = layer.one_way(back, reverse, backward=True)
    half = model.config.hidden
    return ahead[..., :half], back[..., half:]


def neighbour_targets(tokens: Tensor, lengths: Tensor, unknown_idx: int = 1) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """What each position predicts: ``(next_ids, next_ok, previous_ids, previous_ok)``, each
    ``(batch, time)``. ``next_ids[b, t]`` is token t + 1 of row b, counted where ``next_ok`` holds:
    t + 1 is a real token of the row (not padding, not past its end) and not ``<unk>``; likewise
    ``previous_ids`` (token t - 1) where t is real and t >= 1."""
    steps = tokens.size(1)
    positions = torch.arange(steps, device=tokens.device)[None, :]
    lengths = lengths.to(tokens.device)[:, None]
    next_ids = torch.zeros_like(tokens)
    next_ids[:, :-1] = tokens[:, 1:]
    previous_ids = torch.zeros_like(tokens)
    previous_ids[:, 1:] = tokens[:, :-1]
    next_ok = (positions + 1 < lengths) & (next_ids != unknown_idx)
    previous_ok = (positions >= 1) & (positions < lengths) & (previous_ids != unknown_idx)
    return next_ids, next_ok, previous_ids, previous_ok


def softmax_cutoffs(vocab_size: int) -> list[int]:
    """Cluster edges of the adaptive softmax: the 2,000 most frequent words in its head, the next
    8,000 in one tail cluster, the rest in another (ids are in order of frequency)."""
    return [c for c in (2000, 10000) if c < vocab_size - 1] or [max(1, vocab_size // 2)]


class BiLMHead(nn.Module):
    """The language model's output layer, shared by the two directions: an adaptive softmax
    (Grave et al., 2017) over the vocabulary from ``hidden`` features, so that a 50,000-word
    vocabulary costs about what 2,000 words would."""

    def __init__(self, hidden: int, vocab_size: int):
        super().__init__()
        self.softmax = nn.AdaptiveLogSoftmaxWithLoss(hidden, vocab_size, softmax_cutoffs(vocab_size), div_value=4.0)

    def forward(self, model: HighwayBiLSTMClassifier, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``(loss_sum, count)``: the summed negative log-likelihood of every counted neighbour
        (both directions) and how many there are."""
        ahead, back = directional_states(model, tokens, lengths)
        next_ids, next_ok, previous_ids, previous_ok = neighbour_targets(tokens, lengths, model.config.unknown_idx)
        states = torch.cat([ahead[next_ok], back[previous_ok]]).float()
        targets = torch.cat([next_ids[next_ok], previous_ids[previous_ok]])
        count = torch.tensor(targets.numel(), device=tokens.device)
        if targets.numel() == 0:
            return states.sum() * 0.0, count  # a batch of one-word tweets: nothing to predict
        return -self.softmax(states, targets).output.sum(), count


@torch.no_grad()
def block_diagonal_start(model: HighwayBiLSTMClassifier) -> None:
    """Zero, in every layer after the first, the weights that carry one direction's half of the
    input into the other direction's half of the output (LSTM inputs, transform gate, projection)."""
    half = model.config.hidden
    for layer in list(model.layers)[1:]:
        lstm = layer.lstm
        lstm.weight_ih_l0[:, half:] = 0.0
        lstm.weight_ih_l0_reverse[:, :half] = 0.0
        for part in (getattr(layer, "gate", None), layer.project):
            if isinstance(part, nn.Linear):
                part.weight[:half, half:] = 0.0
                part.weight[half:, :half] = 0.0


def transfer(source: dict[str, Tensor], target: nn.Module, rows: list[int],
             skip: tuple[str, ...] = ("classifier.", "ngram_head.", "spellings", "lexicon")) -> list[str]:
    """Load a pretrained encoder's weights ``source`` (a state dict) into ``target``: every weight
    of the same name and shape, but for those starting with ``skip`` (the task's own classifiers,
    and the tables per vocabulary id that the builder fills from the vocabulary);
    the embedding row by row, ``rows[i]`` being the source row of target row i (-1: the word is
    new, its row keeps its fresh start). A first-layer weight whose target reads more inputs than
    the source's (``target`` joins fixed word vectors to the embeddings, ``vector_features``) takes
    the source's columns for the inputs the two share, which come first, and zeros for the rest:
    the layer starts out computing what the encoder's did, and learns to read the new inputs.
    Returns the names of the weights taken."""
    taken = []
    own = target.state_dict()
    with torch.no_grad():
        for name, tensor in source.items():
            if name.startswith(skip) or name not in own:
                continue
            if name == "embedding.weight":
                index = torch.tensor(rows, dtype=torch.long)
                known = index >= 0
                own[name][known.to(own[name].device)] = tensor[index[known]].to(own[name])
            elif own[name].shape == tensor.shape:
                own[name].copy_(tensor)
            elif name.startswith("layers.0.") and _widened(own[name].shape, tensor.shape):
                own[name].zero_()
                own[name][..., : tensor.shape[-1]] = tensor.to(own[name])
            else:
                continue
            taken.append(name)
    return taken


def _widened(own: torch.Size, source: torch.Size) -> bool:
    """Whether a weight of shape ``own`` reads more inputs (its last axis) than one of shape
    ``source``, and is otherwise alike."""
    return len(own) == len(source) >= 2 and own[:-1] == source[:-1] and own[-1] > source[-1]
