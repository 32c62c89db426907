"""The classifier's forward pass without packed sequences, for graph exporters. Imports only torch.

Neither ONNX exporter can trace a PackedSequence. :class:`UnpackedClassifier` gives the
classifier's logits computed on the padded batch (``packed=False``, see
:mod:`hbilstm.model.layers`), whatever the classifier would choose on its own, and fails at once
for a model that cannot run that way.
"""

from __future__ import annotations

from torch import Tensor, nn

from .classifier import HighwayBiLSTMClassifier
from .layers import reverse_index

__all__ = ["UnpackedClassifier", "reverse_index"]


class UnpackedClassifier(nn.Module):
    """``forward(tokens, lengths[, ngrams])`` -> logits, as ``model(...)`` gives them, with no
    PackedSequence anywhere; ``model``'s parameters are used, not copied, so later changes to the
    model show here too. Rows must have their real tokens first (length at least 1), as
    :func:`~hbilstm.data.batching.collate` pads them."""

    def __init__(self, model: HighwayBiLSTMClassifier):
        super().__init__()
        for layer in model.layers:
            lstm = layer.lstm
            if not layer.runs_padded or lstm.num_layers != 1 or not lstm.bidirectional or lstm.batch_first:
                raise ValueError("expected a one-layer, bidirectional, time-first nn.LSTM in each layer")
        self.model = model

    def forward(self, tokens: Tensor, lengths: Tensor, ngrams: Tensor | None = None) -> Tensor:
        return self.model(tokens, lengths.to(tokens.device), ngrams, packed=False)
