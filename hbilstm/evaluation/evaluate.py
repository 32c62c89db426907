"""Score a trained model on a labelled split of a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..checkpoint import load_model
from ..data.corpora import load_corpus
from ..data.pipeline import Encoder
from ..data.token_cache import default_cache_dir
from ..inference import predict_probs, resolve_device
from .metrics import classification_metrics


def evaluate(
    checkpoint: str | Path,
    data: str | None = None,
    split: str = "test",
    data_dir: str | None = None,
    batch_size: int = 256,
    device: str = "auto",
    text_column: str | None = None,
    label_column: str | None = None,
) -> dict[str, Any]:
    """Metrics of the model in ``checkpoint`` (a file or run directory) on ``split`` of ``data``.

    ``data`` defaults to the dataset the model was trained on; labels are matched to the
    model's by name. Returns the metrics of :func:`~hbilstm.metrics.classification_metrics`
    plus ``checkpoint``, ``dataset``, ``split`` and ``official_metric``.
    """
    torch_device = resolve_device(device)
    loaded = load_model(checkpoint, torch_device)
    trained = loaded.payload.get("train_config", {})
    data = data or trained.get("data") or "tweeteval-sentiment"
    corpus = load_corpus(
        data,
        data_dir if data_dir is not None else trained.get("data_dir"),
        text_column or trained.get("text_column", "text"),
        label_column or trained.get("label_column", "label"),
    )
    examples = corpus.split(split)
    encoder = Encoder(loaded.tokenizer, default_cache_dir(), loaded.max_tokens)
    encoded = encoder.encode(examples, loaded.vocab, loaded.label_names, f"{corpus.name} {split}")
    probs = predict_probs(loaded.model, encoded.ids, batch_size, torch_device)
    metrics = classification_metrics(encoded.labels, probs.argmax(-1).tolist(), loaded.label_names)
    official = loaded.payload.get("metric") if data == trained.get("data") else corpus.metric
    return {
        "checkpoint": str(loaded.path),
        "dataset": corpus.name,
        "split": split if split in corpus.splits else "all",
        "official_metric": official or corpus.metric,
        **metrics,
    }
