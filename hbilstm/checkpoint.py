"""Checkpoints: one file holding weights, config, vocabulary, label names and a format version.

A checkpoint holds only tensors and plain Python values (dicts, lists, strings, numbers), so it
loads with ``torch.load(weights_only=True)``: loading never unpickles, and so never runs, code.
Files are written to a temporary name and renamed into place.

Two kinds share the format: ``model`` (what evaluate and predict need; ``model.pt`` in a run
directory holds the best epoch's) and ``resume`` (``last.pt``: the same plus optimizer state,
position in training and RNG states, for ``hbilstm train --resume``).
"""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from .data.pipeline import TextEncoder
from .data.tokenizer import TokenizerConfig
from .data.vocab import Vocabulary
from .errors import CheckpointError
from .fileio import FileRefused, atomic_open, check_regular
from .inference.model import Model
from .model import HighwayBiLSTMClassifier, ModelConfig
from .schema import check_model_values

FORMAT = "hbilstm-checkpoint"
FORMAT_VERSION = 1
MODEL_FILE = "model.pt"
RESUME_FILE = "last.pt"
_REQUIRED = (
    "format",
    "format_version",
    "kind",
    "model_config",
    "state_dict",
    "vocab",
    "labels",
    "tokenizer",
    "max_tokens",
)
MAX_BYTES = 16 << 30  # the largest checkpoint read (the default model's is about 10 MB)


def vocab_payload(vocab: Vocabulary) -> dict[str, Any]:
    """How a checkpoint holds ``vocab``: ``vocab`` (the token list) and, for a vocabulary with a
    word fallback (:mod:`hbilstm.data.fallback`), ``vocab_fallback`` (its keys and ids as tensors)."""
    found: dict[str, Any] = {"vocab": list(vocab.tokens)}
    if vocab.fallback is not None:
        keys, ids = vocab.fallback.saved()
        found["vocab_fallback"] = {"keys": torch.from_numpy(keys), "ids": torch.from_numpy(ids)}
    return found


def vocabulary_from_payload(payload: dict[str, Any], where: str | os.PathLike = "checkpoint") -> Vocabulary:
    """The vocabulary a checkpoint payload holds (see :func:`vocab_payload`); CheckpointError if damaged."""
    try:
        fallback = None
        if payload.get("vocab_fallback") is not None:
            from .data.fallback import WordFallback

            table = payload["vocab_fallback"]
            fallback = WordFallback.from_saved(table["keys"].cpu().numpy(), table["ids"].cpu().numpy())
        return Vocabulary(payload["vocab"], fallback)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CheckpointError(f"{where}: damaged vocabulary ({exc})") from None


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` (with the format fields added) atomically to ``path``."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    try:
        with atomic_open(path, "wb") as handle:
            torch.save(payload, handle)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot write ({exc.strerror or exc}); the previous file is kept") from None


EXPECTED = "expected a run directory, a model.pt checkpoint or an exported model folder"


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file, or the ``model.pt`` inside a run directory."""
    path = Path(path)
    if path.is_dir():
        if (path / MODEL_FILE).is_file():
            return path / MODEL_FILE
        if (path / "config.yaml").is_file():
            raise CheckpointError(f"{path}: run directory has no {MODEL_FILE} (did training finish an epoch?)")
        raise CheckpointError(f"{path}: not a model: a directory with no {MODEL_FILE}; {EXPECTED}")
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint or run directory")
    return path


def _looks_like_torch_file(path: Path) -> bool:
    """torch.save writes a zip archive (or, in old formats, a pickle stream)."""
    with open(path, "rb") as f:
        head = f.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def load_checkpoint(path: str | os.PathLike, kind: str | None = None) -> dict[str, Any]:
    """Read and validate a checkpoint on the CPU; CheckpointError if it is not a sound one."""
    path = resolve_checkpoint(path)
    try:
        size = check_regular(path, MAX_BYTES)
    except FileRefused as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    if size == 0:
        raise CheckpointError(f"{path}: empty file, not a checkpoint")
    try:
        torch_file = _looks_like_torch_file(path)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not torch_file:
        raise CheckpointError(f"{path}: not a model ({EXPECTED})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on odd pickle protocols: we refuse anyway
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses anything but tensors and plain values: a file that needs more
        # (such as one carrying code) is refused here, before anything in it runs.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe content"
        if "Weights only load failed" in reason or "Unsupported" in str(exc):
            reason = "it holds objects other than tensors and plain values; refused without running them"
        raise CheckpointError(f"{path}: not a safe hbilstm checkpoint ({reason})") from None
    except Exception as exc:  # torch's readers raise many kinds on a damaged file; all mean the same here
        first = str(exc).strip().splitlines()[0][:100] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: damaged or not a checkpoint ({first})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an hbilstm checkpoint")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r}, this hbilstm reads version {FORMAT_VERSION}"
        )
    missing = [key for key in _REQUIRED if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: damaged checkpoint (no {missing[0]!r})")
    check_model_values(payload, str(path), payload["vocab"])
    if not isinstance(payload["state_dict"], dict) or not all(isinstance(v, torch.Tensor)
                                                               for v in payload["state_dict"].values()):
        raise CheckpointError(f"{path}: damaged checkpoint (its weights are not a mapping of tensors)")
    if kind is not None and payload["kind"] != kind:
        raise CheckpointError(f"{path}: a {payload['kind']} checkpoint, expected a {kind} one")
    return payload


def build_model(payload: dict[str, Any], path: Path | str = "checkpoint") -> HighwayBiLSTMClassifier:
    """The model a payload describes, with its weights. The shape is first built on the ``meta``
    device (no memory) and compared with the weights, so that a config describing a far larger
    model than its weights is refused before anything is allocated."""
    try:
        skeleton = _make_model(payload, torch.device("meta"))
        given = {name: tuple(tensor.shape) for name, tensor in payload["state_dict"].items()}
        for name, tensor in skeleton.state_dict().items():
            if given.get(name) != tuple(tensor.shape):
                found = "missing" if name not in given else f"of shape {list(given[name])}"
                raise ValueError(f"{name} {found}, expected {list(tensor.shape)}")
        unexpected = sorted(set(given) - set(skeleton.state_dict()))
        if unexpected:
            raise ValueError(f"unexpected weights {unexpected[0]}")
        model = _make_model(payload, torch.device("cpu"))
        model.load_state_dict(payload["state_dict"])
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0][:120]
        raise CheckpointError(f"{path}: weights do not fit the model it describes ({first})") from None
    return model


def _make_model(payload: dict[str, Any], device: torch.device) -> HighwayBiLSTMClassifier:
    with device:
        if payload.get("member_configs"):  # an ensemble (see hbilstm.export.ensemble)
            from .model.ensemble import EnsembleClassifier

            return EnsembleClassifier([ModelConfig.from_dict(c) for c in payload["member_configs"]])
        return HighwayBiLSTMClassifier(ModelConfig.from_dict(payload["model_config"]))


def load_model(path: str | os.PathLike, device: torch.device | str = "cpu") -> Model:
    """A model for evaluation or prediction on PyTorch, as the one handle
    (:class:`~hbilstm.inference.model.Model`): a ``model.pt`` checkpoint, a run directory's best
    one, or a model folder written by ``hbilstm export`` (see :mod:`hbilstm.export.folder`).
    :func:`hbilstm.loading.load` chooses between this and ONNX Runtime."""
    from .export.folder import is_model_folder, read_model_folder

    if is_model_folder(path) and not (Path(path) / MODEL_FILE).is_file():
        file = Path(path)
        payload = read_model_folder(file)
    else:
        file = resolve_checkpoint(path)
        payload = load_checkpoint(file)
    model = build_model(payload, file).to(device).eval()
    vocab = vocabulary_from_payload(payload, file)  # labels and vocabulary: checked with the payload
    encoder = TextEncoder(TokenizerConfig.from_dict(payload["tokenizer"]), vocab, payload["max_tokens"],
                          model.config.ngram_buckets, model.config.ngram_words)
    return Model(list(payload["labels"]), encoder, file, payload, "torch", torch.device(device), model=model)
