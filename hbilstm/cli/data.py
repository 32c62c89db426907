"""``hbilstm data``."""

from __future__ import annotations

import json
from typing import Optional

import typer

from . import options
from ._app import app, stdout, user_errors


@app.command("data")
@user_errors
def data_command(
    data_dir: Optional[str] = options.data_dir(),
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON instead of a table."),
) -> None:
    """List the datasets in the data directory.

    For each: its name, layout, classes, rows per split and official metric. Every name listed
    works as --data NAME in train, evaluate and compare.

    Examples:

    \b
      hbilstm data
      hbilstm data --data-dir ../shared/data --json
    """
    from ..data.catalog import layout_description, list_datasets
    from ._output import print_table

    root, found = list_datasets(data_dir)
    if as_json:
        typer.echo(json.dumps({"data_dir": str(root), "datasets": [d.to_dict() for d in found]}, indent=2))
        return
    console = stdout()
    console.print(f"data directory: {root}")
    rows = []
    for d in found:
        classes = ", ".join(d.classes) if len(d.classes) <= 3 else f"{len(d.classes)} classes"
        counts = [f"{d.rows[s]:,}" if s in d.rows else "-" for s in ("train", "val", "test")]
        layout = layout_description(d.layout) if d.status == "ready" else d.status
        rows.append([d.name, layout, classes, *counts, d.metric.replace("_", "-")])
    print_table(console, ["name", "layout", "classes", "train", "val", "test", "metric"], rows,
                right=("train", "val", "test"))
