"""Classification metrics, computed with scikit-learn.

TweetEval's official metrics (its ``evaluation_script.py``, which reads scikit-learn's
``classification_report``): ``macro_recall`` (recall averaged over classes, each counting
equally) for sentiment; ``macro_f1`` for emoji, emotion, hate and offensive; ``irony_f1``, the F1
of the ``irony`` class, for irony; ``stance_f1``, the mean of the F1 of ``against`` and of
``favor``, for stance (over the five targets' predictions pooled). ``accuracy`` is SST's. Macro
averages run over the classes present in the gold labels: a 3-class model scored on binary data
is averaged over those two classes.
"""

from __future__ import annotations

from typing import Any, Sequence

METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "macro_recall": "macro-recall",
                "irony_f1": "F1 of irony", "stance_f1": "F1 of against and favor"}
# The class-wise official metrics, and the classes whose F1 they average.
CLASS_F1 = {"irony_f1": ("irony",), "stance_f1": ("against", "favor")}
CALIBRATION_BINS = 15  # as Guo et al. (2017), "On calibration of modern neural networks", bin them


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]) -> dict:
    """Accuracy, macro precision/recall/F1, per-class scores and the confusion matrix, and the
    class-wise official metrics (:data:`CLASS_F1`) where ``label_names`` has their classes.

    Macro scores average over the classes that occur in ``y_true`` (listed as ``macro_over``);
    predicting a class the data lacks still counts as an error against the true class. Every
    class of ``label_names`` is reported per class, one absent from ``y_true`` with support 0; a
    score that is undefined (no predictions of a class) counts as 0. ``confusion[i][j]`` counts
    examples of true class i predicted as j.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(label_names)))
    present = sorted(set(y_true))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    macro = (0.0, 0.0, 0.0)
    if present:
        macro = precision_recall_fscore_support(y_true, y_pred, labels=present, average="macro", zero_division=0)
    class_f1 = {metric: float(sum(f1[label_names.index(c)] for c in classes) / len(classes))
                for metric, classes in CLASS_F1.items() if all(c in label_names for c in classes)}
    return {
        **class_f1,  # irony_f1, stance_f1: where the labels have those classes
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "macro_precision": float(macro[0]),
        "macro_recall": float(macro[1]),
        "macro_f1": float(macro[2]),
        "macro_over": [label_names[i] for i in present],
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        },
        "labels": list(label_names),
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def calibration(probs: Any, y_true: Sequence[int], bins: int = CALIBRATION_BINS) -> dict:
    """How far the model's confidence (its top probability) is from its accuracy.

    The predictions are put into ``bins`` equal-width bins by confidence (bin i holds confidences
    in ``(i / bins, (i + 1) / bins]``; a confidence of 0 goes to the first); the expected
    calibration error is the mean over bins of ``|accuracy - mean confidence|``, each bin weighted
    by its share of the predictions (Naeini et al., 2015; Guo et al., 2017). Returns ``ece`` and,
    per bin, its bounds, count, mean confidence and accuracy (None for an empty bin).
    """
    import numpy as np

    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true)
    if probs.ndim != 2 or len(probs) != len(y_true):
        raise ValueError("probs must be (n, classes), one row per label")
    confidence = probs.max(axis=1) if len(probs) else np.empty(0)
    correct = (probs.argmax(axis=1) == y_true) if len(probs) else np.empty(0, dtype=bool)
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    ece, rows = 0.0, []
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        mean_confidence = float(confidence[inside].mean()) if count else None
        accuracy = float(correct[inside].mean()) if count else None
        if count:
            ece += count / len(probs) * abs(accuracy - mean_confidence)
        rows.append({"low": b / bins, "high": (b + 1) / bins, "count": count, "confidence": mean_confidence,
                     "accuracy": accuracy})
    return {"ece": float(ece), "bins": rows}


def official_from_confusion(confusion: Any, metric: str, label_names: Sequence[str]) -> float:
    """One metric of :func:`classification_metrics` (``accuracy``, ``macro_recall``,
    ``macro_f1``, ``irony_f1``, ``stance_f1``) from a confusion matrix (rows the true classes),
    computed the same way (macro averages over the classes present, an undefined score 0) without
    scikit-learn: for scoring many decision rules on the same data quickly."""
    import numpy as np

    confusion = np.asarray(confusion, dtype=np.float64)
    true, predicted, hits = confusion.sum(axis=1), confusion.sum(axis=0), np.diag(confusion)
    if metric == "accuracy":
        return float(hits.sum() / true.sum()) if true.sum() else 0.0
    recall = np.divide(hits, true, out=np.zeros_like(hits), where=true > 0)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(hits), where=both > 0)
    present = true > 0
    if metric == "macro_recall":
        return float(recall[present].mean()) if present.any() else 0.0
    if metric == "macro_f1":
        return float(f1[present].mean()) if present.any() else 0.0
    if metric in CLASS_F1:
        return float(np.mean([f1[list(label_names).index(c)] for c in CLASS_F1[metric]]))
    raise ValueError(f"unknown metric {metric!r}")
