"""Scoring an exported graph with ONNX Runtime, without torch.

``OnnxScorer`` runs a ``model.onnx`` (see :mod:`hbilstm.export.onnx` for its inputs and output) on
the CPU, in batches sorted by length like :func:`~hbilstm.inference.predict_probs`.
``load_onnx_folder`` reads an exported model folder (:mod:`hbilstm.export.folder`) into a
:class:`~hbilstm.inference.model.Model` scored by its graph: everything ``hbilstm predict``
needs. Nothing here imports torch (or spaCy), so such a
command starts in a fraction of a second; onnxruntime is one of hbilstm's dependencies.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..data.padding import longest_first, pad_ids
from ..data.pipeline import TextEncoder
from ..data.tokenizer import TokenizerConfig
from ..data.vocab import Vocabulary
from ..errors import CheckpointError, ConfigError
from ..inference.model import Model
from ..model.config import ModelConfig
from .folder import EXPORT_DIR, FALLBACK_FILE, ONNX_FILE, load_tensors, read_folder_files
from .integrity import GRAPH_KEY

INPUTS = ("tokens", "lengths")
NGRAM_INPUT = "ngrams"  # a third input, in graphs of models with an n-gram head
OUTPUT = "probs"
# Metadata written into the graph: a digest of the model it was traced from, its weights and its
# shape (temperatures included, which the graph bakes in), so that a model.onnx left beside
# another model, or the same weights calibrated again, is caught before it scores anything.
MODEL_KEY = "hbilstm_model_sha256"


def require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f'{module} is not installed; ONNX export and scoring need: pip install '
                          '"hbilstm[onnx]"') from None


def digest_of(entries: Iterable[tuple[str, str, tuple[int, ...], bytes]]) -> str:
    """SHA-256 over ``(name, dtype, shape, bytes)`` of each weight, in name order; dtypes are
    written as torch names them (``torch.float32``), whatever read the weights."""
    digest = hashlib.sha256()
    for name, dtype, shape, data in sorted(entries):
        digest.update(f"{name}|{dtype}|{tuple(shape)}|".encode())
        digest.update(data)
    return digest.hexdigest()


def model_digest(weights: str, model_config: Mapping) -> str:
    """SHA-256 of a model: its weights' digest (:func:`digest_of`) and its shape, as
    :class:`~hbilstm.model.config.ModelConfig` normalises it (so the same shape always gives the
    same text)."""
    shape = json.dumps(ModelConfig.from_dict(dict(model_config)).to_dict(), sort_keys=True)
    return hashlib.sha256(f"{weights}|{shape}".encode()).hexdigest()


def find_onnx_model(model: str | os.PathLike) -> Path:
    """The ``model.onnx`` of MODEL: inside it when it is a folder (a run directory or an exported
    model folder), beside it when it is a checkpoint file, else in the run directory's ``export``
    folder (hbilstm.export.run_export). CheckpointError when there is none."""
    path = Path(model)
    graph = path / ONNX_FILE if path.is_dir() else path.parent / ONNX_FILE
    if not graph.is_file() and (graph.parent / EXPORT_DIR / ONNX_FILE).is_file():
        graph = graph.parent / EXPORT_DIR / ONNX_FILE  # an older one is refused by the model digest it records
    if not graph.is_file():
        raise CheckpointError(
            f"{model}: no {ONNX_FILE} {'in it' if path.is_dir() else 'beside it'}; "
            f"run `hbilstm export {model} OUT_DIR` first, then predict with OUT_DIR"
        )
    return graph


class OnnxScorer:
    """An exported graph loaded into ONNX Runtime (CPU); ``threads`` sets its intra-op threads
    (None: ONNX Runtime's default, one per physical core). ``int8``: score the graph with its
    weights quantized to int8 (:func:`quantized_graph`)."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, int8: bool = False):
        ort = require("onnxruntime")
        self.path = Path(path)
        self.threads, self.int8 = threads, int8
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            graph = quantized_graph(self.path) if int8 else str(self.path)
            self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime (and its quantizer) raise their own kinds for a missing or damaged file
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"{self.path}: cannot load the ONNX graph ({first})") from None
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if sorted(set(inputs) - {NGRAM_INPUT}) != sorted(INPUTS) or OUTPUT not in outputs:
            raise CheckpointError(f"{self.path}: not an hbilstm graph (inputs {inputs}, outputs {outputs})")
        self.reads_ngrams = NGRAM_INPUT in inputs
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def check_model(self, digest: str, name: str | os.PathLike = "the model") -> None:
        """CheckpointError unless the graph records that it was traced from the model whose
        :func:`model_digest` is ``digest``: a graph from other weights or another shape (other
        temperatures), or one with no record (exported by an older hbilstm, or not by hbilstm),
        is refused."""
        recorded = self.metadata.get(MODEL_KEY)
        if recorded is None:
            raise CheckpointError(f"{self.path}: the graph does not record which model it was exported from (an "
                                  f"older export, or not hbilstm's); export it again with `hbilstm export`")
        if recorded != digest:
            raise CheckpointError(f"{self.path}: exported from another model than {name} (other weights or "
                                  "temperatures); export it again with `hbilstm export`")

    def predict_probs(self, sequences: Sequence[Sequence[int]], batch_size: int = 256,
                      ngrams: Sequence[Sequence[int]] | None = None) -> np.ndarray:
        """Class probabilities ``(n, classes)`` (float32), rows in the order of ``sequences``; batches
        are formed from sequences of similar length, as :func:`~hbilstm.inference.predict_probs` forms them.
        ``ngrams``: the rows' n-gram ids, which a graph with an ``ngrams`` input needs."""
        if self.reads_ngrams and ngrams is None:
            raise ValueError(f"{self.path}: this graph reads character n-grams; pass ngrams")
        out: np.ndarray | None = None
        for positions in longest_first([len(s) for s in sequences], batch_size):
            rows = [sequences[i] for i in positions]
            lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
            feed = {"tokens": pad_ids(rows, lengths), "lengths": lengths}
            if self.reads_ngrams:
                feed[NGRAM_INPUT] = pad_ids([ngrams[i] for i in positions])
            try:
                probs = self.session.run([OUTPUT], feed)[0]
            except Exception as exc:  # onnxruntime's own kinds: a graph that does not fit its folder's config
                first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
                raise CheckpointError(f"{self.path}: the graph cannot score these inputs ({first})") from None
            if out is None:
                out = np.empty((len(sequences), probs.shape[1]), dtype=np.float32)
            out[positions] = probs
        if out is None:
            classes = self.session.get_outputs()[0].shape[1]
            return np.empty((0, classes if isinstance(classes, int) else 0), dtype=np.float32)
        return out


def quantized_graph(path: Path) -> bytes:
    """The graph at ``path`` with its weights quantized to int8 by ONNX Runtime's dynamic
    quantization (``quantize_dynamic``: int8 weights in the LSTM, matrix-product and embedding
    nodes; each batch's activations quantized on the fly, so a row's numbers depend a little on
    the rows it is batched with), as bytes for a session. It keeps the graph's metadata (the model
    it records). Quantizing the default model takes about 0.1 s; the graph shrinks four times."""
    quantization = require("onnxruntime.quantization")
    with _QUANTIZER_HINTS:
        with tempfile.TemporaryDirectory(prefix="hbilstm-int8-") as tmp:
            out = Path(tmp) / "int8.onnx"
            quantization.quantize_dynamic(path, out, weight_type=quantization.QuantType.QInt8)
            return out.read_bytes()


class _QuantizerHints:
    """A filter on the root logger that drops the records below ERROR that ONNX Runtime's quantizer
    logs there (a hint about pre-processing, at WARNING, every time), and nothing else, so that
    other threads' warnings pass while a graph is quantized. Installed while at least one
    quantization runs (counted under a lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0

    @staticmethod
    def filter(record: logging.LogRecord) -> bool:
        where = record.pathname.replace("\\", "/")
        return record.levelno >= logging.ERROR or "/onnxruntime/quantization/" not in where

    def __enter__(self) -> None:
        with self.lock:
            if self.users == 0:
                logging.getLogger().addFilter(self.filter)
            self.users += 1

    def __exit__(self, *exc) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0:
                logging.getLogger().removeFilter(self.filter)


_QUANTIZER_HINTS = _QuantizerHints()


def _safetensors_numpy():
    try:
        import safetensors.numpy
    except ImportError:
        raise ConfigError("model folders need the safetensors package, one of hbilstm's dependencies: "
                          "pip install safetensors") from None
    return safetensors.numpy


def load_onnx_folder(path: str | os.PathLike, threads: int | None = None, verify: bool = True,
                     int8: bool = False) -> Model:
    """An exported model folder with its ``model.onnx``, as the one handle scored by ONNX Runtime
    (:class:`~hbilstm.inference.model.Model`; CheckpointError when it has no graph). With
    ``verify``, every file is first checked against the folder's integrity record, and the graph
    must record the model the record names; a process that loads a folder already checked passes
    False. ``int8``: the graph quantized (:func:`quantized_graph`)."""
    path = Path(path)
    graph = find_onnx_model(path)
    config, tokens, record = read_folder_files(path, verify=verify)
    fallback = None
    if (path / FALLBACK_FILE).is_file():
        from ..data.fallback import WordFallback

        table = load_tensors(path / FALLBACK_FILE, _safetensors_numpy().load_file)
        try:
            fallback = WordFallback.from_saved(table["keys"], table["ids"])
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(f"{path / FALLBACK_FILE}: damaged ({exc})") from None
    shapes = config.get("member_configs") or [config["model_config"]]
    buckets = max(shape.get("ngram_buckets", 0) for shape in shapes)
    words = max(shape.get("ngram_words", 0) for shape in shapes)
    scorer = OnnxScorer(graph, threads, int8)
    if record is not None:
        scorer.check_model(record.get(GRAPH_KEY) or "", path)
    if scorer.reads_ngrams != bool(buckets):
        raise CheckpointError(f"{path}: config.json says the model reads {buckets} n-gram buckets, but its graph "
                              f"{'reads' if scorer.reads_ngrams else 'takes no'} n-grams")
    encoder = TextEncoder(TokenizerConfig.from_dict(config["tokenizer"]), Vocabulary(tokens, fallback),
                          config["max_tokens"], buckets, words)
    return Model(list(config["labels"]), encoder, path, config, "onnx", graph=scorer, source=path)
