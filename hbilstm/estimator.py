"""A scikit-learn-style estimator that trains a model from texts and labels in memory.

>>> from hbilstm import HighwayBiLSTMClassifier
>>> clf = HighwayBiLSTMClassifier(layers=4, epochs=3).fit(texts, labels)   # doctest: +SKIP
>>> clf.predict(["what a great game!"])                                     # doctest: +SKIP
['positive']

Every keyword is a training option of ``hbilstm train`` (``docs/options.md``: ``layers``,
``epochs``, ``hidden``, ``lr``, ``seed``, ``embeddings``, ``device``, ``threads``, ...), besides
``config`` (a YAML file the keywords override, as ``--config``), ``output_dir`` and ``verbose``.
``fit`` writes the texts and labels as JSON lines into ``output_dir/fit`` and trains with
:func:`hbilstm.training.train` into ``output_dir/run``, an ordinary run directory (``hbilstm
evaluate``, ``predict`` and ``export`` take it); without ``output_dir`` both go into a temporary
folder removed with the estimator. It is a scikit-learn classifier (``BaseEstimator`` and
``ClassifierMixin``: ``get_params``, ``set_params``, ``fit`` returning the estimator,
``classes_``, ``score`` as accuracy), so ``sklearn.base.clone``, ``cross_val_score``, pipelines
and grid searches take it; the training options are keywords, not named one by one in the
signature, so ``get_params`` lists those given.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

_OWN = ("config", "output_dir", "verbose")


class HighwayBiLSTMClassifier(ClassifierMixin, BaseEstimator):
    """Train a Highway BiLSTM stack on ``fit(texts, labels)``; then ``predict``, ``predict_proba``
    and ``score`` as any scikit-learn classifier. See the module docs."""

    def __init__(self, *, config: str | os.PathLike | None = None, output_dir: str | os.PathLike | None = None,
                 verbose: bool = False, **options: Any):
        self.config = config
        self.output_dir = output_dir
        self.verbose = verbose
        self._options = dict(options)

    # -- scikit-learn's parameter protocol
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"config": self.config, "output_dir": self.output_dir, "verbose": self.verbose, **self._options}

    def set_params(self, **params: Any) -> "HighwayBiLSTMClassifier":
        for key, value in params.items():
            if key in _OWN:
                setattr(self, key, value)
            else:
                self._options[key] = value
        return self

    def __getattr__(self, name: str) -> Any:  # a training option reads as an attribute, as in scikit-learn
        options = self.__dict__.get("_options", {})
        if name in options:
            return options[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    # -- training
    def fit(self, texts: Iterable[str], labels: Iterable[Any],
            validation: tuple[Iterable[str], Iterable[Any]] | None = None) -> "HighwayBiLSTMClassifier":
        """Train on ``texts`` and ``labels`` (any values whose ``str`` differ: strings, ints, ...).
        Epochs are chosen on ``validation`` ``(texts, labels)`` when given, else on a held-out
        ``val_fraction`` of the texts (10 % by default). Bad options or data raise
        :class:`hbilstm.errors.HbilstmError` with a one-line message, before training starts."""
        from .api import load
        from .config import load_config
        from .errors import ConfigError
        from .training import train

        train_rows = _rows(texts, labels, "texts", "labels")
        val_rows = None if validation is None else _rows(*_pair(validation), "validation texts", "validation labels")
        names = {str(label): label for _, label in train_rows}  # the files hold str(label); predict gives label back
        if len(names) != len({label for _, label in train_rows}):
            raise ValueError("two labels have the same str(); use labels that print differently")
        if len(names) < 2:
            raise ValueError(f"fit needs at least two classes; the labels hold only {list(names.values())!r}")
        unknown = sorted({str(label) for _, label in val_rows or []} - set(names))
        if unknown:
            raise ValueError(f"validation labels {', '.join(unknown)} are not among the training labels")
        unknown = set(self._options) - set(_train_fields())
        if unknown:
            raise ConfigError(f"unknown training option {sorted(unknown)[0]!r}; the options: docs/options.md")
        if "data" in self._options or "data_dir" in self._options:
            raise ConfigError("fit trains on the texts it is given: leave out data and data_dir")

        if self.__dict__.get("_cleanup") is not None:
            self._cleanup()  # the previous fit's temporary folder
        if self.output_dir is not None:
            folder, self._cleanup = Path(self.output_dir), None
        else:
            folder = Path(tempfile.mkdtemp(prefix="hbilstm-fit-"))
            self._cleanup = weakref.finalize(self, shutil.rmtree, str(folder), True)
        data = folder / "fit"  # its name is the dataset's name in the log and the model card
        settings = load_config(self.config, {**self._options, "data": str(data)})  # checked before anything is written
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(parents=True)
        _write_jsonl(data / "train.jsonl", train_rows)
        if val_rows is not None:
            _write_jsonl(data / "val.jsonl", val_rows)
        result = train(settings, folder / "run", overwrite=True, callback=_printer() if self.verbose else None)
        self.run_dir_ = result.run_dir
        self.classifier_ = load(result.run_dir, device=settings.device, backend="torch")
        self.classes_ = np.asarray([names[label] for label in self.classifier_.labels])  # as np.unique(labels) gives
        self.best_epoch_ = result.best_epoch
        return self

    # -- scoring
    def predict_proba(self, texts: Iterable[str]) -> np.ndarray:
        """``(len(texts), len(classes_))`` probabilities, columns in the order of ``classes_``."""
        return self._fitted().predict_proba(texts)

    def predict(self, texts: Iterable[str]) -> np.ndarray:
        """The likeliest class of each text, as the values ``fit`` was given."""
        probs = self.predict_proba(texts)
        return self.classes_[probs.argmax(axis=1)] if len(probs) else self.classes_[:0]

    def _fitted(self):
        if "classifier_" not in self.__dict__:
            raise AttributeError(f"this {type(self).__name__} is not fitted yet: call fit(texts, labels) first")
        return self.classifier_

    def __getstate__(self) -> dict:
        if "classifier_" in self.__dict__ and self.output_dir is None:
            raise TypeError("a model fitted into a temporary folder cannot be pickled: fit with output_dir=... "
                            "(the pickle then points there), or keep it with .classifier_.save_pretrained(folder)")
        return {k: v for k, v in self.__dict__.items() if k not in ("classifier_", "_cleanup")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "run_dir_" in state:
            from .api import load

            self.classifier_ = load(state["run_dir_"], backend="torch")

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v is not None and v is not False)
        return f"{type(self).__name__}({shown})"


def _printer():
    """``verbose=True``: the lines ``hbilstm train`` prints (data, model, one per epoch)."""
    from .callbacks import TrainCallback

    class Printer(TrainCallback):
        def log(self, message: str) -> None:
            print(message, flush=True)

    return Printer()


def _train_fields() -> Sequence[str]:
    from .config import TrainConfig

    return tuple(TrainConfig.__dataclass_fields__)


def _pair(validation: Any) -> tuple[Iterable[str], Iterable[Any]]:
    if not isinstance(validation, (tuple, list)) or len(validation) != 2:
        raise TypeError("validation must be a pair (texts, labels)")
    return validation[0], validation[1]


def _rows(texts: Iterable[str], labels: Iterable[Any], what: str, which: str) -> list[tuple[str, Any]]:
    from .api import _check_texts

    texts = _check_texts(texts, what, "there is nothing to learn from; drop it and its label")
    labels = list(labels.tolist() if isinstance(labels, np.ndarray) else labels)
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} {what} but {len(labels)} {which}")
    if not texts:
        raise ValueError(f"{what} is empty")
    return list(zip(texts, labels))


def _write_jsonl(path: Path, rows: list[tuple[str, Any]]) -> None:
    from .fileio import atomic_open

    with atomic_open(path, "w", encoding="utf-8") as handle:
        for i, (text, label) in enumerate(rows, start=1):
            handle.write(json.dumps({"id": str(i), "text": text, "label": str(label)}, ensure_ascii=False) + "\n")
