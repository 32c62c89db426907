"""``hbilstm distill``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import ConfigError
from . import options
from ._app import app, user_errors
from .train import parse_sets, run_and_report


@app.command()
@user_errors
def distill(
    teachers: List[str] = typer.Option([], "--teacher", "-t", metavar="MODEL",
                                       help="A trained model to learn from (repeat for an ensemble): a run "
                                            "directory, model.pt or exported folder, of the same task; or "
                                            "hf:MODEL, a transformers classifier (Hub id or saved folder)."),
    unlabelled: List[Path] = typer.Option([], "--unlabelled", "-u", metavar="FILE",
                                          help="Tweets the teachers label too (.txt, .csv, .tsv, .jsonl, "
                                               ".parquet; repeatable); val and test tweets are dropped."),
    config: Optional[Path] = options.config(),
    data: Optional[str] = options.data("The teachers' dataset (its train split is labelled by the teachers; val "
                                       "and test keep their labels).  [default: tweeteval-sentiment]"),
    data_dir: Optional[str] = options.data_dir(),
    temperature: Optional[float] = options.train_option("distill_temperature", "T",
                                                        "Temperature softening the teachers and the student.",
                                                        flag="--temperature"),
    hard_weight: Optional[float] = options.train_option(
        "distill_hard_weight", "A", "The gold label's share of a labelled tweet's target, 0 to 1 (the teachers "
                                    "have the rest; unlabelled tweets learn the teachers' alone).",
        flag="--hard-weight"),
    init: Optional[str] = typer.Option(None, "--init", metavar="PRETRAINED",
                                       help="Start the student from a pretrained encoder (as train --init)."),
    layers: Optional[int] = options.train_option("layers", "N", "The student's stacked layers."),
    epochs: Optional[int] = options.train_option("epochs", "N", "Most epochs to train."),
    device: Optional[str] = options.device(None),
    seed: Optional[int] = options.train_option("seed", "N", "Random seed."),
    threads: Optional[int] = options.train_option("threads", "N", "CPU threads for torch (0: torch's default)."),
    sets: List[str] = options.sets("hidden=128"),
    out: Optional[Path] = options.output("The student's run directory.", metavar="DIR", required=True),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run in --output."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a finished run in --output."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or epoch lines."),
    export: Optional[bool] = typer.Option(None, "--export/--no-export",
                                          help="Also write RUN_DIR/export, as train does.  [default: export]"),
) -> None:
    """Train one student model on the averaged, temperature-softened probabilities of TEACHERs
    (an ensemble's accuracy in one model of the usual size and speed).

    The student learns the teachers' soft labels of the task's training tweets and of any
    --unlabelled tweets; it is selected, calibrated and scored on the task's real val and test
    labels. The result is an ordinary run directory. A trained teacher's probabilities are kept
    in the cache ($HBILSTM_CACHE_DIR, default ~/.cache/hbilstm), so distilling the same teachers
    over the same tweets again (another seed or temperature) does not score them again.

    Examples:

    \b
      hbilstm distill -t runs/a -t runs/b -t runs/c -o runs/student
      hbilstm distill -t runs/a -t runs/b -u more_tweets.txt --temperature 3 -o runs/student
      hbilstm distill -t hf:cardiffnlp/twitter-roberta-base-sentiment-latest -o runs/student
    """
    from ..config import load_config
    from ..training import load_run_config

    named = {"data": data, "data_dir": data_dir, "distill_temperature": temperature,
             "distill_hard_weight": hard_weight, "init": init,
             "layers": layers, "epochs": epochs, "device": device, "seed": seed, "threads": threads}
    overrides = {**parse_sets(sets), **{k: v for k, v in named.items() if v is not None}}
    if resume:
        if config is not None:
            raise ConfigError("--resume reads the run's own config.yaml; leave out --config")
        settings = load_run_config(out, overrides)
    else:
        if not teachers:
            raise ConfigError("give at least one --teacher MODEL (a trained run of the same task)")
        overrides["teachers"] = ",".join(teachers)
        overrides["unlabelled"] = ",".join(str(f) for f in unlabelled) or None
        settings = load_config(config, overrides)
    run_and_report(settings, out, resume, overwrite, quiet, export)
