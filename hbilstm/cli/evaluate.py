"""``hbilstm evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, stdout, user_errors


@app.command()
@user_errors
def evaluate(
    checkpoint: Path = typer.Argument(..., help="A run directory (its model.pt) or a checkpoint file."),
    data: Optional[str] = typer.Option(None, "--data", help="Dataset name or path. (default: the one the model was trained on)"),
    split: str = typer.Option("test", "--split", help="train, val or test (a single file is scored whole)."),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help="Where named datasets live."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="Text column of a CSV/TSV/JSONL dataset."),
    label_column: Optional[str] = typer.Option(None, "--label-column", help="Label column of a CSV/TSV/JSONL dataset."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Tweets per batch."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the metrics to this JSON file."),
) -> None:
    """Score a model: accuracy, macro-F1, macro-recall, per-class scores and the confusion matrix."""
    from ..errors import DataError
    from ..evaluate import evaluate as run_evaluation
    from ..evaluate import print_report
    from ..fileio import write_json_atomic

    if json_out is not None and not json_out.parent.is_dir():
        raise DataError(f"{json_out}: folder {json_out.parent} does not exist")
    report = run_evaluation(checkpoint, data, split, data_dir, batch_size, device, text_column, label_column)
    print_report(report, stdout())
    if json_out is not None:
        write_json_atomic(json_out, report)
