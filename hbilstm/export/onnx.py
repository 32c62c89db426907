"""The classifier as an ONNX graph.

``export_onnx(model, path)`` writes ``model.onnx``: inputs ``tokens`` (int64, ``[batch, time]``,
padded with 0 after each row's real tokens), ``lengths`` (int64, ``[batch]``, each at least
1) and, for a model with an n-gram head (``ngram_buckets``), ``ngrams`` (int64, ``[batch, n]``, each row's hashed
character n-gram ids padded with 0; see :mod:`hbilstm.data.ngrams`), output ``probs`` (float32,
``[batch, classes]``, softmax applied); batch and time are dynamic.
The graph is traced from the classifier's own forward pass (padded, with no packed sequences, which
the exporters cannot follow) with the TorchScript-based exporter (``dynamo=False``), which
turns each LSTM into one ONNX ``LSTM`` node; the torch.export-based one unrolls the LSTM over the
time steps of the example and so fixes the time axis.

Scoring such a graph (``OnnxScorer``, which this module also offers) lives in
:mod:`hbilstm.export.onnx_runtime`, which never imports torch. onnx and onnxruntime are
imported only when used; they are among hbilstm's dependencies.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from ..fileio import atomic_open
from ..model.classifier import HighwayBiLSTMClassifier
from .onnx_runtime import (  # noqa: F401  (find_onnx_model, OnnxScorer and the names: imported from here too)
    INPUTS,
    MODEL_KEY,
    NGRAM_INPUT,
    OUTPUT,
    OnnxScorer,
    digest_of,
    find_onnx_model,
    model_digest,
    require,
)

OPSET = 17  # LSTM (7), GatherElements (11); ONNX Runtime 1.18 and later run 17 fully


def weights_digest(model: nn.Module) -> str:
    """SHA-256 over the model's parameters and buffers (names, dtypes, shapes and bytes); see
    :func:`~hbilstm.export.onnx_runtime.digest_of`."""
    return digest_of((name, str(tensor.dtype), tuple(tensor.shape),
                      tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
                     for name, tensor in model.state_dict().items())


def digest_of_model(model: HighwayBiLSTMClassifier) -> str:
    """The :func:`~hbilstm.export.onnx_runtime.model_digest` of ``model``: its weights and shape."""
    return model_digest(weights_digest(model), model.config.to_dict())


class _Probabilities(nn.Module):
    """What the graph computes: softmax over the classifier's logits."""

    def __init__(self, model: HighwayBiLSTMClassifier):
        super().__init__()
        self.net = model

    def forward(self, tokens: Tensor, lengths: Tensor, ngrams: Tensor | None = None) -> Tensor:
        return torch.softmax(self.net(tokens, lengths.to(tokens.device), ngrams), dim=-1)


def export_onnx(model: HighwayBiLSTMClassifier, path: str | os.PathLike) -> Path:
    """Write ``model`` (in eval mode; its own mode is restored) as an ONNX graph at ``path``,
    through a temporary file renamed into place, after ``onnx.checker`` has passed it. The graph
    records the model's digest (:func:`digest_of_model`)."""
    onnx = require("onnx")
    path = Path(path)
    wrapper = _Probabilities(model)
    was_training = model.training
    wrapper.eval()
    device = next(model.parameters()).device
    # An example with uneven lengths; its sizes are not baked in (dynamic axes below).
    lengths = torch.tensor([5, 3, 1], dtype=torch.long)
    tokens = torch.full((3, 5), model.config.padding_idx, dtype=torch.long)  # the ids do not matter to the trace
    inputs, names = (tokens.to(device), lengths.to(device)), list(INPUTS)
    axes = {"tokens": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, OUTPUT: {0: "batch"}}
    if model.config.ngram_buckets:
        inputs += (torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0], [6, 0, 0, 0]], device=device),)
        names.append(NGRAM_INPUT)
        axes[NGRAM_INPUT] = {0: "batch", 1: "ngrams"}
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The legacy exporter warns that it is legacy, and that LSTMs traced at one batch size
            # may fail at another (not so here: the initial states are built from the input's shape).
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper, inputs, buffer, input_names=names, output_names=[OUTPUT], opset_version=OPSET,
                dynamo=False, dynamic_axes=axes,
            )
    finally:
        model.train(was_training)
    graph = onnx.load_from_string(buffer.getvalue())
    entry = graph.metadata_props.add()
    entry.key, entry.value = MODEL_KEY, digest_of_model(model)
    onnx.checker.check_model(graph, full_check=True)
    with atomic_open(path, "wb") as handle:
        handle.write(graph.SerializeToString())
    return path
