"""``load``: the one way to load a trained model for scoring, from any source, on either backend.

A source is a run directory, a ``model.pt``, a model folder written by ``hbilstm export``, or a
Hugging Face Hub repo id (``owner/name``, downloaded into the Hugging Face cache when online). The
backend follows :func:`~hbilstm.export.backend.choose_backend`: ONNX Runtime when the model has a
current graph and nothing asks for PyTorch (then torch is never imported), else PyTorch. Everything
``hbilstm predict``, ``hbilstm serve``, ``hbilstm.load``, the Ray engine and the Ray/Spark
``Predictor`` score with comes from here, as a :class:`~hbilstm.inference.model.Model`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import CheckpointError, ConfigError
from .inference.model import Model

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def load(source: str | os.PathLike, backend: str = "auto", device: str = "auto", *, int8: bool = False,
         threads: int = 0) -> Model:
    """The model in ``source``, ready to score (see the module).

    ``backend``: ``auto``, ``torch`` or ``onnx`` (ONNX Runtime on the CPU: from an exported folder, a
    run directory's current export, or the ``model.onnx`` beside a checkpoint, which must record the
    checkpoint's model). ``device``: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N`` or
    ``mps``; ONNX Runtime takes only ``auto`` or ``cpu``. ``int8`` (CPU only): ONNX Runtime scores
    the graph quantized to int8 (:func:`~hbilstm.export.onnx_runtime.quantized_graph`); with
    PyTorch, the caller quantizes the model (:func:`~hbilstm.inference.quantize_int8`).
    ``threads``: ONNX Runtime's intra-op threads (0: its default, or torch's count where torch is
    loaded anyway). Errors are one-line :class:`~hbilstm.errors.HbilstmError`.
    """
    from .export.backend import BACKENDS, choose_backend

    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "onnx" and device not in ("auto", "cpu"):
        raise ConfigError(f"backend onnx scores on the CPU; leave out device {device!r} (or give cpu)")
    if int8 and device not in ("auto", "cpu"):
        raise ConfigError(f"int8 quantizes the model for the CPU; leave out device {device!r} (or give cpu)")
    where = Path(source).expanduser()
    if not where.exists() and HUB_ID.match(str(source)):
        where = download(str(source))
    chosen, folder = choose_backend(where, backend, device)
    if chosen == "onnx" and folder is not None:
        from .export.onnx_runtime import load_onnx_folder

        return load_onnx_folder(folder, threads=threads or None, int8=int8)
    from .checkpoint import load_model
    from .inference.torch_ops import resolve_device

    if chosen == "onnx":  # a checkpoint scored by the graph beside it (or an export of it, if it still matches)
        return _with_graph_beside(where, threads, int8)
    return load_model(where, resolve_device("cpu" if int8 else device))


def _with_graph_beside(checkpoint: Path, threads: int, int8: bool) -> Model:
    """The checkpoint's model (for its encoder and labels) scored by the ``model.onnx`` beside it,
    once the graph is shown to record that very model (weights and temperatures)."""
    import torch

    from .checkpoint import load_model
    from .export.onnx import digest_of_model
    from .export.onnx_runtime import OnnxScorer, find_onnx_model

    graph = OnnxScorer(find_onnx_model(checkpoint), threads=threads or torch.get_num_threads(), int8=int8)
    loaded = load_model(checkpoint, torch.device("cpu"))
    graph.check_model(digest_of_model(loaded.model), checkpoint)
    loaded.backend, loaded.graph = "onnx", graph
    return loaded


def download(repo_id: str) -> Path:
    """A Hub model repo's files, from the local Hugging Face cache or downloaded into it."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id))
    except ImportError:
        raise CheckpointError(f"{repo_id}: loading from the Hub needs huggingface_hub: "
                              'pip install "hbilstm[hub]"') from None
    except Exception as exc:  # offline, no such repo, no access: one answer with the reason
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{repo_id}: no such local path, and not downloadable from the Hugging Face Hub "
                              f"({reason})") from None
