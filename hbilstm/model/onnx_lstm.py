"""A layer's bidirectional LSTM as one ONNX ``LSTM`` node, for export only. Imports only torch.

In PyTorch a layer runs its backward direction on rows reversed within their lengths, by a
gather before and after (:mod:`hbilstm.model.layers`); traced as it is, that gives two
one-direction ``LSTM`` nodes and four gathers per layer. ONNX's ``LSTM`` does both directions in
one node and reverses each row within its length itself (its ``sequence_lens`` input). ONNX
Runtime scores the default model's graph built this way in about four fifths of the time
(docs/journal/benchmarks.md), with the same numbers at every real position; positions past a
row's length come out as zeros rather than as the PyTorch path's unused values, which nothing reads.

:func:`bidirectional_lstm` is called by a layer while ``torch.onnx.export`` traces it. The node's
gate order is ONNX's (input, output, forget, cell) where PyTorch's is (input, forget, cell,
output); the reordered weights are computed from the parameters in the trace, which the exporter
folds into constants.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

_INT32 = 6  # ONNX TensorProto.INT32, the type of sequence_lens


def _onnx_gates(weight: Tensor) -> Tensor:
    """PyTorch's gate blocks (i, f, g, o) along the first axis in ONNX's order (i, o, f, g)."""
    i, f, g, o = weight.chunk(4, 0)
    return torch.cat([i, o, f, g], 0)


class _BidirectionalLSTM(torch.autograd.Function):
    """Traced as one node. ``forward`` hands back ``value``, the same result computed by the
    layer's own ops, so that the trace has the right shapes (the exporter then drops those ops,
    whose result nothing else reads); ``symbolic`` writes the ONNX node."""

    @staticmethod
    def forward(ctx, x: Tensor, lengths: Tensor, w: Tensor, r: Tensor, b: Tensor, value: Tensor,
                hidden: int) -> Tensor:
        return value.clone()

    @staticmethod
    def symbolic(g, x, lengths, w, r, b, value, hidden: int):
        steps_first = g.op("Transpose", x, perm_i=[1, 0, 2])  # (time, batch, features): layout 0
        sequence_lens = g.op("Cast", lengths, to_i=_INT32)
        y, _, _ = g.op("LSTM", steps_first, w, r, b, sequence_lens, hidden_size_i=hidden,
                       direction_s="bidirectional", outputs=3)
        # y: (time, directions, batch, hidden) -> (batch, time, directions * hidden), forward half first
        batch_first = g.op("Transpose", y, perm_i=[2, 0, 1, 3])
        return g.op("Reshape", batch_first, g.op("Constant", value_t=torch.tensor([0, 0, -1], dtype=torch.int64)))


def bidirectional_lstm(lstm: nn.LSTM, x: Tensor, lengths: Tensor, value: Tensor) -> Tensor:
    """``value`` (the layer's own bidirectional output for batch-first ``x`` and ``lengths``),
    traced as one ONNX ``LSTM`` node that computes it from ``x`` and ``lengths``."""
    weights = {}
    for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        weights[kind] = torch.stack([_onnx_gates(getattr(lstm, f"{kind}_l0{suffix}")) for suffix in ("", "_reverse")])
    bias = torch.cat([weights["bias_ih"], weights["bias_hh"]], dim=1)  # ONNX: (directions, 8 * hidden)
    return _BidirectionalLSTM.apply(x, lengths, weights["weight_ih"], weights["weight_hh"], bias, value,
                                    lstm.hidden_size)
