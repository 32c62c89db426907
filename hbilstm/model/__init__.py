"""The Highway BiLSTM model. Imports only torch, and torch only when a model class is used.

``ModelConfig``, ``CARRIES`` and ``POOLINGS`` are plain values (``hbilstm.model.config``);
``HighwayBiLSTMLayer`` and ``HighwayBiLSTMClassifier`` load torch on first use, so that reading
or checking a configuration stays cheap.
"""

from __future__ import annotations

from .config import CARRIES, POOLINGS, ModelConfig

__all__ = ["CARRIES", "POOLINGS", "ModelConfig", "HighwayBiLSTMLayer", "HighwayBiLSTMClassifier", "EnsembleClassifier"]


def __getattr__(name: str):
    if name == "HighwayBiLSTMLayer":
        from .layers import HighwayBiLSTMLayer

        return HighwayBiLSTMLayer
    if name == "HighwayBiLSTMClassifier":
        from .classifier import HighwayBiLSTMClassifier

        return HighwayBiLSTMClassifier
    if name == "EnsembleClassifier":
        from .ensemble import EnsembleClassifier

        return EnsembleClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
