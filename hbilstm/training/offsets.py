"""Decision offsets: one number per class, added to the model's log-probabilities before the
argmax, fitted on the validation split to the task's own metric.

Balanced class weights make each class weigh the same in the loss, which is what macro-recall
asks for. The F1 metrics ask for something else: F1 also counts the tweets wrongly put *into* a
class, so a rare class that the model calls too often costs precision. An offset per class moves
the boundaries between classes without retraining. The fit is a coordinate ascent on a fixed grid
(the metric is a step function of the offsets, so there is no gradient to follow): each class's
offset in turn, the first class's held at 0 (adding one number to every class changes nothing),
tried at every grid value with the others held, keeping the best value on val (ties to the value
nearest 0); a few passes, stopping when one changes nothing. With 0 offsets the model predicts as
it did; the offsets are kept in the model's configuration, so every way of running it uses them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..evaluation.metrics import official_from_confusion

GRID = np.round(np.arange(-30, 31) / 10, 1)  # -3.0 to 3.0 in steps of 0.1
PASSES = 3


def fit_offsets(log_probs: np.ndarray, labels: Sequence[int], metric: str, label_names: Sequence[str],
                grid: np.ndarray = GRID, passes: int = PASSES) -> tuple[tuple[float, ...], float, float]:
    """The offsets for ``log_probs`` ``(n, classes)`` on validation data with true ``labels``:
    ``(offsets, metric without them, metric with them)``, the metric being one of
    :func:`~hbilstm.evaluation.metrics.official_from_confusion`'s."""
    log_probs = np.asarray(log_probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    n, classes = log_probs.shape if log_probs.ndim == 2 else (0, 0)
    if n == 0 or n != len(labels) or classes != len(label_names):
        raise ValueError(f"need log-probabilities (n, {len(label_names)}) and n > 0 labels, not "
                         f"{log_probs.shape} and {len(labels)}")
    order = np.argsort(np.abs(grid), kind="stable")  # ties go to the value nearest 0

    def score(offsets: np.ndarray) -> float:
        predicted = (log_probs + offsets).argmax(axis=1)
        confusion = np.bincount(labels * classes + predicted, minlength=classes * classes).reshape(classes, classes)
        return official_from_confusion(confusion, metric, label_names)

    offsets = np.zeros(classes)
    before = score(offsets)
    for _ in range(passes):
        changed = False
        for c in range(1, classes):
            held, top = offsets[c], -1.0
            for value in grid[order]:  # the first of the best values, in order of distance from 0
                offsets[c] = value
                if (scored := score(offsets)) > top:
                    top, chosen = scored, value
            offsets[c] = chosen
            changed |= chosen != held
        if not changed:
            break
    return tuple(float(v) for v in offsets), float(before), float(score(offsets))
