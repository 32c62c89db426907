"""``export_model``: a run directory or checkpoint as a portable model folder (``hbilstm export``)."""

from __future__ import annotations

import os
from pathlib import Path

from ..checkpoint import build_model, load_checkpoint, resolve_checkpoint
from ..errors import ConfigError
from ..fileio import read_json_if_any
from .card import card_fields, model_card
from .folder import is_model_folder, read_model_folder, write_model_folder


def export_model(source: str | os.PathLike, out: str | os.PathLike, *, onnx: bool = True,
                 overwrite: bool = False, extra: dict | None = None) -> Path:
    """Write the model in ``source`` (a run directory, a ``model.pt``, or a model folder) as a
    model folder at ``out`` (see :mod:`hbilstm.export.folder`), with its card, its run's scores
    (``results.json``) and, unless ``onnx`` is False, ``model.onnx``. ``extra`` goes into its
    config.json too."""
    source = Path(source)
    where, target = source.resolve(), Path(out).resolve()
    if target == where or target in where.parents:  # --overwrite would delete the model itself
        raise ConfigError(f"{out}: holds the model being exported ({source}); write the folder elsewhere")
    if is_model_folder(source):
        payload = read_model_folder(source)
        results = payload.get("results")
        manifest = None
    else:
        file = resolve_checkpoint(source)
        payload = load_checkpoint(file, kind="model")
        run_dir = file.parent
        results = read_json_if_any(run_dir / "results.json")
        manifest = read_json_if_any(run_dir / "manifest.json")
    onnx_writer = None
    if onnx and payload.get("member_configs"):
        raise ConfigError("an ensemble has no ONNX export yet: export it with --no-onnx, or export its members")
    if onnx:
        from .onnx import digest_of_model, export_onnx  # says what to install when onnx is missing

        model = build_model(payload, source).eval()

        def onnx_writer(path: Path) -> str:
            export_onnx(model, path)
            return digest_of_model(model)

    summary = None
    if results:
        summary = {k: results.get(k) for k in ("dataset", "metric", "best_epoch", "epochs_run", "parameters")}
        for split in ("val", "test"):
            if results.get(split):
                summary[split] = {k: results[split].get(k) for k in ("n", "accuracy", "macro_f1", "macro_recall")}
    extra = {"results": summary, "card": card_fields(payload, results), **(extra or {})}
    return write_model_folder(payload, Path(out), extra, model_card(payload, results, manifest), onnx_writer, overwrite)
