"""``hbilstm export``."""

from __future__ import annotations

from pathlib import Path

import typer

from . import options
from ._app import app, stderr, user_errors


@app.command()
@user_errors
def export(
    model: Path = options.model(),
    out: Path = typer.Argument(..., metavar="OUT_DIR", help="The model folder to write (must not exist, or be empty)."),
    onnx: bool = typer.Option(True, "--onnx/--no-onnx", help="Also write model.onnx."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing OUT_DIR."),
) -> None:
    """Write a model as a portable folder (safetensors, ONNX, card).

    OUT_DIR gets config.json, model.safetensors, vocab.json, model.onnx and a README.md model
    card, in the layout of a Hugging Face Hub model repository. Every hbilstm command and
    hbilstm.load() accept the folder; loading it never unpickles anything.

    Examples:

    \b
      hbilstm export runs/first models/first
      hbilstm export runs/first/model.pt models/first --no-onnx
    """
    from ..export.exporter import export_model

    folder = export_model(model, out, onnx=onnx, overwrite=overwrite)
    files = ", ".join(sorted(p.name for p in folder.iterdir()))
    stderr().print(f"{folder}: {files}")
