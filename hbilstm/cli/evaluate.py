"""``hbilstm evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from . import options
from ._app import app, stdout, user_errors


@app.command()
@user_errors
def evaluate(
    checkpoint: Path = typer.Argument(..., help="A run directory (its model.pt) or a checkpoint file."),
    data: Optional[str] = options.data("Dataset name or path. (default: the one the model was trained on)"),
    split: Optional[str] = typer.Option(None, "--split", help="train, val or test. (default: test; another dataset's single file is scored whole)"),
    data_dir: Optional[str] = options.data_dir(),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="Text column of a CSV/TSV/JSONL dataset."),
    label_column: Optional[str] = typer.Option(None, "--label-column", help="Label column of a CSV/TSV/JSONL dataset."),
    batch_size: int = options.batch_size(256),
    device: str = options.device(),
    json_out: Optional[Path] = options.output("Also write every number to this JSON file.", "--json"),
) -> None:
    """Score a model: accuracy, macro-F1, macro-recall, per-class scores and the confusion matrix."""
    from ..errors import DataError
    from ..evaluation.evaluate import evaluate as run_evaluation
    from ..fileio import write_json_atomic

    if json_out is not None and not json_out.parent.is_dir():
        raise DataError(f"{json_out}: folder {json_out.parent} does not exist")
    report = run_evaluation(checkpoint, data, split, data_dir, batch_size, device, text_column, label_column)
    print_report(report)
    if json_out is not None:
        write_json_atomic(json_out, report)


def print_report(report: dict[str, Any]) -> None:
    """Rich tables on standard output: the summary scores, per-class scores and the confusion matrix."""
    from rich.table import Table

    from ..evaluation.metrics import METRIC_NAMES

    console = stdout()
    official = report["official_metric"]
    console.print(f"{report['dataset']} / {report['split']}: {report['n']:,} examples ({report['checkpoint']})")
    if report["split_note"]:
        console.print(f"{report['split']}: {report['split_note']}")
    summary = Table()
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for key, name in METRIC_NAMES.items():
        mark = " (official)" if key == official else ""
        summary.add_row(f"{name}{mark}", f"{100 * report[key]:.2f}")
    console.print(summary)
    if report["macro_over"] != report["labels"]:
        console.print(f"macro scores average the {len(report['macro_over'])} classes present in the data: "
                      + ", ".join(report["macro_over"]))

    console.print("per class")
    per_class = Table()
    for column in ("class", "precision", "recall", "F1", "support"):
        per_class.add_column(column, justify="left" if column == "class" else "right")
    for name, scores in report["per_class"].items():
        per_class.add_row(
            name, f"{100 * scores['precision']:.2f}", f"{100 * scores['recall']:.2f}",
            f"{100 * scores['f1']:.2f}", f"{scores['support']:,}",
        )
    console.print(per_class)

    console.print("confusion matrix (rows: true, columns: predicted)")
    confusion = Table()
    confusion.add_column("")
    for name in report["labels"]:
        confusion.add_column(name, justify="right")
    for name, row in zip(report["labels"], report["confusion"]):
        confusion.add_row(name, *(f"{v:,}" for v in row))
    console.print(confusion)
