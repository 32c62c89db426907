"""``--engine ray`` for sweeps (``hbilstm compare``, ``hbilstm benchmark``): each training of the
sweep is one Ray task, asking for ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs (a fraction
packs several runs on one GPU), so that Ray places the runs on whatever the cluster (or this
machine, in a local Ray instance) holds.

Each task calls the same :func:`hbilstm.study.sweep.execute` as the local engine (passed in, so
that this module does not import the sweep's): the runs are
ordinary run directories, a finished run is skipped and an interrupted one resumed by the next
sweep, and the report is the same. The run directories are written by the nodes that train them,
so on a cluster of several machines the output folder must be on storage that every node sees at
the same path, and each node needs hbilstm installed.

Interrupting the sweep (Ctrl-C) cancels the tasks still running; each keeps its last epoch's
checkpoint, and running the same command again resumes them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ..errors import ConfigError, TrainingInterrupted
from ..ray_cluster import check_fits, connected, import_ray
from .relay import EpochRelay


@dataclass(frozen=True)
class RayEngine:
    """Where and how the runs of a sweep go on Ray."""

    address: str | None = None  # None: $RAY_ADDRESS, else a local Ray instance
    cpus_per_run: int = 1  # also each run's torch threads
    gpus_per_run: float = 0.0  # 0: none; 0.25 packs four runs on a GPU
    max_running: int | None = None  # None: as many as the resources allow

    def __post_init__(self) -> None:
        if self.cpus_per_run < 1:
            raise ConfigError(f"--cpus-per-run must be at least 1, not {self.cpus_per_run}")
        if self.gpus_per_run < 0 or (self.gpus_per_run > 1 and self.gpus_per_run != int(self.gpus_per_run)):
            raise ConfigError(f"--gpus-per-run must be 0, a fraction of one GPU or a whole number, "
                              f"not {self.gpus_per_run:g}")


def _train_task(execute: Callable, run, threads: int, queue) -> dict:
    """One run through ``execute``, on a Ray worker: its outcome, and each finished epoch put on ``queue``."""

    def report(record: dict) -> None:
        queue.put((run.name, record["epoch"]))

    return execute(run, threads, report)


def run_on_ray(todo: list, engine: RayEngine, execute: Callable, notify: Callable,
               record_failure: Callable, take_next: Callable) -> list[dict]:
    """Train the runs of ``todo`` as Ray tasks, each through ``execute(run, threads, on_epoch)``
    (:func:`hbilstm.study.sweep.execute`, shipped to the workers by reference); return their
    outcomes, in the order they finished. ``notify(event, run, info)`` as in
    :func:`~hbilstm.study.sweep.run_sweep`; ``record_failure(run, message)`` records a task that Ray
    lost (its worker died) as a failed run; ``take_next(waiting, busy, outcomes, notify)``
    (:func:`~hbilstm.study.sweep.take_next`) picks the next run that may start, so that a run
    that starts from another's model waits for it."""
    ray = import_ray("--engine ray")
    from ray.util.queue import Queue

    with connected(ray, engine.address) as address:
        check_fits(ray, engine.cpus_per_run, engine.gpus_per_run, address)
        task = ray.remote(num_cpus=engine.cpus_per_run, num_gpus=engine.gpus_per_run, max_retries=0)(_train_task)
        queue = Queue()
        waiting, pending, outcomes = list(todo), {}, []
        relay = EpochRelay(todo, notify)
        limit = engine.max_running or len(todo)
        try:
            while waiting or pending:
                while len(pending) < limit:
                    run = take_next(waiting, {r.name for r in pending.values()}, outcomes, notify)
                    if run is None:
                        break
                    pending[task.remote(execute, run, engine.cpus_per_run, queue)] = run
                if not pending:  # every run left was recorded as failed before it started
                    break
                done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                relay.drain(queue)
                for ref in done:
                    run = pending.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.RayError as error:
                        cause = getattr(error, "cause", None)
                        if isinstance(cause, TrainingInterrupted):  # the worker was told to stop
                            raise TrainingInterrupted(str(cause)) from None
                        outcome = record_failure(run, str(error).strip().splitlines()[0])
                    outcomes.append(outcome)
                    notify("done", run, outcome)
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            time.sleep(0.5)  # let the cancelled workers go before Ray shuts down
            raise TrainingInterrupted(f"sweep interrupted; {len(pending)} run(s) stopped at their last checkpoint; "
                                      "run the same command again to resume") from None
    return outcomes
