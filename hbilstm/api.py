"""The Python API: ``hbilstm.load(...)`` gives a :class:`Classifier` with scikit-learn's
``predict`` / ``predict_proba`` and Hugging Face's ``save_pretrained`` / ``from_pretrained`` /
``push_to_hub``.

>>> import hbilstm
>>> clf = hbilstm.load("runs/first")                     # doctest: +SKIP
>>> clf.predict(["what a great game!", "I hate mondays"])  # doctest: +SKIP
['positive', 'negative']

A model with a current ONNX graph (a folder from ``hbilstm export``, or a run directory whose
``export`` folder ``hbilstm train`` wrote) is scored with ONNX Runtime on the CPU, and then
PyTorch is never imported; ``backend="torch"`` loads it with PyTorch instead.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Union

import numpy as np

from .data.pipeline import encode_texts
from .data.tokenizer import TweetTokenizer
from .errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    from .checkpoint import LoadedModel
    from .export.onnx_runtime import OnnxModel

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class Classifier:
    """A trained tweet sentiment model, ready to label texts.

    Texts of any length and number are tokenized, cut to the model's ``max_tokens``, scored in
    batches of similar length, and returned in the order given. Build one with :func:`load`.
    """

    def __init__(self, loaded: Union["LoadedModel", "OnnxModel"], device: Any, batch_size: int = 256):
        self._loaded = loaded
        self.device = device  # a torch.device; None when ONNX Runtime scores, on the CPU
        self.batch_size = batch_size
        self._tokenizer = TweetTokenizer(loaded.tokenizer)

    @property
    def backend(self) -> str:
        """What scores: ``torch``, or ``onnx`` (ONNX Runtime on the CPU, without PyTorch)."""
        return "torch" if self.device is not None else "onnx"

    @property
    def labels(self) -> list[str]:
        """Class names, in the order of :meth:`predict_proba`'s columns."""
        return list(self._loaded.label_names)

    @property
    def classes_(self) -> np.ndarray:
        """The labels as scikit-learn names them."""
        return np.array(self.labels)

    @property
    def config(self) -> dict[str, Any]:
        """The model's shape, tokenizer settings, token limit, training options and dataset."""
        payload = self._loaded.payload
        return {
            "model": dict(payload["model_config"]),
            "tokenizer": dict(payload["tokenizer"]),
            "max_tokens": self._loaded.max_tokens,
            "train": dict(payload.get("train_config") or {}),
            "dataset": payload.get("dataset"),
            "labels": self.labels,
        }

    @property
    def path(self) -> Path:
        """Where the model was loaded from."""
        return self._loaded.path

    def predict_proba(self, texts: Iterable[str]) -> np.ndarray:
        """Class probabilities, shape ``(len(texts), len(labels))``, float32, rows in input order.

        ``texts`` is a list (or any iterable, a pandas Series too) of strings. An empty or
        whitespace-only text raises ``ValueError`` naming its position: it has nothing to score,
        and dropping it would shift every later row.
        """
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        loaded = self._loaded
        encoded = encode_texts(self._tokenizer, loaded.vocab, loaded.max_tokens, texts, loaded.ngram_buckets)
        if self.device is None:
            return loaded.scorer.predict_probs(encoded.ids, self.batch_size, encoded.ngrams)
        from .inference import predict_probs

        return predict_probs(loaded.model, encoded.ids, self.batch_size, self.device, ngrams=encoded.ngrams).numpy()

    def predict(self, texts: Iterable[str], min_confidence: float | None = None) -> list[str]:
        """The most probable label of each text, in input order (see :meth:`predict_proba`); with
        ``min_confidence``, ``"uncertain"`` for a text whose top probability is below it
        (:mod:`hbilstm.confidence`)."""
        from .confidence import check_min_confidence, label_of

        check_min_confidence(min_confidence, self.labels, "min_confidence")
        labels = self.labels
        return [label_of(row, labels, min_confidence) for row in self.predict_proba(texts).tolist()]

    def save_pretrained(self, folder: str | os.PathLike, *, onnx: bool = True, overwrite: bool = False) -> Path:
        """Write the model as a portable model folder (``hbilstm export``): config.json,
        model.safetensors, vocab.json, integrity.json, README.md and model.onnx."""
        from .export.exporter import export_model

        return export_model(self._loaded.path, folder, onnx=onnx, overwrite=overwrite)

    @classmethod
    def from_pretrained(cls, source: str | os.PathLike, device: str = "auto", batch_size: int = 256,
                        backend: str = "auto") -> "Classifier":
        """The same as :func:`load`."""
        return load(source, device, batch_size, backend)

    def push_to_hub(self, repo_id: str, *, token: str | None = None, private: bool | None = None,
                    commit_message: str = "Upload hbilstm model", onnx: bool = True) -> str:
        """Upload the model folder to the Hugging Face Hub as ``repo_id`` (created if missing);
        returns the commit URL. Needs network access and a token (``huggingface-cli login``)."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            folder = self.save_pretrained(Path(tmp) / "model", onnx=onnx)
            info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message=commit_message)
        return str(getattr(info, "commit_url", info))

    def __repr__(self) -> str:
        shape = self.config["model"]
        where = f"device={self.device}" if self.device is not None else "backend=onnx"
        return (f"Classifier({shape.get('layers')}x {shape.get('carry')} BiLSTM, labels={self.labels}, "
                f"{where}, path={str(self.path)!r})")


def _check_texts(texts: Iterable[str]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a list of strings, not one string: wrap it as [text]")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, not a string")
        if not text.strip():
            raise ValueError(f"texts[{i}] is empty: there is nothing to score; remove it (and keep track of "
                             "where it was) before calling")
    return texts


def load(source: str | os.PathLike, device: str = "auto", batch_size: int = 256,
         backend: str = "auto") -> Classifier:
    """A :class:`Classifier` from a run directory, a ``model.pt``, a model folder written by
    ``hbilstm export`` or, when online, a Hugging Face Hub repo id (``owner/name``) holding one.

    Nothing is unpickled: checkpoints load with ``torch.load(weights_only=True)``, model folders
    from safetensors and JSON. ``device`` is ``auto`` (CUDA when present), ``cpu``, ``cuda``,
    ``cuda:N`` or ``mps``. ``backend`` is chosen as ``hbilstm predict --backend`` chooses it
    (:func:`hbilstm.export.backend.choose_backend`): ``auto`` scores with ONNX Runtime, without
    importing PyTorch, when the model has a current ONNX graph, onnxruntime is installed and no GPU
    asks for PyTorch; ``torch`` always loads it with PyTorch; ``onnx`` needs such a graph. Errors
    are :class:`hbilstm.errors.HbilstmError` with one-line messages.
    """
    from .export.backend import BACKENDS, choose_backend

    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    where = Path(source).expanduser()
    if not where.exists() and isinstance(source, str) and _HUB_ID.match(source):
        where = _download(source)
    chosen, folder = choose_backend(where, backend, device, int8=False)
    if chosen == "onnx":
        if device not in ("auto", "cpu"):
            raise ConfigError(f"backend onnx scores on the CPU; leave out device {device!r} (or give cpu)")
        if folder is None:
            raise CheckpointError(f"{source}: no current model.onnx to score with ONNX Runtime: export it with "
                                  f"`hbilstm export {source} OUT_DIR` and load OUT_DIR (or use backend='torch')")
        from .export.onnx_runtime import load_onnx_folder

        return Classifier(load_onnx_folder(folder), None, batch_size)
    from .checkpoint import load_model
    from .inference import resolve_device

    torch_device = resolve_device(device)
    return Classifier(load_model(where, torch_device), torch_device, batch_size)


def _download(repo_id: str) -> Path:
    """A Hub model repo's files, from the local Hugging Face cache or downloaded into it."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id))
    except ImportError:
        raise CheckpointError(f"{repo_id}: loading from the Hub needs huggingface_hub: "
                              'pip install "hbilstm[hub]"') from None
    except Exception as exc:  # offline, no such repo, no access: one answer with the reason
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{repo_id}: no such local path, and not downloadable from the Hugging Face Hub "
                              f"({reason})") from None
