"""Setting aside the predictions a model is unsure of: ``--min-confidence P``.

A row whose top probability is below ``P`` gets the label :data:`UNCERTAIN` instead of its most
probable class; its probabilities are kept, so nothing is lost and the class can still be read
off them. With temperature scaling (``calibrate``, on by default) a model's probabilities are
calibrated on validation data: of the rows it gives 0.8, about 80% are right (``hbilstm evaluate``
reports how close: its expected calibration error), which is what makes such a threshold mean
what it says. ``hbilstm predict``, ``hbilstm serve`` (a request's ``min_confidence``) and
``Classifier.predict`` share this one rule.
"""

from __future__ import annotations

from typing import Sequence

from .errors import ConfigError

UNCERTAIN = "uncertain"


def check_min_confidence(value: float | None, labels: Sequence[str], name: str = "--min-confidence") -> None:
    """ConfigError unless ``value`` is None or a number in [0, 1], and the model has no class
    named :data:`UNCERTAIN` (its rows could not be told from those set aside)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be a probability between 0 and 1, not {value!r}")
    if UNCERTAIN in labels:
        raise ConfigError(f"{name} labels unsure rows {UNCERTAIN!r}, which is one of this model's classes")


def label_of(probabilities: Sequence[float], labels: Sequence[str], min_confidence: float | None = None) -> str:
    """The most probable label, or :data:`UNCERTAIN` when its probability is below ``min_confidence``."""
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    if min_confidence is not None and probabilities[best] < min_confidence:
        return UNCERTAIN
    return labels[best]
