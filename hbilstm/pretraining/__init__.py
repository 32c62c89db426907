"""Pretraining the stack on unlabelled tweets (``hbilstm pretrain``): a bidirectional language
model and emoji prediction, into an encoder that ``hbilstm train --init`` starts from.

``PretrainConfig`` imports without torch (``--help`` reads its defaults); ``pretrain`` loads it.
"""

from __future__ import annotations

from typing import Any

from .config import PretrainConfig

__all__ = ["ENCODER_FILE", "PretrainConfig", "PretrainResult", "pretrain"]


def __getattr__(name: str) -> Any:
    if name in ("ENCODER_FILE", "PretrainResult", "pretrain"):
        from . import run

        return getattr(run, name)
    raise AttributeError(name)
