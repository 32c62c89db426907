"""What ``GET /metadata`` says about the served model: its labels, the facts of its model card
(name, data, scores, size) and the service's limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import __version__
from ..fileio import read_json_if_any
from .settings import ServeSettings


def card_facts(classifier: Any) -> dict[str, Any]:
    """The model card's fields (see :func:`hbilstm.export.card.card_fields`). An exported model
    folder carries them in its config.json; for a run directory or a ``model.pt`` they are made
    from the checkpoint and the run's results.json (when there is one beside it)."""
    loaded = getattr(classifier, "model", None)
    payload = getattr(loaded, "payload", None) or {}
    card = payload.get("card")
    if isinstance(card, dict):
        return _plain(card)
    try:
        from ..export.card import card_fields

        return _plain(card_fields(payload, _run_results(Path(classifier.path))))
    except (KeyError, TypeError, ValueError, AttributeError):  # a payload without a card's facts
        return {"labels": list(classifier.labels)}


def _run_results(path: Path) -> dict[str, Any] | None:
    results = read_json_if_any((path.parent if path.is_file() else path) / "results.json")
    return results if isinstance(results, dict) else None


def _plain(value: dict[str, Any]) -> dict[str, Any]:
    """The same values as plain JSON (numbers, strings, lists, objects)."""
    return json.loads(json.dumps(value, default=str))


def describe(classifier: Any, settings: ServeSettings) -> dict[str, Any]:
    """The body of ``GET /metadata``."""
    config = getattr(classifier, "config", None) or {}
    return {
        "labels": list(classifier.labels),
        "model": card_facts(classifier),
        "max_tokens": config.get("max_tokens"),
        "device": str(getattr(classifier, "device", None) or "cpu"),
        "hbilstm_version": __version__,
        "limits": settings.limits(),
    }
