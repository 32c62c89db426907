"""``hbilstm evaluate``: score a trained model on a labelled split and show the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .checkpoint import load_model
from .corpora import load_corpus
from .encoding import default_cache_dir
from .inference import predict_probs, resolve_device
from .metrics import METRIC_NAMES, classification_metrics
from .pipeline import Encoder


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


def print_report(report: dict[str, Any], console: Console) -> None:
    """Rich tables: the summary scores, per-class scores and the confusion matrix."""
    official = report["official_metric"]
    console.print(f"{report['dataset']} / {report['split']}: {report['n']:,} examples ({report['checkpoint']})")
    summary = Table()
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for key, name in METRIC_NAMES.items():
        mark = " (official)" if key == official else ""
        summary.add_row(f"{name}{mark}", f"{100 * report[key]:.2f}")
    console.print(summary)

    console.print("per class")
    per_class = Table()
    for column in ("class", "precision", "recall", "F1", "support"):
        per_class.add_column(column, justify="left" if column == "class" else "right")
    for name, scores in report["per_class"].items():
        per_class.add_row(
            name, f"{100 * scores['precision']:.2f}", f"{100 * scores['recall']:.2f}",
            f"{100 * scores['f1']:.2f}", f"{scores['support']:,}",
        )
    console.print(per_class)

    console.print("confusion matrix (rows: true, columns: predicted)")
    confusion = Table()
    confusion.add_column("")
    for name in report["labels"]:
        confusion.add_column(name, justify="right")
    for name, row in zip(report["labels"], report["confusion"]):
        confusion.add_row(name, *(f"{v:,}" for v in row))
    console.print(confusion)
