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
    checkpoint: Path = options.model(),
    data: Optional[str] = options.data("Dataset name or path.  [default: the one the model was trained on]"),
    split: Optional[str] = typer.Option(
        None, "--split", metavar="NAME",
        help="train, val or test.  [default: test; another dataset's single file is scored whole]"),
    data_dir: Optional[str] = options.data_dir(),
    text_column: Optional[str] = typer.Option(
        None, "--text-column", metavar="NAME",
        help="Text column of a CSV/TSV/JSONL dataset."),
    label_column: Optional[str] = typer.Option(
        None, "--label-column", metavar="NAME",
        help="Label column of a CSV/TSV/JSONL dataset."),
    batch_size: int = options.batch_size(256),
    device: str = options.device(),
    json_out: Optional[Path] = options.output("Also write every number to this JSON file.", "--json", metavar="FILE"),
    plot: Optional[Path] = typer.Option(None, "--plot", metavar="FILE",
                                        help="Also draw the reliability diagram (confidence against accuracy) as a "
                                             "PNG."),
    threads: int = options.threads(),
) -> None:
    """Score a model on a dataset's test split, or another split.

    Prints accuracy, macro-F1 and macro-recall, per-class scores, the confusion matrix, and the
    expected calibration error (15 bins) with the model's temperatures and without them, and the
    model's decision offsets where it has them (training's decision_offsets).

    Examples:

    \b
      hbilstm evaluate runs/first
      hbilstm evaluate runs/first --split val -o scores.json --plot reliability.png
      hbilstm evaluate runs/first --data semeval2017-task4a
    """
    from ..errors import DataError
    from ..evaluation.evaluate import evaluate as run_evaluation
    from ..fileio import unwritable_file, write_json_atomic

    for path in (json_out, plot):
        reason = unwritable_file(path) if path is not None else None
        if reason:
            raise DataError(f"{path}: {reason}")
    report = run_evaluation(checkpoint, data, split, data_dir, batch_size, device, text_column, label_column,
                            threads=threads)
    print_report(report)
    if json_out is not None:
        write_json_atomic(json_out, report)
    if plot is not None:
        from ..evaluation.reliability import plot_reliability

        plot_reliability(report, plot)


def print_report(report: dict[str, Any]) -> None:
    """The summary scores, per-class scores and the confusion matrix on standard output: tables on
    a terminal, plain aligned lines in a pipe or file."""
    from ..evaluation.metrics import METRIC_NAMES
    from ._output import print_table

    console = stdout()
    official = report["official_metric"]
    console.print(f"{report['dataset']} / {report['split']}: {report['n']:,} examples ({report['checkpoint']})")
    if report["split_note"]:
        console.print(f"{report['split']}: {report['split_note']}")
    print_table(console, ["metric", "value"],
                [[f"{name}{' (official)' if key == official else ''}", f"{100 * report[key]:.2f}"]
                 for key, name in METRIC_NAMES.items() if key in report], right=("value",))
    if report["macro_over"] != report["labels"]:
        console.print(f"macro scores average the {len(report['macro_over'])} classes present in the data: "
                      + ", ".join(report["macro_over"]))

    console.print("per class")
    print_table(console, ["class", "precision", "recall", "F1", "support"], [
        [name, f"{100 * c['precision']:.2f}", f"{100 * c['recall']:.2f}", f"{100 * c['f1']:.2f}", f"{c['support']:,}"]
        for name, c in report["per_class"].items()
    ], right=("precision", "recall", "F1", "support"))

    console.print("confusion matrix (rows: true, columns: predicted)")
    print_table(console, ["true", *report["labels"]],
                [[name, *(f"{v:,}" for v in row)] for name, row in zip(report["labels"], report["confusion"])],
                right=tuple(report["labels"]))
    if "ece" in report:
        before = report.get("ece_before_temperatures")
        console.print(f"expected calibration error ({report['calibration']['bins']} bins): {100 * report['ece']:.2f}%"
                      + (f" (without its temperatures: {100 * before:.2f}%)" if before is not None else
                         " (the model has no temperatures)"))
    if report.get("offsets"):
        console.print("decision offsets fitted on val (added to the log-probabilities): " + ", ".join(
            f"{name} {value:+.1f}" for name, value in report["offsets"].items()))
