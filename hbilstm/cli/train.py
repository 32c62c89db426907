"""``hbilstm train``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..config import parse_scalar
from ..errors import ConfigError
from . import options
from ._app import app, stderr, stdout, user_errors


def parse_sets(pairs: list[str]) -> dict:
    """``KEY=VALUE`` pairs; a value is a number, ``true``/``false``/``null``, or text."""
    out = {}
    for pair in pairs:
        key, raw = options.split_set(pair)
        out[key] = parse_scalar(raw)
    return out


@app.command()
@user_errors
def train(
    config: Optional[Path] = options.config(),
    data: Optional[str] = options.data(
        "Dataset name (tweeteval-sentiment, tweeteval-sentiment-binary, sst2, sst5) or a path to a folder or file."),
    data_dir: Optional[str] = options.data_dir(),
    layers: Optional[int] = options.train_option("layers", "N", "Number of stacked Highway BiLSTM layers."),
    hidden: Optional[int] = options.train_option("hidden", "N", "LSTM units per direction."),
    carry: Optional[str] = options.train_option("carry", "NAME", "highway, plain, residual or gated-residual."),
    gate_bias: Optional[float] = options.train_option("gate_bias", "X", "Initial transform-gate bias."),
    epochs: Optional[int] = options.train_option("epochs", "N", "Most epochs to train."),
    batch_size: Optional[int] = options.train_option("batch_size", "N", "Tweets per batch."),
    lr: Optional[float] = options.train_option("lr", "X", "AdamW learning rate."),
    dropout: Optional[float] = options.train_option("dropout", "P", "Dropout on embeddings and pooled features."),
    embeddings: Optional[str] = typer.Option(
        None, "--embeddings", metavar="SOURCE",
        help="Pretrained vectors: a GloVe/word2vec text file (plain or .gz), an installed spaCy package with vectors "
             "(en_core_web_md), or a spaCy vectors folder."),
    freeze_embeddings: Optional[bool] = typer.Option(
        None, "--freeze-embeddings/--train-embeddings",
        help="Keep pretrained vectors fixed, or fine-tune them."),
    init: Optional[str] = typer.Option(
        None, "--init", metavar="PRETRAINED",
        help="Start the embeddings, the stack and the attention from an encoder: a run directory of "
             "`hbilstm pretrain` (its encoder.pt) or of `hbilstm train` on another task (its model.pt), or the "
             "file. The vocabulary is the encoder's, then the task's words it lacks; the model's shape and the "
             "tokenizer settings must be the encoder's. With --embeddings too, the vectors are joined, fixed, "
             "beside the encoder's embeddings, unless the encoder was trained with them as its embeddings. A "
             "model trained on the same labels gives its classifiers too."),
    device: Optional[str] = options.device(None),
    seed: Optional[int] = options.train_option("seed", "N", "Random seed."),
    log_to: Optional[str] = options.train_option(
        "log_to", "NAME", "none, or tensorboard: write hyperparameters, per-epoch scores, gate means and test scores "
        "to RUN_DIR/tensorboard; view with: tensorboard --logdir RUN_DIR/tensorboard (needs pip install "
        "\"hbilstm[tensorboard]\")."),
    threads: Optional[int] = options.train_option("threads", "N", "CPU threads for torch (0: torch's default)."),
    sets: List[str] = options.sets("pooling=mean"),
    out: Optional[Path] = options.output("Run directory.  [default: "
                                         "runs/<data>-<carry>-L<layers>-<time>]", "--out", metavar="DIR"),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run in --output."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a finished run in --output."),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="No progress bar or epoch lines (the final scores and paths are still printed)."),
    export: Optional[bool] = typer.Option(
        None, "--export/--no-export",
        help="At the end, also write the model as RUN_DIR/export, a model folder with model.onnx (as `hbilstm "
             "export` writes), which `hbilstm predict RUN_DIR` then scores with ONNX Runtime without loading "
             "PyTorch: about half the time on a 12,000-line file.  [default: export, unless onnx, onnxruntime, "
             "onnxscript or safetensors has been uninstalled]"),
) -> None:
    """Train a model and keep its best epoch as RUN_DIR/model.pt, and as RUN_DIR/export for quick
    prediction without PyTorch.

    Prints one line per epoch and, at the end, the best model's validation and test scores.
    Ctrl-C stops at the next batch with a resumable state: rerun with --output RUN_DIR --resume.
    On 2 CPU cores (2026-12-04) the 3-epoch example took 100 s end to end and one
    epoch of the 10-layer one 118 s.
    Under torchrun, N processes (GPUs, or machines) share every batch of --batch-size.

    Examples:

    \b
      hbilstm train --epochs 3 -o runs/first
      hbilstm train --layers 10 -o runs/deep
      torchrun --standalone --nproc-per-node 4 -m hbilstm train -o runs/ddp
    """
    from ..config import load_config
    from ..training import load_run_config

    named = {
        "data": data, "data_dir": data_dir, "layers": layers, "hidden": hidden, "carry": carry,
        "gate_bias": gate_bias, "epochs": epochs, "batch_size": batch_size, "lr": lr,
        "dropout": dropout, "embeddings": embeddings, "freeze_embeddings": freeze_embeddings,
        "device": device, "seed": seed, "init": init, "log_to": log_to, "threads": threads,
    }
    # A flag left out must not hide the same option given with --set; a flag given wins.
    overrides = {**parse_sets(sets), **{k: v for k, v in named.items() if v is not None}}
    if resume:
        if out is None:
            raise ConfigError("--resume needs --output RUN_DIR")
        if config is not None:
            raise ConfigError("--resume reads the run's own config.yaml; leave out --config")
        settings = load_run_config(out, overrides)
    else:
        settings = load_config(config, overrides)
    run_and_report(settings, out, resume, overwrite, quiet, export)


def run_and_report(settings, out: Optional[Path], resume: bool, overwrite: bool, quiet: bool,
                   export: Optional[bool]) -> None:
    """Train as ``settings`` say, with a progress bar unless ``quiet``, export unless told not to,
    and print the best model's scores (``train`` and ``distill``)."""
    from ..evaluation.metrics import METRIC_NAMES
    from ..export.run_export import missing_packages
    from ..training import train as run_training
    from ._progress import TrainProgress

    missing = missing_packages() if export is not False else []
    if export and missing:
        raise ConfigError(f"--export needs {', '.join(missing)}, which hbilstm installs: pip install "
                          f"{' '.join(missing)} (or train with --no-export)")
    progress = None if quiet else TrainProgress(stderr())
    try:
        result = run_training(settings, out, resume=resume, overwrite=overwrite, callback=progress)
    finally:
        if progress is not None:
            progress.close()
    if not result.primary:  # under torchrun, rank 0 alone prints and exports
        return
    exported = _export(result.run_dir) if export is not False and not missing else None
    name = METRIC_NAMES[result.metric]
    lines = [f"best epoch {result.best_epoch} of {result.epochs_run} ({result.stopped}), {result.seconds:.0f}s"]
    for split, scores in (("val", result.val), ("test", result.test)):
        if scores is not None:
            lines.append(
                f"{split:>4}: {name} {100 * scores[result.metric]:.2f}  accuracy {100 * scores['accuracy']:.2f}"
                f"  macro-F1 {100 * scores['macro_f1']:.2f}  (n={scores['n']:,})"
            )
    lines.append(f"model: {result.run_dir / 'model.pt'}")
    if exported is not None:
        lines.append(f"export: {exported} (hbilstm predict {result.run_dir} scores with it, without PyTorch)")
    stdout().print("\n".join(lines))


def _export(run_dir: Path) -> Optional[Path]:
    """RUN_DIR/export written from the run's model.pt; None, with a warning, when that fails (the
    trained model is saved already, and prediction falls back to PyTorch)."""
    from ..export.run_export import export_run

    try:
        return export_run(run_dir)
    except Exception as exc:  # the exporter raises many kinds; the run itself is complete
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        typer.echo(f"warning: could not write {run_dir / 'export'} ({first}); hbilstm predict will use PyTorch",
                   err=True)
        return None
