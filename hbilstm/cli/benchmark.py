"""``hbilstm benchmark``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from . import options
from ._app import app, stderr, user_errors


@app.command()
@user_errors
def benchmark(
    suite: str = typer.Argument(..., metavar="SUITE", help="The benchmark: tweeteval (its seven tasks)."),
    out: Path = options.output("Folder for the runs, the leaderboard and the prediction files, e.g. "
                               "reports/tweeteval.", "--out", required=True, metavar="DIR"),
    tasks: Optional[str] = typer.Option(
        None, "--tasks", metavar="TASK,TASK,...",
        help="Some of emoji, emotion, hate, irony, offensive, sentiment, stance.  [default: all seven]"),
    seeds: int = typer.Option(3, "--seeds", min=1, metavar="N", help="Seeds per task (1..N)."),
    init_from: Optional[str] = typer.Option(
        None, "--init-from", metavar="TASK",
        help="Start every other task from TASK's run of the same seed (as train --init), e.g. sentiment. "
             "TASK is trained too, first in each seed; the others wait for it."),
    config: Optional[Path] = options.config(),
    data_dir: Optional[str] = options.data_dir(),
    sets: List[str] = options.sets("epochs=5 (the same for every task)"),
    jobs: int = options.jobs(),
    retry_failed: bool = options.retry_failed(),
    engine: str = options.sweep_engine(),
    address: Optional[str] = options.ray_address(),
    cpus_per_run: int = options.cpus_per_run(),
    gpus_per_run: float = options.gpus_per_run(),
) -> None:
    """Train every TweetEval task with one recipe and write the leaderboard.

    Each task and seed is an ordinary run directory under OUT/runs/, trained with the same
    recipe (--config, --set) and stopped early and scored on test once by the task's official
    metric. OUT gets leaderboard.md, .html, .csv and a bar chart (.png), with TweetEval's
    published rows and ALL(TE), the mean of the seven tasks, beside ours (mean ± sd over seeds;
    with --set decision_offsets=true or auto, the same models without their offsets too), the mean val
    score over the tasks (without offsets) to choose recipes by, and predictions/ in the layout
    TweetEval's scorer reads. Rerunning the command skips finished runs and resumes unfinished
    ones. With --init-from TASK, each other task's run starts from the model of TASK's run of the
    same seed, as train --init does (the smaller tasks gain from a sentiment model).

    Examples:

    \b
      hbilstm benchmark tweeteval -o reports/tweeteval --seeds 3
      hbilstm benchmark tweeteval -o reports/small --tasks irony,emotion --seeds 1 --set epochs=3
      hbilstm benchmark tweeteval -o reports/tweeteval --init-from sentiment --engine ray --cpus-per-run 2
    """
    from ..config import load_config
    from ..errors import ConfigError
    from ..study.sweep import check_data, check_reusable, locate_base, parse_values, run_sweep, save_sweep
    from ..study.tweeteval import (
        axes,
        parse_init_from,
        parse_tasks,
        plan_benchmark,
        record_session,
        with_init_task,
        write_leaderboard,
    )
    from ._progress import SweepProgress

    started = time.perf_counter()
    if suite != "tweeteval":
        raise ConfigError(f"unknown benchmark {suite!r}; the benchmarks are: tweeteval")
    first = parse_init_from(init_from)
    chosen = with_init_task(parse_tasks(tasks), first)
    ray = options.ray_engine(engine, address, cpus_per_run, gpus_per_run, jobs)
    fixed = {}
    for pair in sets:
        key, raw = options.split_set(pair)
        values = parse_values(raw)
        if len(values) != 1 or key in ("data", "seed"):
            raise ConfigError(f"--set {key}: one value, the same for every task (the tasks and seeds are the sweep)")
        fixed[key] = values[0]
    base = locate_base(out, load_config(config, {"data_dir": data_dir, **fixed}))
    runs = plan_benchmark(base, chosen, seeds, out, first)
    check_reusable(runs)  # before anything is written or trained
    if address is None:  # a Ray cluster reads the data from its own storage, which may not be here
        check_data(runs)
    command = " ".join(["hbilstm", *sys.argv[1:]])
    save_sweep(out, base, axes(chosen, seeds), ["hbilstm", *sys.argv[1:]])
    console = stderr()
    try:
        with SweepProgress(console, runs) as progress:
            run_sweep(runs, jobs=jobs, retry_failed=retry_failed, progress=progress,
                      engine=ray)
    finally:
        record_session(out, time.perf_counter() - started)
    paths = write_leaderboard(out, command, base.data_dir)
    console.print(f"leaderboard: {paths['markdown']}, {paths['html']}, {paths['csv']} and {paths['plot']}")
