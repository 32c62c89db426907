"""The model folder that ``hbilstm train`` leaves in its run directory, for torch-free prediction.

At the end of a training run, ``export_run`` writes the best model (``RUN_DIR/model.pt``) as a
model folder with its ``model.onnx`` at ``RUN_DIR/export`` (see :mod:`hbilstm.export.folder`),
and records in its config.json the SHA-256 of the ``model.pt`` it was written from.
``current_export`` finds that folder again, and only while ``model.pt`` is still that file: a run
resumed or retrained after the export has a newer model.pt, and its old folder is never used.
``hbilstm predict RUN_DIR`` scores with that folder on ONNX Runtime, without importing torch.

Nothing here imports torch until ``export_run`` is called.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..fileio import read_json_if_any, sha256_file
from .folder import CONFIG_FILE, EXPORT_DIR, ONNX_FILE, is_model_folder
from .integrity import has_record

CHECKPOINT_FILE = "model.pt"  # hbilstm.checkpoint.MODEL_FILE (that module imports torch)
SOURCE_KEY = "exported_from"  # config.json: {"file": "model.pt", "sha256": ...}
# What writing the folder (safetensors, onnx, onnxscript) and scoring it (onnxruntime) need.
NEEDED = ("safetensors", "onnx", "onnxscript", "onnxruntime")


def missing_packages() -> list[str]:
    """The packages of NEEDED that are not installed (none: a run can be exported and scored)."""
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


def export_run(run_dir: str | os.PathLike) -> Path:
    """Write ``RUN_DIR/model.pt`` as the model folder ``RUN_DIR/export`` (model.onnx included),
    replacing an older one; the folder is written beside and renamed into place."""
    from .exporter import export_model

    run_dir = Path(run_dir)
    checkpoint = run_dir / CHECKPOINT_FILE
    source = {"file": CHECKPOINT_FILE, "sha256": sha256_file(checkpoint)}
    return export_model(checkpoint, run_dir / EXPORT_DIR, onnx=True, overwrite=True, extra={SOURCE_KEY: source})


def run_directory(model: str | os.PathLike) -> Path | None:
    """The run directory of MODEL when it is one, or its ``model.pt``; else None."""
    path = Path(model)
    if path.is_file() and path.name == CHECKPOINT_FILE:
        return path.parent
    if path.is_dir() and (path / CHECKPOINT_FILE).is_file():
        return path
    return None


def current_export(model: str | os.PathLike) -> Path | None:
    """``RUN_DIR/export`` when MODEL is a run directory (or its model.pt) whose export holds a
    model.onnx and was written from the model.pt there now; else None. Reads JSON and hashes
    model.pt (about 30 ms for the default model); imports nothing heavy."""
    run_dir = run_directory(model)
    if run_dir is None:
        return None
    folder = run_dir / EXPORT_DIR
    try:
        usable = is_model_folder(folder) and (folder / ONNX_FILE).is_file() and has_record(folder)
    except OSError:  # a folder this user may not read
        usable = False
    if not usable:
        return None  # none, or one exported before folders had an integrity record: score with torch
    config = read_json_if_any(folder / CONFIG_FILE)
    source = config.get(SOURCE_KEY) if isinstance(config, dict) else None
    if not isinstance(source, dict) or source.get("file") != CHECKPOINT_FILE:
        return None
    try:
        same = source.get("sha256") == sha256_file(run_dir / CHECKPOINT_FILE)
    except (OSError, ValueError):  # gone, unreadable, or not a regular file
        return None
    return folder if same else None
