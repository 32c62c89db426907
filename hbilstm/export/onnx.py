"""The classifier as an ONNX graph, and scoring with ONNX Runtime.

``export_onnx(model, path)`` writes ``model.onnx``: inputs ``tokens`` (int64, ``[batch, time]``,
padded with 0 after each row's real tokens), ``lengths`` (int64, ``[batch]``, each at least
1) and, for a model with an n-gram head (``ngram_buckets``), ``ngrams`` (int64, ``[batch, n]``, each row's hashed
character n-gram ids padded with 0; see :mod:`hbilstm.data.ngrams`), output ``probs`` (float32, ``[batch, classes]``, softmax applied); batch and time are dynamic.
The graph is traced from :class:`~hbilstm.model.unpacked.UnpackedClassifier` (no packed sequences:
the exporters cannot follow those) with the TorchScript-based exporter (``dynamo=False``), which
turns each LSTM into one ONNX ``LSTM`` node; the torch.export-based one unrolls the LSTM over the
time steps of the example and so fixes the time axis.

``OnnxScorer`` runs such a graph on the CPU, in length-sorted batches like
:func:`~hbilstm.inference.predict_probs`. onnx and onnxruntime are imported only when used; they
come with ``pip install "hbilstm[onnx]"``.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..data.batching import bucket_order, iter_batches
from ..errors import CheckpointError, ConfigError
from ..fileio import atomic_open
from ..model.classifier import HighwayBiLSTMClassifier
from ..model.unpacked import UnpackedClassifier
from .folder import ONNX_FILE

OPSET = 17  # LSTM (7), GatherElements (11); ONNX Runtime 1.18 and later run 17 fully
INPUTS = ("tokens", "lengths")
NGRAM_INPUT = "ngrams"  # a third input, in graphs of models with an n-gram head
OUTPUT = "probs"
# Metadata written into the graph: a digest of the weights it was traced from, so that a
# model.onnx left beside other weights is caught before it scores anything.
WEIGHTS_KEY = "hbilstm_weights_sha256"


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f'{module} is not installed; ONNX export and scoring need: pip install "hbilstm[onnx]"') from None


def weights_digest(model: nn.Module) -> str:
    """SHA-256 over the model's parameters and buffers (names, dtypes, shapes and bytes)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class _Probabilities(nn.Module):
    """What the graph computes: softmax over the unpacked classifier's logits."""

    def __init__(self, model: HighwayBiLSTMClassifier):
        super().__init__()
        self.net = UnpackedClassifier(model)

    def forward(self, tokens: Tensor, lengths: Tensor, ngrams: Tensor | None = None) -> Tensor:
        return torch.softmax(self.net(tokens, lengths, ngrams), dim=-1)


def export_onnx(model: HighwayBiLSTMClassifier, path: str | os.PathLike) -> Path:
    """Write ``model`` (in eval mode; its own mode is restored) as an ONNX graph at ``path``,
    through a temporary file renamed into place, after ``onnx.checker`` has passed it."""
    onnx = _require("onnx")
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
    entry.key, entry.value = WEIGHTS_KEY, weights_digest(model)
    onnx.checker.check_model(graph, full_check=True)
    with atomic_open(path, "wb") as handle:
        handle.write(graph.SerializeToString())
    return path


def find_onnx_model(model: str | os.PathLike) -> Path:
    """The ``model.onnx`` of MODEL: inside it when it is a folder (a run directory or an exported
    model folder), beside it when it is a checkpoint file. CheckpointError when there is none."""
    path = Path(model)
    graph = path / ONNX_FILE if path.is_dir() else path.parent / ONNX_FILE
    if not graph.is_file():
        raise CheckpointError(
            f"{model}: no {ONNX_FILE} {'in it' if path.is_dir() else 'beside it'}; "
            f"run `hbilstm export {model} OUT_DIR` first, then predict with OUT_DIR"
        )
    return graph


class OnnxScorer:
    """An exported graph loaded into ONNX Runtime (CPU); ``threads`` sets its intra-op threads
    (None: ONNX Runtime's default, one per physical core)."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        ort = _require("onnxruntime")
        self.path = Path(path)
        self.threads = threads
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own kinds for a missing or damaged file
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"{self.path}: cannot load the ONNX graph ({first})") from None
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if sorted(set(inputs) - {NGRAM_INPUT}) != sorted(INPUTS) or OUTPUT not in outputs:
            raise CheckpointError(f"{self.path}: not an hbilstm graph (inputs {inputs}, outputs {outputs})")
        self.reads_ngrams = NGRAM_INPUT in inputs
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def check_weights(self, model: nn.Module, name: str | os.PathLike = "the model") -> None:
        """CheckpointError when the graph records weights other than ``model``'s (a graph without
        the record, exported elsewhere, passes)."""
        recorded = self.metadata.get(WEIGHTS_KEY)
        if recorded is not None and recorded != weights_digest(model):
            raise CheckpointError(
                f"{self.path}: exported from other weights than {name}; export it again with `hbilstm export`"
            )

    def predict_probs(self, sequences: Sequence[Sequence[int]], batch_size: int = 256,
                      ngrams: Sequence[Sequence[int]] | None = None) -> np.ndarray:
        """Class probabilities ``(n, classes)`` (float32), rows in the order of ``sequences``; batches
        are formed from sequences of similar length, as :func:`~hbilstm.inference.predict_probs` forms them.
        ``ngrams``: the rows' n-gram ids, which a graph with an ``ngrams`` input needs."""
        if self.reads_ngrams and ngrams is None:
            raise ValueError(f"{self.path}: this graph reads character n-grams; pass ngrams")
        out: np.ndarray | None = None
        order = bucket_order([len(s) for s in sequences], batch_size)
        for batch in iter_batches(sequences, None, order, ngrams=ngrams if self.reads_ngrams else None):
            feed = {"tokens": batch.tokens.numpy(), "lengths": batch.lengths.numpy()}
            if self.reads_ngrams:
                feed[NGRAM_INPUT] = batch.ngrams.numpy()
            probs = self.session.run([OUTPUT], feed)[0]
            if out is None:
                out = np.empty((len(sequences), probs.shape[1]), dtype=np.float32)
            out[batch.index] = probs
        if out is None:
            classes = self.session.get_outputs()[0].shape[1]
            return np.empty((0, classes if isinstance(classes, int) else 0), dtype=np.float32)
        return out
