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
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

if TYPE_CHECKING:
    from .inference.model import Model


class Classifier:
    """A trained tweet sentiment model, ready to label texts.

    Texts of any length and number are tokenized, cut to the model's ``max_tokens``, scored in
    batches of similar length, and returned in the order given. Build one with :func:`load`.
    """

    def __init__(self, model: "Model", batch_size: int = 256):
        self.model = model  # the one handle (hbilstm.inference.Model): encoder, labels, and what scores
        self.batch_size = batch_size

    @property
    def device(self) -> Any:
        """The torch.device that scores; None when ONNX Runtime scores, on the CPU."""
        return self.model.device if self.model.backend == "torch" else None

    @property
    def backend(self) -> str:
        """What scores: ``torch``, or ``onnx`` (ONNX Runtime on the CPU, without PyTorch)."""
        return self.model.backend

    @property
    def labels(self) -> list[str]:
        """Class names, in the order of :meth:`predict_proba`'s columns."""
        return list(self.model.label_names)

    @property
    def classes_(self) -> np.ndarray:
        """The labels as scikit-learn names them."""
        return np.array(self.labels)

    @property
    def config(self) -> dict[str, Any]:
        """The model's shape, tokenizer settings, token limit, training options and dataset."""
        payload = self.model.payload
        return {
            "model": dict(payload["model_config"]),
            "tokenizer": dict(payload["tokenizer"]),
            "max_tokens": self.model.max_tokens,
            "train": dict(payload.get("train_config") or {}),
            "dataset": payload.get("dataset"),
            "labels": self.labels,
        }

    @property
    def path(self) -> Path:
        """Where the model was loaded from."""
        return self.model.path

    def predict_proba(self, texts: Iterable[str]) -> np.ndarray:
        """Class probabilities, shape ``(len(texts), len(labels))``, float32, rows in input order.

        ``texts`` is a list (or any iterable, a pandas Series too) of strings. An empty or
        whitespace-only text raises ``ValueError`` naming its position: it has nothing to score,
        and dropping it would shift every later row.
        """
        return self.model.predict_probs(_check_texts(texts), self.batch_size)

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

        return export_model(self.model.path, folder, onnx=onnx, overwrite=overwrite)

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


def _check_texts(texts: Iterable[str], name: str = "texts",
                 if_empty: str = "there is nothing to score; remove it (and keep track of where it was) before "
                                 "calling") -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{name} must be a list of strings, not one string: wrap it as [text]")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{i}] is {type(text).__name__}, not a string")
        if not text.strip():
            raise ValueError(f"{name}[{i}] is empty: {if_empty}")
    return texts


def load(source: str | os.PathLike, device: str = "auto", batch_size: int = 256,
         backend: str = "auto", int8: bool = False) -> Classifier:
    """A :class:`Classifier` from a run directory, a ``model.pt``, a model folder written by
    ``hbilstm export`` or, when online, a Hugging Face Hub repo id (``owner/name``) holding one.

    Nothing is unpickled: checkpoints load with ``torch.load(weights_only=True)``, model folders
    from safetensors and JSON. ``device`` is ``auto`` (CUDA when present), ``cpu``, ``cuda``,
    ``cuda:N`` or ``mps``. ``backend`` is chosen as ``hbilstm predict --backend`` chooses it
    (:func:`hbilstm.loading.load`): ``auto`` scores with ONNX Runtime, without importing
    PyTorch, when the model has a current ONNX graph, onnxruntime is installed and no GPU asks for
    PyTorch; ``torch`` always loads it with PyTorch; ``onnx`` needs such a graph (or a
    ``model.onnx`` beside the checkpoint). ``int8`` scores with the weights quantized to int8, on
    the CPU, as ``hbilstm predict --int8``: ONNX Runtime quantizes the graph as it loads it, PyTorch
    the LSTM and linear layers (:func:`hbilstm.inference.quantize_int8`); about 99.7 % of labels
    stay the same and it scores about 1.4 times as fast (docs/guide/prediction.md). Errors are
    :class:`hbilstm.errors.HbilstmError` with one-line messages.
    """
    from .loading import load as load_model

    model = load_model(source, backend, device, int8=int8)
    if int8 and model.backend == "torch":
        from .inference import quantize_int8

        model.model = quantize_int8(model.model)
    return Classifier(model, batch_size)
