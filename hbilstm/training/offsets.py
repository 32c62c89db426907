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

Offsets fitted on val always gain on val, so val cannot say whether they will pay on new tweets;
:func:`cross_fitted` can (``decision_offsets: auto``): val is cut into folds, each fold is labelled
with the offsets fitted on the others, and the pooled labels are scored against the labels without
offsets. Several cuts, each from its own seed, average out the luck of one cut. That score is
itself optimistic for what ``auto`` gains, since ``auto`` keeps exactly the offsets whose score
cleared the bar: :func:`nested` puts the whole decision inside the folds (each fold labelled as
``auto`` would label it, deciding on the other folds alone), which is the estimate to trust.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..evaluation.metrics import official_from_confusion

GRID = np.round(np.arange(-30, 31) / 10, 1)  # -3.0 to 3.0 in steps of 0.1
PASSES = 3
FOLDS, CUTS = 5, 3  # cross-fitting: val in 5 folds, cut 3 ways
MARGIN = 0.0025  # auto keeps the offsets when cross-fitting says they gain at least 0.25 points


def fit_offsets(log_probs: np.ndarray, labels: Sequence[int], metric: str, label_names: Sequence[str],
                grid: np.ndarray = GRID, passes: int = PASSES) -> tuple[tuple[float, ...], float, float]:
    """The offsets for ``log_probs`` ``(n, classes)`` on validation data with true ``labels``:
    ``(offsets, metric without them, metric with them)``, the metric being one of
    :func:`~hbilstm.evaluation.metrics.official_from_confusion`'s."""
    log_probs, labels = _checked(log_probs, labels, label_names)
    classes = log_probs.shape[1]
    order = np.argsort(np.abs(grid), kind="stable")  # ties go to the value nearest 0

    def score(offsets: np.ndarray) -> float:
        return _score(labels, (log_probs + offsets).argmax(axis=1), metric, label_names)

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


def cross_fitted(log_probs: np.ndarray, labels: Sequence[int], metric: str, label_names: Sequence[str],
                 seed: int = 0, folds: int = FOLDS, cuts: int = CUTS) -> tuple[float, float]:
    """``(metric without offsets, metric with them out of fold)`` on validation data: for each of
    ``cuts`` random cuts of the rows into ``folds`` folds (cut ``c`` drawn from ``seed`` and ``c``),
    every fold is labelled with the offsets :func:`fit_offsets` fits on the other folds, and the
    pooled labels are scored; the second number is the mean over the cuts. With fewer rows than
    folds there is nothing to cross-fit: the offsets are then taken to gain nothing."""
    log_probs, labels = _checked(log_probs, labels, label_names)
    without = _score(labels, log_probs.argmax(axis=1), metric, label_names)
    n = len(labels)
    if n < folds or folds < 2 or cuts < 1:
        return without, without
    scores = []
    for cut in range(cuts):
        fold = _cut(n, folds, [seed, cut])
        predicted = np.empty(n, dtype=np.int64)
        for k in range(folds):
            held = fold == k
            offsets = fit_offsets(log_probs[~held], labels[~held], metric, label_names)[0]
            predicted[held] = (log_probs[held] + np.array(offsets)).argmax(axis=1)
        scores.append(_score(labels, predicted, metric, label_names))
    return without, float(np.mean(scores))


def auto(log_probs: np.ndarray, labels: Sequence[int], metric: str, label_names: Sequence[str],
         seed: int = 0) -> tuple[tuple[float, ...], float, float, float, bool]:
    """What ``decision_offsets: auto`` does on validation data: ``(offsets, metric without them,
    metric with them, metric with them out of fold, kept)``, the offsets kept when
    :func:`cross_fitted` (from ``seed``) says they gain at least :data:`MARGIN`."""
    offsets, before, after = fit_offsets(log_probs, labels, metric, label_names)
    out_of_fold = cross_fitted(log_probs, labels, metric, label_names, seed=seed)[1]
    return offsets, before, after, out_of_fold, out_of_fold - before >= MARGIN


def nested(log_probs: np.ndarray, labels: Sequence[int], metric: str, label_names: Sequence[str],
           seed: int = 0, folds: int = FOLDS, cuts: int = 1) -> tuple[float, float]:
    """``(metric without offsets, metric of what auto does, out of fold)`` on validation data: for
    each of ``cuts`` cuts of the rows into ``folds`` outer folds (drawn apart from
    :func:`cross_fitted`'s), the other folds decide as :func:`auto` does (from ``seed``), and the
    fold is labelled with the offsets kept, or none. Costs about ``folds * (1 + FOLDS * CUTS)``
    fits per cut. With fewer rows than folds, auto is taken to gain nothing."""
    log_probs, labels = _checked(log_probs, labels, label_names)
    plain = log_probs.argmax(axis=1)
    without = _score(labels, plain, metric, label_names)
    n = len(labels)
    if n < folds or folds < 2 or cuts < 1:
        return without, without
    scores = []
    for cut in range(cuts):
        fold = _cut(n, folds, [seed, cut, 1])
        predicted = plain.copy()
        for k in range(folds):
            held = fold == k
            offsets, *_, kept = auto(log_probs[~held], labels[~held], metric, label_names, seed=seed)
            if kept:
                predicted[held] = (log_probs[held] + np.array(offsets)).argmax(axis=1)
        scores.append(_score(labels, predicted, metric, label_names))
    return without, float(np.mean(scores))


def _cut(n: int, folds: int, seed: list[int]) -> np.ndarray:
    """Each of ``n`` rows' fold, ``0`` to ``folds - 1``, the folds as equal as ``n`` allows."""
    fold = np.empty(n, dtype=np.int64)
    fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % folds
    return fold


def _checked(log_probs, labels, label_names) -> tuple[np.ndarray, np.ndarray]:
    log_probs = np.asarray(log_probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    n, classes = log_probs.shape if log_probs.ndim == 2 else (0, 0)
    if n == 0 or n != len(labels) or classes != len(label_names):
        raise ValueError(f"need log-probabilities (n, {len(label_names)}) and n > 0 labels, not "
                         f"{log_probs.shape} and {len(labels)}")
    return log_probs, labels


def _score(labels: np.ndarray, predicted: np.ndarray, metric: str, label_names: Sequence[str]) -> float:
    classes = len(label_names)
    confusion = np.bincount(labels * classes + predicted, minlength=classes * classes).reshape(classes, classes)
    return float(official_from_confusion(confusion, metric, label_names))
