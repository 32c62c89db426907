"""The classifier's forward pass without packed sequences, for graph exporters. Imports only torch.

:class:`HighwayBiLSTMClassifier` runs its LSTMs on packed sequences, which neither ONNX exporter
can trace. :class:`UnpackedClassifier` computes the same logits (in eval mode) on the padded
batch, with the trained model's own parameters (shared, not copied):

* the forward direction of each layer's LSTM reads the padded rows as they are: padding comes
  after a row's real tokens, so it can reach only the outputs at padding positions;
* the backward direction reads every row reversed *within its length* (token ``L - 1`` first,
  padding still at the end), through a unidirectional LSTM holding the ``_reverse`` weights; its
  outputs are put back in the original order with the same gather (the reordering is its own
  inverse);
* the gate and the carry projection act on each position on its own, so they need nothing;
* pooling looks only at real positions, as in the packed model.

The outputs at padding positions are meaningless but finite; they never reach a real position
and are masked out before pooling.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .classifier import HighwayBiLSTMClassifier
from .layers import HighwayBiLSTMLayer


def reverse_index(lengths: Tensor, steps: int) -> Tensor:
    """``(batch, steps)`` positions that reverse each row within its length: position ``t`` of
    a row of length ``L`` reads ``L - 1 - t`` when ``t < L`` and stays at ``t`` past the end."""
    positions = torch.arange(steps, device=lengths.device).unsqueeze(0)
    lengths = lengths.unsqueeze(1)
    return torch.where(positions < lengths, lengths - 1 - positions, positions)


def _gather_steps(x: Tensor, index: Tensor) -> Tensor:
    """``x[b, index[b, t], :]`` for a ``(batch, time, features)`` tensor."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.size(-1)))


def _one_direction(lstm: nn.LSTM, suffix: str) -> nn.LSTM:
    """A unidirectional, batch-first LSTM whose parameters *are* one direction of ``lstm``."""
    single = nn.LSTM(lstm.input_size, lstm.hidden_size, num_layers=1, batch_first=True,
                     device=lstm.weight_ih_l0.device, dtype=lstm.weight_ih_l0.dtype)
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        # nn.LSTM's __setattr__ keeps its list of flat weights in step with the parameters.
        setattr(single, name, getattr(lstm, name + suffix))
    return single


class _UnpackedLayer(nn.Module):
    def __init__(self, layer: HighwayBiLSTMLayer):
        super().__init__()
        if layer.lstm.num_layers != 1 or not layer.lstm.bidirectional or layer.lstm.batch_first:
            raise ValueError("expected a one-layer, bidirectional, time-first LSTM in each layer")
        self.layer = layer
        self.forward_lstm = _one_direction(layer.lstm, "")
        self.backward_lstm = _one_direction(layer.lstm, "_reverse")

    def forward(self, x: Tensor, reverse: Tensor) -> Tensor:
        layer = self.layer
        lstm_in = layer.input_dropout(x)
        ahead = self.forward_lstm(lstm_in)[0]
        back = _gather_steps(self.backward_lstm(_gather_steps(lstm_in, reverse))[0], reverse)
        h = torch.cat([ahead, back], dim=-1)
        if layer.carry == "plain":
            return h
        if layer.carry == "residual":
            return h + layer.project(x)
        if layer.carry == "gated-residual":
            return torch.relu(layer.k) * h + layer.project(x)
        t = torch.sigmoid(layer.gate(x))
        # H*T + P*(1 - T), written out: the same value as the packed layer's lerp, in plain ops.
        p = layer.project(x)
        return p + t * (h - p)


class UnpackedClassifier(nn.Module):
    """``forward(tokens, lengths[, ngrams])`` -> logits, as ``model(...)`` gives them, with no
    PackedSequence anywhere; ``model``'s parameters are used, not copied, so later changes to the
    model show here too. Rows must have their real tokens first (length at least 1), as
    :func:`~hbilstm.data.batching.collate` pads them."""

    def __init__(self, model: HighwayBiLSTMClassifier):
        super().__init__()
        self.model = model
        self.layers = nn.ModuleList(_UnpackedLayer(layer) for layer in model.layers)

    def forward(self, tokens: Tensor, lengths: Tensor, ngrams: Tensor | None = None) -> Tensor:
        model = self.model
        lengths = lengths.to(tokens.device)
        x = model.embed(tokens)
        reverse = reverse_index(lengths, tokens.size(1))
        for layer in self.layers:
            x = layer(x, reverse)
        return model.with_ngram_head(model.classifier(model.dropout(self._pool(x, lengths))), ngrams)

    def _pool(self, x: Tensor, lengths: Tensor) -> Tensor:
        real = (torch.arange(x.size(1), device=x.device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)
        pooling = self.model.config.pooling
        if pooling == "max":
            return x.masked_fill(~real, float("-inf")).amax(dim=1)
        if pooling == "mean":
            # where(), not a product: padding positions contribute an exact zero whatever they hold
            return torch.where(real, x, torch.zeros_like(x)).sum(dim=1) / lengths.unsqueeze(1).to(x.dtype)
        if pooling == "attention":
            weights = self.model.attention_weights(x, real.squeeze(-1))
            return (weights.unsqueeze(-1) * torch.where(real, x, torch.zeros_like(x))).sum(dim=1)
        half = x.size(-1) // 2
        last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, x.size(-1))
        forward_last = x.gather(1, last).squeeze(1)[:, :half]
        return torch.cat([forward_last, x[:, 0, half:]], dim=-1)
