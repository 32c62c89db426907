"""Sweeps: train every combination of some options, each as an ordinary run directory.

``hbilstm compare`` is a sweep over depth (``layers``), ``carry`` and ``seed``; any other training
option can be swept or fixed the same way. Every run goes through :func:`hbilstm.training.train`,
the function behind ``hbilstm train``: there is no second training loop.

A sweep directory holds ``sweep.json`` (what was asked) and ``runs/<name>/`` for each run.
Rerunning the same sweep skips finished runs, resumes interrupted ones and restarts runs that
never finished an epoch; a run that diverges or fails is recorded in its ``outcome.json`` and the
sweep goes on. A run is only ever reused for the configuration it was trained with: a sweep
whose options differ from an existing run's (``--hidden 64`` where the run used 32, another
``--config``) is refused before anything is trained or written.
"""

from __future__ import annotations

import concurrent.futures as futures
import itertools
import json
import multiprocessing
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..config import TrainConfig, load_config, parse_scalar
from ..errors import ConfigError, HbilstmError, TrainingDiverged, TrainingInterrupted
from ..fileio import refuse_file_as_folder, write_json_atomic
from .relay import EpochRelay

if TYPE_CHECKING:
    from .ray_sweep import RayEngine

SWEEP_FILE = "sweep.json"
OUTCOME_FILE = "outcome.json"
RUNS_DIR = "runs"
# How the run names spell the common axes; other axes appear as key=value.
_SHORT = {"carry": "{}", "layers": "L{}", "seed": "s{}"}


@dataclass
class PlannedRun:
    name: str
    config: TrainConfig
    run_dir: Path
    after: "PlannedRun | None" = None  # a run that must finish first (this one starts from its model)

    @property
    def cost(self) -> int:
        """Relative cost, for progress and ETA: epochs times layers."""
        return self.config.epochs * self.config.layers


def plan(base: TrainConfig, axes: dict[str, list[Any]], out: Path) -> list[PlannedRun]:
    """One run per combination of the axes' values, cheapest (shallowest) first."""
    refuse_file_as_folder(out, "--output takes a folder for the study's runs and report")
    for key in axes:
        if key not in base.to_dict():
            raise ConfigError(f"cannot sweep unknown option {key!r}")
        if not axes[key]:
            raise ConfigError(f"option {key!r} has no values to sweep")
    keys = list(axes)
    runs = []
    for values in itertools.product(*(axes[k] for k in keys)):
        changes = dict(zip(keys, values))
        config = base.replace(**changes)  # validates every value before any run starts
        runs.append(PlannedRun(run_name(changes), config, out / RUNS_DIR / run_name(changes)))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ConfigError("two runs of the sweep would share a name; give each swept value once")
    return sorted(runs, key=lambda r: (r.config.layers, names.index(r.name)))


def run_name(changes: dict[str, Any]) -> str:
    parts = []
    for key in ("carry", "layers", "seed"):
        if key in changes:
            parts.append(_SHORT[key].format(changes[key]))
    parts += [f"{k}={v}" for k, v in changes.items() if k not in _SHORT]
    return "-".join(str(p).replace("/", "_").replace(" ", "_") for p in parts) or "run"


# Options that say where and how fast a run trains (or where it is logged), not what it trains:
# they may differ between the sweep that started a run and the one that reuses it.
EXECUTION_OPTIONS = ("device", "threads", "log_to")


def config_changes(run: PlannedRun) -> dict[str, tuple[Any, Any]]:
    """``{option: (trained with, asked now)}`` for a run directory whose saved config differs
    from the planned one; empty when they agree or the run has not started."""
    path = run.run_dir / "config.yaml"
    if not path.is_file():
        return {}
    # Compared where the data is, not how it was named: a run stores its data's resolved location.
    saved = load_config(path, written_by_a_run=True).located().to_dict()
    planned = run.config.located().to_dict()
    return {k: (saved.get(k), v) for k, v in planned.items() if k not in EXECUTION_OPTIONS and saved.get(k) != v}


def check_reusable(runs: list[PlannedRun]) -> None:
    """ConfigError naming the first run directory trained with other options than planned."""
    for run in runs:
        changes = config_changes(run)
        if changes:
            key, (was, now) = next(iter(changes.items()))
            raise ConfigError(
                f"{run.run_dir} was trained with {key} {was!r}, this sweep asks {now!r}"
                + (f" (and {len(changes) - 1} more option(s) differ)" if len(changes) > 1 else "")
                + "; its results would not match the report's settings: use another --output"
            )


def check_data(runs: list[PlannedRun]) -> None:
    """Read each dataset that the runs still to train use, before any starts: a missing or
    malformed one is the sweep's one-line error, not a failure recorded in every run."""
    from ..data.corpora import load_corpus

    for where in dict.fromkeys((r.config.data, r.config.data_dir, r.config.text_column, r.config.label_column,
                                r.config.id_column) for r in runs if run_state(r) != "finished"):
        load_corpus(*where)


def run_state(run: PlannedRun) -> str:
    """``finished``, ``failed`` (diverged or errored, recorded), ``interrupted`` or ``new``."""
    if (run.run_dir / "results.json").is_file():
        return "finished"
    if (run.run_dir / OUTCOME_FILE).is_file():
        return "failed"
    if (run.run_dir / "last.pt").is_file():
        return "interrupted"
    return "new"


def execute(run: PlannedRun, threads: int, on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Train one run (resuming it if it was interrupted); return its outcome as a dict.

    Divergence and errors are recorded in ``outcome.json`` and returned, never raised, so that a
    sweep goes on; an interruption (Ctrl-C) is raised so that the sweep stops.
    """
    import torch

    from ..training import TrainCallback, train

    class EpochReport(TrainCallback):
        def epoch_end(self, record: dict) -> None:
            if on_epoch is not None:
                on_epoch(record)

    if threads:
        torch.set_num_threads(threads)
    state = run_state(run)
    started = time.perf_counter()
    try:
        result = train(run.config, run.run_dir, resume=state == "interrupted", overwrite=state == "new",
                       callback=EpochReport())
    except TrainingInterrupted:
        raise
    except TrainingDiverged as exc:
        return _record(run, "diverged", str(exc), started)
    except HbilstmError as exc:
        return _record(run, "failed", str(exc), started)
    except Exception as exc:  # a bug in one run must not end a day-long sweep
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return _record(run, "failed", detail, started, traceback.format_exc())
    split, scores = ("test", result.test) if result.test is not None else ("val", result.val)
    return {"name": run.name, "status": "finished", "seconds": time.perf_counter() - started,
            "metric": result.metric, "split": split, "score": scores[result.metric]}


def _record(run: PlannedRun, status: str, message: str, started: float, trace: str | None = None) -> dict:
    run.run_dir.mkdir(parents=True, exist_ok=True)
    outcome = {"name": run.name, "status": status, "message": message, "seconds": time.perf_counter() - started}
    write_json_atomic(run.run_dir / OUTCOME_FILE, {**outcome, "traceback": trace})
    return outcome


def _worker(run: PlannedRun, threads: int, queue) -> dict:
    def report(record: dict) -> None:
        queue.put((run.name, record["epoch"]))

    return execute(run, threads, report)


def locate_base(out: Path, base: TrainConfig) -> TrainConfig:
    """``base`` with its data located (see :meth:`TrainConfig.located`). A sweep extended in the
    same folder without ``--data-dir`` keeps the data location its earlier runs were trained
    with, as long as that folder still exists."""
    if base.data_dir is None and (out / SWEEP_FILE).is_file():
        stored = json.loads((out / SWEEP_FILE).read_text(encoding="utf-8")).get("base", {})
        where = stored.get("data_dir")
        if stored.get("data") == base.data and where and Path(where).is_dir():
            base = base.replace(data_dir=where)
    return base.located()


def save_sweep(out: Path, base: TrainConfig, axes: dict[str, list[Any]], command: list[str]) -> None:
    """Record what was asked. A sweep extended in the same folder (more depths, more seeds)
    keeps every value asked so far on each axis, and every command, in ``sweep.json``."""
    out.mkdir(parents=True, exist_ok=True)
    previous = json.loads((out / SWEEP_FILE).read_text(encoding="utf-8")) if (out / SWEEP_FILE).is_file() else {}
    merged = {}
    for key in {**previous.get("axes", {}), **axes}:
        values = list(previous.get("axes", {}).get(key, []))
        values += [v for v in axes.get(key, []) if v not in values]
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        merged[key] = sorted(values) if numbers else values
    commands = previous.get("commands", [previous["command"]] if "command" in previous else []) + [command]
    write_json_atomic(out / SWEEP_FILE, {"axes": merged, "base": base.to_dict(), "commands": commands})


def run_sweep(
    runs: list[PlannedRun],
    jobs: int = 1,
    retry_failed: bool = False,
    progress: Callable[[str, PlannedRun | None, dict | None], None] | None = None,
    engine: "RayEngine | None" = None,
) -> list[dict]:
    """Run what is left of a sweep, ``jobs`` trainings at a time (or as Ray tasks, with an
    ``engine``: :mod:`hbilstm.study.ray_sweep`); return the new outcomes.

    ``progress(event, run, info)`` hears ``"start"``, ``"epoch"`` (info: ``{"epoch": n}``),
    ``"done"`` (info: the outcome) and ``"skip"`` events.
    """
    notify = progress or (lambda event, run, info: None)
    todo = []
    for run in runs:
        state = run_state(run)
        if state == "finished" or (state == "failed" and not retry_failed):
            notify("skip", run, {"state": state})
            continue
        if state == "failed":
            (run.run_dir / OUTCOME_FILE).unlink()
        todo.append(run)
    if not todo:
        return []
    if engine is not None:
        from .ray_sweep import run_on_ray

        return run_on_ray(todo, engine, execute, notify,
                          lambda run, message: _record(run, "failed", message, time.perf_counter()),
                          take_next)
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    outcomes: list[dict] = []
    if jobs <= 1:
        while (taken := take_next(todo, set(), outcomes, notify)) is not None:
            notify("start", taken, None)
            outcome = execute(taken, 0, lambda record, run=taken: notify("epoch", run, {"epoch": record["epoch"]}))
            outcomes.append(outcome)
            notify("done", taken, outcome)
        return outcomes
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        queue = manager.Queue()
        relay = EpochRelay(todo, notify)
        with futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            pending: dict = {}
            while todo or pending:
                while len(pending) < jobs:
                    taken = take_next(todo, {run.name for run in pending.values()}, outcomes, notify)
                    if taken is None:
                        break
                    pending[pool.submit(_worker, taken, threads, queue)] = taken
                done, _ = futures.wait(pending, timeout=0.5, return_when=futures.FIRST_COMPLETED)
                relay.drain(queue)
                for future in done:
                    run = pending.pop(future)
                    outcome = future.result()  # TrainingInterrupted propagates: the sweep stops
                    outcomes.append(outcome)
                    notify("done", run, outcome)
    return outcomes


def take_next(waiting: list[PlannedRun], busy: set[str], outcomes: list[dict],
              notify: Callable[[str, PlannedRun | None, dict | None], None]) -> PlannedRun | None:
    """Remove from ``waiting`` and return the first run that can start now: one that starts from
    no other run (:attr:`PlannedRun.after`), or whose run has finished. A run whose run has failed,
    or was not trained, is recorded as failed on the way (its outcome added to ``outcomes`` and
    passed to ``notify``), so that rerunning with ``--retry-failed`` trains both. None when
    ``waiting`` is empty or each run in it waits for one still waiting or in ``busy``."""
    while True:
        names = {run.name for run in waiting} | busy
        run = next((r for r in waiting if r.after is None or r.after.name not in names), None)
        if run is None:
            return None
        waiting.remove(run)
        if run.after is None or run_state(run.after) == "finished":
            return run
        outcome = _record(run, "failed", f"not trained: {run.after.name}, the run it starts from, "
                                         f"did not finish ({run_state(run.after)})", time.perf_counter())
        outcomes.append(outcome)
        notify("done", run, outcome)


def parse_values(raw: str) -> list[Any]:
    """``"1,2,4"`` -> ``[1, 2, 4]``; each value a number, boolean, null or text."""
    values = []
    for part in raw.split(","):
        if not part.strip():
            raise ConfigError(f"empty value in {raw!r}")
        values.append(parse_scalar(part))
    return values


def load_sweep(out: Path) -> dict:
    path = out / SWEEP_FILE
    if not path.is_file():
        raise ConfigError(f"{out}: no {SWEEP_FILE} here; is this a compare output folder?")
    return json.loads(path.read_text(encoding="utf-8"))


def run_dirs(out: Path) -> Iterable[Path]:
    root = out / RUNS_DIR
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
