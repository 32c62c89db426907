"""Score a trained model on a labelled split of a dataset.

Training rows are never scored as test: on the data a model was trained on, the splits are cut
exactly as training cut them (a split it held out for validation is rebuilt from the run's seed),
and a dataset without a test split of its own has none to score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checkpoint import load_model
from ..config import TrainConfig
from ..data.corpora import Corpus, load_corpus
from ..data.pipeline import EncodedSplit, Encoder, training_splits
from ..data.readers import Examples
from ..errors import DataError
from ..fileio import default_cache_dir, sha256_file
from ..inference import cpu_settings, predict_part_logits, predict_probs, resolve_device
from ..inference.model import Model
from .metrics import CALIBRATION_BINS, calibration, classification_metrics

SPLITS = ("train", "val", "test")


@dataclass
class ScoringData:
    """A loaded model and the encoded examples of the split it is to be scored on."""

    loaded: Model
    device: Any
    corpus: Corpus
    split: str
    note: str
    encoded: EncodedSplit
    official: str
    training: dict | None = None  # the run's training options when the data is what it was trained on


def encode_split(scoring: ScoringData, split: str) -> EncodedSplit:
    """Another split of the same data, encoded for the same model, cut as :func:`choose_split`
    cuts it (``hbilstm analyze`` chooses on val what it reports on test). DataError when the
    data has no such split."""
    examples, name, _ = choose_split(scoring.corpus, split, scoring.training)
    loaded = scoring.loaded
    encoder = Encoder(loaded.tokenizer, default_cache_dir(), loaded.max_tokens, loaded.ngram_buckets,
                      loaded.ngram_words)
    return encoder.encode(examples, loaded.vocab, loaded.label_names, f"{scoring.corpus.name} {name}")


def scoring_data(
    checkpoint: str | Path,
    data: str | None = None,
    split: str | None = None,
    data_dir: str | None = None,
    device: str = "auto",
    text_column: str | None = None,
    label_column: str | None = None,
) -> ScoringData:
    """Load the model in ``checkpoint`` and encode ``split`` of ``data`` for it, as
    :func:`evaluate` does (``hbilstm analyze`` starts from the same)."""
    if split is not None and split not in SPLITS:
        raise DataError(f"--split must be one of {', '.join(SPLITS)}, not {split!r}")
    torch_device = resolve_device(device)
    loaded = load_model(checkpoint, torch_device)
    trained = loaded.payload.get("train_config", {})
    data = data or trained.get("data") or "tweeteval-sentiment"
    stored_dir = trained.get("data_dir")
    if data_dir is None and stored_dir is not None and not Path(stored_dir).is_dir():
        stored_dir = None  # the run was moved to another machine: look where names usually resolve
    corpus = load_corpus(
        data,
        data_dir if data_dir is not None else stored_dir,
        text_column or trained.get("text_column", "text"),
        label_column or trained.get("label_column", "label"),
    )
    training = trained if trained_on(corpus, loaded.payload, data) else None
    examples, split, note = choose_split(corpus, split, training)
    encoder = Encoder(loaded.tokenizer, default_cache_dir(), loaded.max_tokens, loaded.ngram_buckets,
                      loaded.ngram_words)
    encoded = encoder.encode(examples, loaded.vocab, loaded.label_names, f"{corpus.name} {split}")
    official = loaded.payload.get("metric") if data == trained.get("data") else corpus.metric
    return ScoringData(loaded, torch_device, corpus, split, note, encoded, official or corpus.metric, training)


def evaluate(
    checkpoint: str | Path,
    data: str | None = None,
    split: str | None = None,
    data_dir: str | None = None,
    batch_size: int = 256,
    device: str = "auto",
    text_column: str | None = None,
    label_column: str | None = None,
    threads: int = 0,
) -> dict[str, Any]:
    """Metrics of the model in ``checkpoint`` (a file or run directory) on ``split`` of ``data``,
    with ``threads`` CPU threads for torch (0: torch's default).

    ``data`` defaults to the dataset the model was trained on; labels are matched to the
    model's by name. ``split`` defaults to ``test``, or to the whole file for a file that is not
    split and that the model was not trained on (see :func:`choose_split`). Returns the metrics
    of :func:`~hbilstm.evaluation.metrics.classification_metrics` plus ``checkpoint``,
    ``dataset``, ``split``, ``split_note`` (what the split is, where that needs saying),
    ``official_metric``, the expected calibration error ``ece`` (15 bins) with the model's
    temperatures and ``ece_before_temperatures`` without them (None where it has none), and the
    bins of both (``calibration``), which ``--plot`` draws; the model's decision ``offsets`` by
    class (empty where it has none), with which every score above was made.
    """
    scoring = scoring_data(checkpoint, data, split, data_dir, device, text_column, label_column)
    loaded, encoded = scoring.loaded, scoring.encoded
    with cpu_settings(threads):
        probs, untempered = probabilities(loaded.model, encoded, batch_size, scoring.device)
    metrics = classification_metrics(encoded.labels, probs.argmax(-1).tolist(), loaded.label_names)
    after = calibration(probs.numpy(), encoded.labels)
    before = calibration(untempered.numpy(), encoded.labels) if untempered is not None else None
    return {
        "checkpoint": str(loaded.path),
        "dataset": scoring.corpus.name,
        "split": scoring.split,
        "split_note": scoring.note,
        "official_metric": scoring.official,
        **metrics,
        "ece": after["ece"],
        "ece_before_temperatures": before["ece"] if before is not None else None,
        "temperatures": list(loaded.model.config.temperatures),
        "offsets": dict(zip(loaded.label_names, loaded.model.config.offsets)),
        "calibration": {"bins": CALIBRATION_BINS, "after": after["bins"],
                        "before": before["bins"] if before is not None else None},
    }


def probabilities(model, encoded: EncodedSplit, batch_size: int, device) -> tuple[Any, Any]:
    """The model's class probabilities for ``encoded`` (its temperatures applied, as everywhere),
    and the same without its temperatures (None for a model that has none, or an ensemble),
    from one pass over the data."""
    if not getattr(model.config, "temperatures", ()) or not hasattr(model, "combine"):
        return predict_probs(model, encoded.ids, batch_size, device, ngrams=encoded.ngrams), None
    import torch

    parts = predict_part_logits(model, encoded.ids, batch_size=batch_size, device=device, ngrams=encoded.ngrams)
    return (torch.softmax(model.combine(parts), dim=-1),
            torch.softmax(model.combine(parts, temperatures=False), dim=-1))


def trained_on(corpus: Corpus, payload: dict, data: str) -> bool:
    """Whether ``corpus`` is (made of) the data the checkpoint's model was trained on: by the
    files' SHA-256 where the checkpoint records them, else by the dataset name or path."""
    recorded = payload.get("data_files")
    if recorded:
        hashes = {f["sha256"] for f in recorded}
        return any(sha256_file(f) in hashes for f in corpus.files)
    return data == payload.get("train_config", {}).get("data")


def choose_split(corpus: Corpus, split: str | None, trained: dict | None) -> tuple[Examples, str, str]:
    """The examples to score, the split's name and a note saying what it is where that matters.

    ``trained`` is the run's training config when ``corpus`` is the data the model was trained
    on: the splits are then cut as training cut them, so ``val`` is the part held out for
    validation and a corpus whose test split training did not have has none. Another dataset's
    unsplit file is scored whole (split ``all``).
    """
    if trained is not None:
        defaults = TrainConfig()  # for checkpoints older than an option
        fraction, seed = trained.get("val_fraction", defaults.val_fraction), trained.get("seed", defaults.seed)
        splits = training_splits(corpus, fraction, seed, trained.get("max_train", defaults.max_train))
        name = split or "test"
        if name not in splits:
            raise DataError(
                f"dataset {corpus.name!r} has no test split: the model was trained on part of it and "
                "validated on the rest; score that part with --split val, or score another dataset"
            )
        note = ""
        if name == "val" and "val" not in corpus.splits:
            note = f"the {fraction:.0%} of the training data held out for validation (seed {seed}), not a test set"
        elif name == "train":
            note = "the examples the model was trained on"
        return splits[name], name, note
    if corpus.unsplit:
        if split is not None:
            raise DataError(f"{corpus.name}: one file with no {split} split; leave out --split to score all of it")
        return corpus.splits["all"], "all", "the whole file"
    name = split or "test"
    return corpus.split(name), name, ""
