"""Classification metrics, computed with scikit-learn.

``macro_recall`` (recall averaged over classes, each class counting equally) is TweetEval's
official sentiment metric; ``accuracy`` is SST's. Macro averages run over the classes present in
the gold labels: a 3-class model scored on binary data is averaged over those two classes.
"""

from __future__ import annotations

from typing import Sequence

METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "macro_recall": "macro-recall"}


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]) -> dict:
    """Accuracy, macro precision/recall/F1, per-class scores and the confusion matrix.

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
    return {
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
