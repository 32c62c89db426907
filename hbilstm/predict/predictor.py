"""A batch-in, batch-out callable for distributed data frameworks (Ray Data, Spark)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

EMPTY_TEXT = "empty text"
NOT_TEXT = "not a string"


class Predictor:
    """Labels batches of tweets with a model loaded once, when the Predictor is built.

    A batch is a pandas DataFrame or a dict of numpy arrays (Ray Data's ``"pandas"`` and
    ``"numpy"`` batch formats) with a column of texts (``text_column``). The call returns the same
    kind of batch, rows in the same order, with the input's columns and these added (replacing
    any of the same name): ``label``, ``confidence``, one ``prob_<label>`` per class (float32)
    and ``error``. A row whose text is empty, blank, null or not a string gets an empty label,
    NaN confidence and probabilities and an ``error`` value (``"empty text"`` or
    ``"not a string"``) instead of an exception: one bad row never stops a batch job. Other rows
    have an empty ``error``. Probabilities are those of :meth:`hbilstm.api.Classifier.predict_proba`.

    Ray Data (with Ray installed) builds one Predictor per actor and feeds it batches::

        import ray
        from hbilstm.predict import Predictor

        ds = ray.data.read_parquet("s3://bucket/tweets/")
        labelled = ds.map_batches(Predictor, fn_constructor_args=("runs/first",), batch_format="pandas",
                                  batch_size=4096, compute=ray.data.ActorPoolStrategy(size=2))
        labelled.write_parquet("s3://bucket/labelled/")

    (``size``: the actors, each with its own model and one CPU, at most the CPUs Ray has: more
    wait forever; ``fn_constructor_kwargs={"text_column": "body"}`` names another text column;
    with ``num_gpus=1`` each actor scores on a GPU.)

    Spark's ``mapInPandas`` hands a function an iterator of DataFrames per partition; build one
    Predictor there, so the model is loaded once per partition, not once per batch::

        def label_partition(frames):
            predictor = Predictor("/shared/runs/first")
            for frame in frames:
                yield predictor(frame)

        schema = ("id string, text string, label string, confidence float, prob_negative float, "
                  "prob_neutral float, prob_positive float, error string")
        df.mapInPandas(label_partition, schema=schema)

    The model path must be readable from every worker (a shared file system, or a Hugging Face
    Hub id, see :func:`hbilstm.load`).
    """

    def __init__(self, model: str | os.PathLike, *, text_column: str = "text", device: str = "auto",
                 batch_size: int = 256):
        from ..api import load

        self.classifier = load(model, device=device, batch_size=batch_size)
        self.text_column = text_column
        self.labels = self.classifier.labels
        self.prob_columns = [f"prob_{label}" for label in self.labels]

    def __call__(self, batch: Any) -> Any:
        if isinstance(batch, dict):
            texts = self._texts(batch)
            added = self._score(texts)
            out = dict(batch)
            out.update(added)
            return out
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas is needed only for DataFrame batches
            pd = None
        if pd is not None and isinstance(batch, pd.DataFrame):
            texts = self._texts(batch)
            added = self._score(texts)
            return batch.assign(**added)
        raise TypeError(f"a batch must be a pandas DataFrame or a dict of numpy arrays, not {type(batch).__name__}")

    def _texts(self, batch) -> list:
        if self.text_column not in batch:
            names = ", ".join(map(str, batch.keys())) or "none"
            raise KeyError(f"the batch has no column {self.text_column!r} (columns: {names})")
        return list(batch[self.text_column])

    def _score(self, texts: list) -> dict[str, np.ndarray]:
        n = len(texts)
        errors = np.array([""] * n, dtype=object)
        good = []
        for i, text in enumerate(texts):
            if isinstance(text, np.str_):
                text = str(text)
            if not isinstance(text, str):
                errors[i] = EMPTY_TEXT if _is_null(text) else NOT_TEXT
            elif not text.strip():
                errors[i] = EMPTY_TEXT
            else:
                good.append(i)
        probs = np.full((n, len(self.labels)), np.nan, dtype=np.float32)
        labels = np.array([""] * n, dtype=object)
        if good:
            scored = self.classifier.predict_proba([str(texts[i]) for i in good])
            probs[good] = scored
            labels[good] = np.asarray(self.labels, dtype=object)[scored.argmax(axis=1)]
        confidence = np.full(n, np.nan, dtype=np.float32)
        if good:
            confidence[good] = probs[good].max(axis=1)
        added: dict[str, np.ndarray] = {"label": labels, "confidence": confidence}
        for j, column in enumerate(self.prob_columns):
            added[column] = probs[:, j].copy()
        added["error"] = errors
        return added

    def __repr__(self) -> str:
        return f"Predictor({str(self.classifier.path)!r}, text_column={self.text_column!r}, labels={self.labels})"


def _is_null(value: Any) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        return isinstance(value, float) and value != value
    null = pd.isna(value)  # None, NaN, pandas.NA, NaT
    return isinstance(null, (bool, np.bool_)) and bool(null)
