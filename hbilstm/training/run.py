"""``train(config, out)``: what ``hbilstm train`` (and every run of a sweep) calls.

A run directory holds:

* ``config.yaml``   the resolved options;
* ``manifest.json`` seed, software versions, git commit, device and data-file hashes;
* ``metrics.jsonl`` one line per finished epoch (train loss and accuracy, validation scores);
* ``model.pt``      the best epoch's model (by the validation set's official metric);
* ``last.pt``       everything needed to resume: weights, optimizer, position, RNG states;
* ``results.json``  the best model's validation and test scores, written at the end;
* ``tensorboard/``  TensorBoard event files, with ``log_to: tensorboard`` (see :mod:`hbilstm.tracking`).

Every file is written atomically. SIGINT/SIGTERM stop at the next batch with a resumable
``last.pt``; ``--resume`` continues to the same weights an uninterrupted run reaches.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import torch

from ..callbacks import TrainCallback
from ..checkpoint import MODEL_FILE, RESUME_FILE, load_checkpoint, save_checkpoint
from ..config import TrainConfig, from_dict, load_config, stored, to_yaml
from ..data.corpora import load_corpus
from ..data.spacy_vectors import is_spacy_source
from ..errors import ConfigError, TrainingDiverged
from ..fileio import refuse_file_as_folder, write_json_atomic, write_text_atomic
from ..inference import cpu_settings, layer_statistics, predict_part_logits, resolve_device
from ..tracking import open_tracker
from .calibration import fit_temperatures
from .checkpoints import RunCheckpoints
from .distributed import Distributed
from .hub_teacher import check_hub_teacher, is_hub_teacher
from .loop import METRICS_FILE, Trainer
from .manifest import build_manifest
from .offsets import CUTS, FOLDS, MARGIN, auto, fit_offsets
from .parts import build
from .state import TrainState
from .warm_start import encoder_path

if TYPE_CHECKING:
    from ..tracking.base import Tracker

CONFIG_FILE, MANIFEST_FILE, RESULTS_FILE = "config.yaml", "manifest.json", "results.json"
RUN_FILES = (CONFIG_FILE, MANIFEST_FILE, METRICS_FILE, RESULTS_FILE, MODEL_FILE, RESUME_FILE)
# Options that may change when a run is resumed; the rest define the run.
RESUMABLE_OVERRIDES = ("epochs", "patience", "device", "threads", "amp", "cuda_graphs", "log_to")


@dataclass
class TrainResult:
    run_dir: Path
    metric: str
    best_epoch: int
    best_value: float
    epochs_run: int
    stopped: str  # "completed" | "early-stopped"
    val: dict
    test: dict | None
    seconds: float
    primary: bool = True  # False on the ranks of a torchrun job other than 0, which print nothing


def default_run_dir(config: TrainConfig) -> Path:
    name = Path(config.data).name if Path(config.data).exists() else config.data
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{config.carry}-L{config.layers}-{stamp}"


def load_run_config(run_dir: Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The saved config of a run, with the options that may change on resume applied."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no {CONFIG_FILE} here, so nothing to resume")
    config = load_config(path, written_by_a_run=True)
    changes = {k: v for k, v in (overrides or {}).items() if v is not None}
    fixed = [k for k, v in changes.items() if k not in RESUMABLE_OVERRIDES and getattr(config, k) != v]
    if fixed:
        raise ConfigError(
            f"--{fixed[0].replace('_', '-')} cannot change when resuming (only "
            f"{', '.join('--' + k for k in RESUMABLE_OVERRIDES)} can)"
        )
    return config.replace(**changes)


@contextlib.contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """Turn the first SIGINT/SIGTERM into a flag checked between batches; a second SIGINT
    interrupts at once."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def refuse_resume_with_overwrite(resume: bool, overwrite: bool) -> None:
    """ConfigError when a run is asked both to continue and to start again (train, pretrain)."""
    if resume and overwrite:
        raise ConfigError("--resume continues the run in --output and --overwrite starts it again: give one")


def _check_run_dir(run_dir: Path, resume: bool, overwrite: bool, config: TrainConfig) -> dict | None:
    """Refuse to touch an existing run unless told how; return the state to resume from.

    ``--resume`` on a run stopped before its first checkpoint returns None (start afresh); on a
    finished run with nothing left to train it says how to train longer or start again.
    """
    refuse_resume_with_overwrite(resume, overwrite)
    refuse_file_as_folder(run_dir, "--output takes a folder for the run")
    if resume:
        if not (run_dir / RESUME_FILE).is_file():
            if (run_dir / MODEL_FILE).exists() or (run_dir / RESULTS_FILE).exists():
                raise ConfigError(f"{run_dir}: no {RESUME_FILE} to resume from; use --overwrite to start again")
            return None
        saved = load_checkpoint(run_dir / RESUME_FILE, kind="resume")
        if (run_dir / RESULTS_FILE).is_file():
            _check_unfinished(run_dir, TrainState.from_dict(saved, config.patience), config)
        return saved
    existing = [f for f in RUN_FILES if (run_dir / f).exists()]
    if existing and not overwrite:
        raise ConfigError(
            f"{run_dir} already holds a run ({', '.join(existing)}); use --resume to continue it "
            "or --overwrite to start again"
        )
    return None


def _check_unfinished(run_dir: Path, state: TrainState, config: TrainConfig) -> None:
    """ConfigError when a finished run would train no further with ``config``'s epochs and patience."""
    epochs_run = len(state.history)
    if state.epoch <= config.epochs and not state.stopping.should_stop:
        return
    why = (f"stopped early after {epochs_run} epochs (patience {config.patience})" if state.stopping.should_stop
           else f"trained all {epochs_run} of --epochs {config.epochs}")
    raise ConfigError(
        f"{run_dir} is a finished run ({why}; best epoch {state.stopping.best_epoch}); to train longer, "
        f"resume with a larger --epochs (and --set patience=0 not to stop early); to start again, use --overwrite"
    )


def _clear_run_dir(run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)


def _check_resumable(saved: dict, config: TrainConfig) -> None:
    saved_config = from_dict(stored(saved["train_config"])).located()
    changed = [k for k in saved_config.to_dict()
               if k not in RESUMABLE_OVERRIDES and getattr(saved_config, k) != getattr(config, k)]
    if changed:
        raise ConfigError(f"{changed[0]} differs from the run being resumed")


def _check_same_data(before: list[dict], now: list[dict]) -> None:
    """ConfigError when the data files differ from those the run started with (by content)."""
    old = {Path(f["path"]).name: f["sha256"] for f in before}
    new = {Path(f["path"]).name: f["sha256"] for f in now}
    for name in sorted(old.keys() | new.keys()):
        if old.get(name) != new.get(name):
            what = "changed" if name in old and name in new else "is new" if name in new else "is gone"
            raise ConfigError(
                f"data file {name} {what} since the run started (manifest.json records its SHA-256); "
                "resuming would train on other data: restore the file, or start a new run"
            )


def train(
    config: TrainConfig,
    out: str | Path | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    callback: TrainCallback | None = None,
) -> TrainResult:
    """Train a model as ``config`` says, in run directory ``out``; see the module docs.

    Raises :class:`~hbilstm.errors.TrainingInterrupted` after saving a resumable state when
    SIGINT or SIGTERM arrives, :class:`~hbilstm.errors.TrainingDiverged` when the loss stops
    being finite, and other :class:`~hbilstm.errors.HbilstmError` for bad options or data, before
    any work starts. ``callback`` hears progress (see :class:`TrainCallback`); without one,
    training is silent.
    """
    dist = Distributed.from_env()
    if not dist.is_main:  # rank 0 alone reports and logs (see hbilstm.training.distributed)
        open_tracker(config.log_to).close()  # the same check of the option on every rank
        callback = None
    with cpu_settings(config.threads), open_tracker(config.log_to if dist.is_main else "none") as tracker:
        return _train(config, Path(out) if out is not None else default_run_dir(config), resume, overwrite,
                      callback or TrainCallback(), tracker, dist)


def _train(config: TrainConfig, run_dir: Path, resume: bool, overwrite: bool, callback: TrainCallback,
           tracker: Tracker, dist: Distributed) -> TrainResult:
    started = time.perf_counter()
    config = config.located()  # the run stores where its data is, for evaluate in another shell
    device = dist.device(resolve_device(config.device))
    dist.check_options(config)
    if config.embeddings and not (Path(config.embeddings).is_file() or is_spacy_source(config.embeddings)):
        raise ConfigError(f"embeddings: {config.embeddings}: no such file, folder or installed package")
    if config.init:
        encoder_path(config.init)  # a missing encoder is named before the run directory is touched
    for teacher in filter(None, (t.strip() for t in (config.teachers or "").split(","))):
        if is_hub_teacher(teacher):
            check_hub_teacher(teacher)
        elif not Path(teacher).exists():
            raise ConfigError(f"teacher {teacher}: no such run directory or model")
    corpus = load_corpus(config.data, config.data_dir, config.text_column, config.label_column, config.id_column)
    dist.start(device)
    try:
        return _train_here(config, run_dir, resume, overwrite, callback, tracker, dist, device, corpus, started)
    finally:
        dist.close()


def _prepare_run_dir(config: TrainConfig, run_dir: Path, resume: bool, overwrite: bool, manifest: dict
                     ) -> tuple[dict | None, dict]:
    """Check the run directory and what is resumed, changing nothing; return the resume state
    (None: start afresh) and the manifest to write."""
    saved = _check_run_dir(run_dir, resume, overwrite, config)
    if saved is not None:
        _check_resumable(saved, config)
        if (run_dir / MANIFEST_FILE).is_file():
            previous = json.loads((run_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
            _check_same_data(previous["data"]["files"], manifest["data"]["files"])
            manifest = {**previous, "resumed": previous.get("resumed", []) + [manifest["created"]]}
    return saved, manifest


def _start_run_dir(config: TrainConfig, run_dir: Path, saved: dict | None) -> None:
    """Clear the run directory when starting afresh, and write config.yaml: only once the data and
    the model are built, so that bad input found there (a damaged --init, vectors, teachers) leaves
    the directory as it was."""
    if saved is None:
        _clear_run_dir(run_dir)
    write_text_atomic(run_dir / CONFIG_FILE, to_yaml(config))


def _train_here(config: TrainConfig, run_dir: Path, resume: bool, overwrite: bool, callback: TrainCallback,
                tracker: Tracker, dist: Distributed, device: torch.device, corpus, started: float) -> TrainResult:
    manifest = build_manifest(config.seed, device, corpus.name, corpus.files)
    if dist.enabled:
        manifest["distributed"] = {"world_size": dist.world_size, "backend": torch.distributed.get_backend()}
    # Rank 0 alone reads and writes the run directory; the other ranks get the resume state from it.
    saved, manifest = dist.share(lambda: _prepare_run_dir(config, run_dir, resume, overwrite, manifest))
    callback.log(f"run directory: {run_dir}")
    if dist.enabled:
        callback.log(f"distributed: {dist.world_size} processes ({torch.distributed.get_backend()}), "
                     f"each taking 1/{dist.world_size} of every batch of {config.batch_size}")
    if resume and saved is None:
        callback.log("no checkpoint to resume from yet (the run stopped before its first one): starting from the "
                     "beginning")
    # Rank 0 tokenizes first, so that the others find the token cache filled.
    parts = dist.main_first(lambda: build(config, corpus, device, saved, callback.log))
    dist.share(lambda: _start_run_dir(config, run_dir, saved))
    manifest["parameters"] = parts.model.num_parameters()
    manifest["embeddings"] = parts.embedding_info
    if dist.is_main:
        write_json_atomic(run_dir / MANIFEST_FILE, manifest)

    state = TrainState.from_dict(saved, config.patience) if saved is not None else TrainState(config.patience)
    data_files = [{"name": Path(f["path"]).name, "sha256": f["sha256"]} for f in manifest["data"]["files"]]
    checkpoints = RunCheckpoints(run_dir, config, parts, corpus, device, data_files)
    if saved is not None:
        checkpoints.restore(saved, dist.rank)
        callback.log(f"resuming at epoch {state.epoch}, batch {state.step + 1}")
    elif dist.rank > 0:  # each rank draws its own dropout masks
        torch.manual_seed(config.seed * 1_000_003 + dist.rank)
    tracker.start(run_dir, config, first_epoch=state.epoch, resumed=saved is not None,
                  has_test=parts.data.test is not None,
                  layer_stats=lambda: layer_statistics(parts.model, parts.data.val.ids, device=device))
    trainer = Trainer(config, parts, corpus, device, state, checkpoints, tracker.listen(callback), dist)
    with stop_signals() as stop:
        trainer.fit(stop)

    stopping = state.stopping
    if stopping.best_epoch == 0:
        dist.raise_together(TrainingDiverged("no epoch finished, so there is no model to keep"))
    val, test = dist.share(lambda: _finish(run_dir, corpus, parts, trainer, state, config, tracker, device))
    return TrainResult(run_dir, parts.metric, stopping.best_epoch, stopping.best_value, len(state.history),
                       _stopped(state, config), val, test, time.perf_counter() - started, dist.is_main)


def _fit_on_val(corpus, parts, trainer: Trainer, config: TrainConfig, device: torch.device) -> dict | None:
    """With ``calibrate``, each classifier's temperature (training/calibration.py); then, with
    ``decision_offsets``, each class's offset (training/offsets.py): both fitted on val, both set in
    the model's configuration; with ``decision_offsets: auto``, the offsets only where cross-fitting
    on val says they gain. Returns the offsets' record for results.json (None without them)."""
    split = parts.data.val
    logits = predict_part_logits(parts.model, split.ids, batch_size=max(256, config.batch_size), device=device,
                                 amp=config.amp, ngrams=split.ngrams)
    if config.calibrate:
        temperatures = parts.model_config.temperatures = fit_temperatures(logits, torch.tensor(split.labels))
        names = ("the stack", "the n-gram classifier")
        trainer.callback.log("calibrated on val: temperature " + ", ".join(
            f"{t:.2f} for {name}" for t, name in zip(temperatures, names)))
    if not config.decision_offsets:
        return None
    log_probs = torch.log_softmax(parts.model.combine(logits, offsets=False).float(), dim=-1).numpy()
    out_of_fold = None  # auto's cross-fitted score: the offsets are kept only where it says they pay
    if config.decision_offsets == "auto":
        offsets, before, after, out_of_fold, kept = auto(log_probs, split.labels, parts.metric, corpus.label_names,
                                                         seed=config.seed)
    else:
        (offsets, before, after), kept = fit_offsets(log_probs, split.labels, parts.metric, corpus.label_names), True
    by_class = dict(zip(corpus.label_names, offsets))
    moved = ", ".join(f"{name} {value:+.1f}" for name, value in by_class.items() if value) or "none moved"
    record = {"by_class": by_class, "val_without": before}
    if out_of_fold is not None:
        record.update(cross_fitted=out_of_fold, kept=kept)
        trainer.callback.log(f"decision offsets, cross-fitted on val: {parts.metric} {100 * before:.2f} -> "
                             f"{100 * out_of_fold:.2f} ({FOLDS} folds, {CUTS} cuts); "
                             + ("kept" if kept else f"not kept (a gain of {100 * MARGIN:.2f} is asked)"))
    if kept:
        parts.model_config.offsets = offsets
        trainer.callback.log(f"decision offsets fitted on val: {moved} ({parts.metric} {100 * before:.2f} -> "
                             f"{100 * after:.2f})")
    return record


def _stopped(state: TrainState, config: TrainConfig) -> str:
    return "early-stopped" if len(state.history) < config.epochs else "completed"


def _finish(run_dir: Path, corpus, parts, trainer: Trainer, state: TrainState, config: TrainConfig,
            tracker: Tracker, device: torch.device) -> tuple[dict, dict | None]:
    """Score the best epoch's model on val and test and write results.json (rank 0's work); with
    ``calibrate`` or ``decision_offsets``, first fit them on val and keep them in model.pt."""
    best = load_checkpoint(run_dir / MODEL_FILE)
    parts.model.load_state_dict(best["state_dict"])
    fits = config.calibrate or config.decision_offsets
    offsets = _fit_on_val(corpus, parts, trainer, config, device) if fits else None
    val = trainer.evaluate_split(parts.data.val)
    if fits:
        save_checkpoint(run_dir / MODEL_FILE, {**best, "model_config": parts.model_config.to_dict(), "val": val})
    test = trainer.evaluate_split(parts.data.test) if parts.data.test is not None else None
    if offsets is not None and test is not None:  # what test would have scored without them, for the record
        fitted, parts.model_config.offsets = parts.model_config.offsets, ()  # none where auto dropped them
        without = trainer.evaluate_split(parts.data.test) if fitted else test
        offsets["test_without"] = without[parts.metric]
        parts.model_config.offsets = fitted
    layers = layer_statistics(parts.model, parts.data.val.ids, device=device)
    epochs_run = len(state.history)
    write_json_atomic(run_dir / RESULTS_FILE, {
        "dataset": corpus.name,
        "metric": parts.metric,
        "best_epoch": state.stopping.best_epoch,
        "epochs_run": epochs_run,
        "stopped": _stopped(state, config),
        "parameters": parts.model.num_parameters(),
        "train_seconds": sum(r["seconds"] + r["val_seconds"] for r in state.history),
        "val": val,
        "test": test,
        "layers": layers,
        **({"decision_offsets": offsets} if offsets is not None else {}),
    })
    tracker.finish(epochs_run=epochs_run, best_epoch=state.stopping.best_epoch, val=val, test=test, layers=layers)
    return val, test
