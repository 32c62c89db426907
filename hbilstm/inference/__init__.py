"""Scoring trained models: the one handle (:class:`Model`) and torch's batched scoring underneath.
The one way to load a model as that handle is :func:`hbilstm.loading.load`.

* :mod:`.model` - ``Model``: labels, the text encoder, and ``predict_probs`` on either backend;
* :mod:`.torch_ops` - device choice, autocast, threads, int8, and batched scoring with torch.

Names are loaded on first use, so that ``import hbilstm.inference`` (and loading a model for ONNX
Runtime) imports no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Model": ".model",
    "resolve_device": ".torch_ops", "autocast": ".torch_ops", "cpu_settings": ".torch_ops",
    "quantize_int8": ".torch_ops", "predict_probs": ".torch_ops", "predict_part_logits": ".torch_ops",
    "layer_statistics": ".torch_ops",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name], __name__), name)
