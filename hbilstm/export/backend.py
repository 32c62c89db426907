"""Which backend scores a model: PyTorch, or ONNX Runtime without PyTorch.

:func:`choose_backend` is the one rule that ``hbilstm predict``, ``hbilstm serve`` and
``hbilstm.load`` share: ``auto`` takes ONNX Runtime when the model has a current model folder
with its graph (an exported folder, or the ``export`` folder that ``hbilstm train`` leaves in a run
directory while its model.pt is unchanged), onnxruntime is installed, and no GPU asks for PyTorch
(``int8`` quantizes whichever backend scores). Nothing here imports torch.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .folder import ONNX_FILE, is_model_folder
from .run_export import current_export

BACKENDS = ("auto", "torch", "onnx")
GPU_DEVICE_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")  # NVIDIA, ROCm, WSL


def choose_backend(checkpoint: str | Path, backend: str, device: str) -> tuple[str, Path | None]:
    """The backend that scores (torch or onnx) and, for onnx without torch, the model folder it
    reads (None: the checkpoint is loaded with torch).

    That folder is ``checkpoint`` itself when it is an exported folder, or the ``export`` folder
    that ``hbilstm train`` leaves in a run directory while it is current. ``auto`` takes onnx with
    such a folder when it holds a model.onnx, onnxruntime is installed, and no GPU (``device``, or a
    visible one with ``auto``) asks for torch; else torch. Quantizing to int8 does not change the
    choice: both backends can."""
    wants_torch = device not in ("auto", "cpu") or (device == "auto" and gpu_visible())
    if backend == "torch" or (backend == "auto" and wants_torch):
        return "torch", None
    folder = Path(checkpoint) if _is_exported_folder(checkpoint) else current_export(checkpoint)
    if backend == "onnx":
        return "onnx", folder
    if folder is None or not (folder / ONNX_FILE).is_file() or importlib.util.find_spec("onnxruntime") is None:
        return "torch", None
    return "onnx", folder


def gpu_visible() -> bool:
    """Whether torch would find a CUDA (or ROCm) GPU, judged without importing it: the device files
    of NVIDIA's driver, ROCm's or WSL's GPU, unless CUDA_VISIBLE_DEVICES hides every device."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "x").strip() in ("", "-1"):
        return False
    return any(Path(name).exists() for name in GPU_DEVICE_FILES)


def _is_exported_folder(path: str | Path) -> bool:
    """A model folder written by ``hbilstm export``, not a run directory (which holds a model.pt,
    hbilstm.checkpoint.MODEL_FILE, read with torch)."""
    return is_model_folder(path) and not (Path(path) / "model.pt").is_file()
