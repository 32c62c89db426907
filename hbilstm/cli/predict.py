"""``hbilstm predict``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from . import options
from ._app import app, user_errors


@app.command()
@user_errors
def predict(
    checkpoint: Path = options.model(hub=True),
    sources: List[str] = typer.Argument(
        ..., metavar="INPUT...",
        help="Tweets: .txt (one per line), .csv, .tsv, .jsonl or .ndjson (JSON lines), .parquet, or - for stdin. "
             "With --engine ray: any number of files, folders or globs."),
    output: Optional[str] = options.output("Write here (.csv, .jsonl / .ndjson for JSON lines, or .parquet) instead of "
                                           "stdout; with --engine ray, a folder (or URI) for the Parquet "
                                           "files.", metavar="FILE"),
    text_column: str = typer.Option(
        "text", "--text-column", metavar="NAME",
        help="Column (CSV/TSV/Parquet) or field (JSONL) holding the tweet."),
    id_column: str = typer.Option(
        "id", "--id-column", metavar="NAME",
        help="Column or field copied to the output as the row id when the input has it (a row without one gets its "
             "line number); else the output has line numbers."),
    input_format: Optional[str] = typer.Option(
        None, "--input-format", metavar="FORMAT",
        help="txt, csv, tsv, jsonl or parquet (.ndjson is jsonl).  [default: from the extension; txt for stdin]"),
    fmt: Optional[str] = typer.Option(
        None, "--format", metavar="FORMAT",
        help="Output format: csv, jsonl or parquet (parquet needs -o FILE).  [default: from the output's extension; "
             "csv on stdout]"),
    batch_size: Optional[int] = options.batch_size(None, "512 on a CPU, 2048 on a GPU"),
    device: str = options.device(),
    skip_bad_lines: bool = typer.Option(
        False, "--skip-bad-lines",
        help="Keep going past malformed rows, marking them in the 'error' column."),
    workers: int = typer.Option(
        -1, "--workers", min=-1, metavar="N",
        help="Worker processes: on a CPU they tokenize and score, on a GPU they tokenize (0: none; -1: chosen from "
             "the input's size: none below 150,000 rows, where starting them costs more than they save; from there "
             "one per core on a CPU, one per core but one on a GPU, at most 8)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    backend: str = typer.Option(
        "auto", "--backend", metavar="NAME",
        help="What scores the tweets: torch (the model itself), onnx (ONNX Runtime on the CPU, with the model.onnx "
             "of MODEL: an exported folder's, the export/ folder's that `hbilstm train` leaves in a run directory, "
             "or one beside a model.pt), or auto: onnx when MODEL has a current model.onnx, "
             "onnxruntime is installed and no GPU asks for torch, else torch. Without torch to load, a "
             "12,000-line file takes half the time."),
    shard: Optional[str] = typer.Option(
        None, "--shard", metavar="K/N",
        help="Predict only shard K of N (K from 1): rows 1, 1+N, 1+2N, ... for shard 1, and so on. Each row keeps "
             "its id or its line number in the whole input; the N outputs together hold every row once. In a Slurm "
             "array (--array=1-8): --shard $SLURM_ARRAY_TASK_ID/8."),
    int8: bool = typer.Option(
        False, "--int8",
        help="Score with the weights quantized to int8 (CPU): ONNX Runtime quantizes the graph, PyTorch the LSTM "
             "and linear layers. With ONNX Runtime the full model's label for 99.7-99.8% of TweetEval test, "
             "macro-recall within 0.06 points, and 12,900 tweets/s at 1,000,000 lines on 2 cores against 8,200 "
             "(2026-12-05; docs/journal/benchmarks.md)."),
    engine: str = typer.Option(
        "local", "--engine", metavar="NAME",
        help="local (this process and its workers) or ray: Ray Data actors, each with one copy of the model, label "
             "the inputs into Parquet files in the -o folder; --workers N sets the number of actors (-1: one per "
             "CPU, or per GPU with --device cuda). Needs the ray extra."),
    address: Optional[str] = typer.Option(
        None, "--address", metavar="ADDR",
        help="With --engine ray: the Ray cluster to use, e.g. ray://head:10001 or auto.  [default: $RAY_ADDRESS, "
             "else a local Ray instance]"),
    min_confidence: Optional[float] = typer.Option(
        None, "--min-confidence", min=0.0, max=1.0, metavar="P",
        help="Label a row whose top probability is below P 'uncertain' (its probabilities are kept), to set aside "
             "the tweets the model is unsure of; `hbilstm evaluate` says how well its probabilities are calibrated."),
    threads: int = options.threads(),
) -> None:
    """Label every tweet in a file, in input order.

    There is one output row per input row. Each keeps its id (or line number) and text and gets
    the label, its confidence and one probability per class (prob_negative, ...).

    Examples:

    \b
      hbilstm predict runs/first tweets.csv --text-column body -o labelled.csv
      hbilstm predict runs/first tweets.txt --shard 2/8 -o part-2.csv
      hbilstm predict runs/first --engine ray 'archive/*.jsonl' -o labelled/
    """
    from ..errors import ConfigError

    def warn(message: str) -> None:
        typer.echo(f"warning: {message}", err=True)

    if engine == "ray":
        _predict_ray(checkpoint, sources, output, text_column=text_column, id_column=id_column,
                     batch_size=batch_size, device=device, skip_bad_lines=skip_bad_lines, workers=workers,
                     overwrite=overwrite, address=address, min_confidence=min_confidence, threads=threads or 1,
                     unsupported={"--shard": shard, "--int8": int8, "--backend onnx": backend == "onnx",
                                  "--format": fmt, "--input-format": input_format})
        return
    if engine != "local":
        raise ConfigError(f"--engine must be local or ray, not {engine!r}")
    if address is not None:
        raise ConfigError("--address names a Ray cluster: use it with --engine ray")
    if len(sources) > 1:
        raise ConfigError(f"{len(sources)} inputs given: predict reads one (or -), or many with --engine ray")
    source = sources[0]
    from ..predict import predict as run_prediction

    if input_format is not None and input_format not in ("txt", "csv", "tsv", "jsonl", "parquet"):
        from ..errors import DataError

        raise DataError(f"--input-format must be txt, csv, tsv, jsonl or parquet, not {input_format!r}")
    stats = run_prediction(
        checkpoint, source, output, text_column=text_column, id_column=id_column,
        input_format=input_format, fmt=fmt, batch_size=batch_size, device=device,
        skip_bad_lines=skip_bad_lines, overwrite=overwrite, workers=workers, backend=backend, int8=int8, shard=shard,
        min_confidence=min_confidence, threads=threads, warn=warn,
    )
    if output not in (None, "-"):
        typer.echo(f"{stats.rows:,} row{'s' * (stats.rows != 1)} -> {output} ({stats.predicted:,} predicted)", err=True)


def _predict_ray(checkpoint: Path, sources: list[str], output: Optional[str], *, unsupported: dict, workers: int,
                 address: Optional[str], overwrite: bool, **settings) -> None:
    from ..errors import ConfigError

    given = [name for name, value in unsupported.items() if value]
    if given:
        raise ConfigError(f"{given[0]} is not available with --engine ray")
    if output in (None, "-"):
        raise ConfigError("--engine ray writes Parquet files into a folder: pass -o DIR")
    from ..predict.ray_engine import RaySettings, predict_ray

    stats = predict_ray(sources, output, RaySettings(model=str(checkpoint), **settings),
                        workers=workers, address=address, overwrite=overwrite,
                        log=lambda message: typer.echo(message, err=True))
    counted = f"{stats.rows:,} rows ({stats.errors:,} without a prediction) " if stats.rows >= 0 else ""
    typer.echo(f"{stats.files} file(s), {stats.parts} part(s): {counted}-> {output}", err=True)
