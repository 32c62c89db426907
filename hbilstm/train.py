"""Training: ``train(config, out)`` is what ``hbilstm train`` (and every run of a sweep) calls.

A run directory holds:

* ``config.yaml``   the resolved options;
* ``manifest.json`` seed, software versions, git commit, device and data-file hashes;
* ``metrics.jsonl`` one line per finished epoch (train loss and accuracy, validation scores);
* ``model.pt``      the best epoch's model (by the validation set's official metric);
* ``last.pt``       everything needed to resume: weights, optimizer, position, RNG states;
* ``results.json``  the best model's validation and test scores, written at the end.

Every file is written atomically. SIGINT/SIGTERM stop at the next batch with a resumable
``last.pt``; ``--resume`` continues to the same weights an uninterrupted run reaches.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from torch import nn

from . import __version__
from .batching import ResidentSplit, bucket_order
from .checkpoint import MODEL_FILE, RESUME_FILE, load_checkpoint, save_checkpoint
from .config import TrainConfig, from_dict, to_yaml
from .corpora import Corpus, load_corpus
from .embeddings import load_vectors
from .encoding import default_cache_dir
from .errors import ConfigError, HbilstmError
from .fileio import json_line, write_json_atomic, write_text_atomic
from .inference import autocast, layer_statistics, predict_probs, resolve_device
from .manifest import build_manifest
from .metrics import METRIC_NAMES, classification_metrics
from .model import HighwayBiLSTMClassifier, ModelConfig
from .pipeline import EncodedSplit, Encoder, TrainingData, prepare_training_data
from .tokenizer import TokenizerConfig
from .vocab import Vocabulary

CONFIG_FILE, MANIFEST_FILE, METRICS_FILE, RESULTS_FILE = "config.yaml", "manifest.json", "metrics.jsonl", "results.json"
RUN_FILES = (CONFIG_FILE, MANIFEST_FILE, METRICS_FILE, RESULTS_FILE, MODEL_FILE, RESUME_FILE)
# Options that may change when a run is resumed; the rest define the run.
RESUMABLE_OVERRIDES = ("epochs", "patience", "device", "threads", "amp")
LOG_EVERY = 20  # batches between loss read-backs (each one syncs a GPU)


class TrainingInterrupted(HbilstmError):
    """SIGINT or SIGTERM stopped training; a resumable checkpoint was written."""


class TrainingDiverged(HbilstmError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


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


def default_run_dir(config: TrainConfig) -> Path:
    name = Path(config.data).name if Path(config.data).exists() else config.data
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{config.carry}-L{config.layers}-{stamp}"


def load_run_config(run_dir: Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The saved config of a run, with the options that may change on resume applied."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no {CONFIG_FILE} here, so nothing to resume")
    from .config import load_config

    config = load_config(path)
    changes = {k: v for k, v in (overrides or {}).items() if v is not None}
    fixed = [k for k, v in changes.items() if k not in RESUMABLE_OVERRIDES and getattr(config, k) != v]
    if fixed:
        raise ConfigError(
            f"--{fixed[0].replace('_', '-')} cannot change when resuming (only "
            f"{', '.join('--' + k for k in RESUMABLE_OVERRIDES)} can)"
        )
    return config.replace(**changes)


def _model_config(config: TrainConfig, vocab_size: int, num_classes: int, embedding_dim: int) -> ModelConfig:
    return ModelConfig(
        vocab_size=vocab_size, num_classes=num_classes, embedding_dim=embedding_dim,
        hidden=config.hidden, layers=config.layers, carry=config.carry, gate_bias=config.gate_bias,
        pooling=config.pooling, dropout=config.dropout, layer_dropout=config.layer_dropout,
    )


def _tokenizer_config(config: TrainConfig) -> TokenizerConfig:
    return TokenizerConfig(config.lowercase, config.squash_elongations, config.normalize_mentions)


def class_weights(labels: list[int], num_classes: int) -> torch.Tensor:
    """``n / (classes * count)`` per class: every class weighs the same in the loss, which is
    what macro-averaged recall rewards (a class absent from train gets weight 0)."""
    counts = torch.bincount(torch.tensor(labels), minlength=num_classes).float()
    weights = len(labels) / (num_classes * counts.clamp(min=1))
    return torch.where(counts > 0, weights, torch.zeros_like(weights))


def _fresh_partial() -> dict:
    """Running totals of the epoch in progress (saved with a mid-epoch interruption)."""
    return {"loss_sum": 0.0, "correct": 0, "examples": 0, "tokens": 0, "seconds": 0.0}


@contextlib.contextmanager
def _stop_signals() -> Iterator[threading.Event]:
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


class Trainer:
    """Holds one run's state; :func:`train` drives it."""

    def __init__(self, config: TrainConfig, run_dir: Path, console: Console | None, show_progress: bool,
                 on_epoch: Callable[[dict], None] | None = None):
        self.config = config
        self.on_epoch = on_epoch
        self.run_dir = run_dir
        self.console = console
        # A progress bar only makes sense on a terminal; logs and pipes get the epoch lines.
        self.show_progress = show_progress and console is not None and console.is_terminal
        self.device = resolve_device(config.device)

    # ------------------------------------------------------------------ set-up
    def log(self, message: str) -> None:
        if self.console is not None:
            self.console.print(message, highlight=False)

    def prepare(self, corpus: Corpus, resume_state: dict | None) -> None:
        config = self.config
        self.corpus = corpus
        self.tokenizer_config = _tokenizer_config(config)
        encoder = Encoder(self.tokenizer_config, default_cache_dir(), config.max_tokens)
        vocab = Vocabulary(resume_state["vocab"]) if resume_state else None
        self.data: TrainingData = prepare_training_data(
            corpus, encoder, config.min_freq, config.max_vocab, config.val_fraction, config.seed, vocab,
            config.max_train,
        )
        cache = encoder.cache
        self.log(
            f"data: {corpus.name}: train {len(self.data.train):,}, val {len(self.data.val):,} "
            f"({self.data.val_source})"
            + (f", test {len(self.data.test):,}" if self.data.test is not None else "")
            + f"; vocabulary {len(self.data.vocab):,}; tokens "
            + ("from cache" if cache.misses == 0 else f"tokenized ({cache.hits} of {cache.hits + cache.misses} splits cached)")
        )
        self.metric = corpus.metric if config.metric == "auto" else config.metric
        vectors = None
        embedding_dim = config.embedding_dim
        if resume_state is not None:
            embedding_dim = resume_state["model_config"]["embedding_dim"]
        elif config.embeddings:
            vectors = load_vectors(config.embeddings, self.data.vocab, self.data.token_counts, config.seed)
            embedding_dim = vectors.weights.size(1)
            self.log(
                f"embeddings: {config.embeddings}: {vectors.found:,} of {vectors.vocab_size - 2:,} "
                f"vocabulary words ({vectors.type_coverage:.1%}), {vectors.token_coverage:.1%} of "
                f"training tokens; dimension {embedding_dim}"
                + ("; frozen" if config.freeze_embeddings else "; trainable")
            )
            if embedding_dim != config.embedding_dim:
                self.log(f"embedding_dim set to {embedding_dim} by the vectors file")
        self.embedding_info = (
            {"file": config.embeddings, "found": vectors.found, "type_coverage": vectors.type_coverage,
             "token_coverage": vectors.token_coverage} if vectors else None
        )

        torch.manual_seed(config.seed)
        self.model_config = _model_config(config, len(self.data.vocab), len(corpus.label_names), embedding_dim)
        self.model = HighwayBiLSTMClassifier(self.model_config)
        if vectors is not None:
            with torch.no_grad():
                self.model.embedding.weight.copy_(vectors.weights)
        if config.freeze_embeddings:
            self.model.embedding.weight.requires_grad_(False)
        self.model.to(self.device)
        # The training split lives on the device: batches are cut out of it there.
        self.resident = ResidentSplit(self.data.train.ids, self.data.train.labels, self.device)
        # The fused AdamW updates every parameter in one kernel: on the CPU its step is ten times
        # faster than the per-parameter loop (benchmarks.md), which matters with a large embedding.
        self.optimizer = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad], lr=config.lr, weight_decay=config.weight_decay,
            fused=self.device.type in ("cpu", "cuda") or None,
        )
        weights = None
        if config.class_weights == "balanced":
            weights = class_weights(self.data.train.labels, len(corpus.label_names)).to(self.device)
        self.criterion = nn.CrossEntropyLoss(weight=weights)
        self.log(
            f"model: {config.layers} x {config.carry} BiLSTM, hidden {config.hidden}x2, "
            f"{self.model.num_parameters():,} parameters; device {self.device}"
        )

        # Position and history; overwritten by a resume checkpoint.
        self.epoch, self.step = 1, 0
        self.partial = _fresh_partial()
        self.best_value, self.best_epoch, self.bad_epochs = -math.inf, 0, 0
        self.history: list[dict] = []
        self.stopped = "completed"
        if resume_state is not None:
            self._restore(resume_state)

    # ------------------------------------------------------------------ checkpoints
    def _model_payload(self) -> dict:
        return {
            "kind": "model",
            "hbilstm_version": __version__,
            "model_config": self.model_config.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "vocab": list(self.data.vocab.tokens),
            "labels": list(self.corpus.label_names),
            "tokenizer": self.tokenizer_config.to_dict(),
            "max_tokens": self.config.max_tokens,
            "train_config": self.config.to_dict(),
            "dataset": self.corpus.name,
            "metric": self.metric,
        }

    def save_resume(self) -> None:
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state_all()
        save_checkpoint(self.run_dir / RESUME_FILE, {
            **self._model_payload(),
            "kind": "resume",
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "partial": dict(self.partial),
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "history": self.history,
            "stopped": self.stopped,
            "rng": rng,
        })

    def _restore(self, state: dict) -> None:
        self.model.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.partial = dict(state["partial"])
        self.best_value, self.best_epoch = float(state["best_value"]), int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
        self.history = list(state["history"])
        self.stopped = state.get("stopped", "completed")
        torch.set_rng_state(state["rng"]["torch"])
        if self.device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.log(f"resuming at epoch {self.epoch}, batch {self.step + 1}")

    # ------------------------------------------------------------------ the loop
    def _progress(self) -> Progress:
        return Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[speed]} tok/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
            disable=not self.show_progress,
        )

    def fit(self, stop: threading.Event) -> None:
        config = self.config
        train = self.data.train
        lengths = train.lengths
        while self.epoch <= config.epochs and not self._should_stop():
            generator = torch.Generator().manual_seed(config.seed * 1_000_003 + self.epoch)
            order = bucket_order(lengths, config.batch_size, generator)
            with self._progress() as progress:
                task = progress.add_task("train", total=len(order), completed=self.step,
                                         epoch=f"{self.epoch}/{config.epochs}", loss="-", speed="-")
                self._run_epoch(order, stop, progress, task)
            self._end_epoch()
            if stop.is_set():
                raise TrainingInterrupted(self._interrupted_message())

    def _run_epoch(self, order: list[list[int]], stop: threading.Event, progress: Progress, task) -> None:
        model, config = self.model, self.config
        model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        started = time.perf_counter() - self.partial["seconds"]
        for batch in iter_batches(self.resident, order[self.step:]):
            with autocast(self.device, config.amp):
                logits = model(batch.tokens, batch.lengths)
            loss = self.criterion(logits.float(), batch.labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            self.optimizer.step()
            loss_sum += loss.detach().double() * len(batch.index)
            correct += (logits.detach().argmax(-1) == batch.labels).sum()
            self.partial["examples"] += len(batch.index)
            self.partial["tokens"] += batch.num_tokens
            self.step += 1
            if self.step % LOG_EVERY == 0 or self.step == len(order) or stop.is_set():
                self._fold(loss_sum, correct, started)
                loss_sum.zero_()
                correct.zero_()
                seen = max(1, self.partial["examples"])
                progress.update(task, completed=self.step, loss=f"{self.partial['loss_sum'] / seen:.4f}",
                                speed=f"{self.partial['tokens'] / max(1e-9, self.partial['seconds']):,.0f}")
            if stop.is_set() and self.step < len(order):
                self.save_resume()
                raise TrainingInterrupted(self._interrupted_message())

    def _fold(self, loss_sum: torch.Tensor, correct: torch.Tensor, started: float) -> None:
        """Move the device-side sums into the epoch totals (one host sync) and check the loss."""
        value = float(loss_sum)
        if not math.isfinite(value):
            kept = f"the last good checkpoint (epoch {self.epoch - 1}) is kept in {self.run_dir}" if self.epoch > 1 else "no epoch finished, so no checkpoint was kept"
            raise TrainingDiverged(
                f"the loss became {value} in epoch {self.epoch} near batch {self.step}; {kept}; "
                "try a lower --lr or a smaller --clip"
            )
        self.partial["loss_sum"] += value
        self.partial["correct"] += int(correct)
        self.partial["seconds"] = time.perf_counter() - started

    def _end_epoch(self) -> None:
        config, partial = self.config, self.partial
        if self.step == 0:
            return
        val_started = time.perf_counter()
        val = self.evaluate_split(self.data.val)
        value = val[self.metric]
        improved = value > self.best_value + 1e-12
        if improved:
            self.best_value, self.best_epoch, self.bad_epochs = value, self.epoch, 0
            save_checkpoint(self.run_dir / MODEL_FILE, {**self._model_payload(), "epoch": self.epoch, "val": val})
        else:
            self.bad_epochs += 1
        seen = max(1, partial["examples"])
        record = {
            "epoch": self.epoch,
            "train_loss": partial["loss_sum"] / seen,
            "train_accuracy": partial["correct"] / seen,
            "val_loss": val["loss"],
            "val_accuracy": val["accuracy"],
            "val_macro_f1": val["macro_f1"],
            "val_macro_recall": val["macro_recall"],
            "best": improved,
            "seconds": partial["seconds"],
            "val_seconds": time.perf_counter() - val_started,
            "tokens_per_s": partial["tokens"] / max(1e-9, partial["seconds"]),
            "lr": self.optimizer.param_groups[0]["lr"],
        }
        self.history.append(record)
        write_text_atomic(self.run_dir / METRICS_FILE, "".join(json_line(r) for r in self.history))
        if self.on_epoch is not None:
            self.on_epoch(record)
        self.log(
            f"epoch {self.epoch:>2}: loss {record['train_loss']:.4f}, val {METRIC_NAMES[self.metric]} "
            f"{100 * value:.2f}, acc {100 * val['accuracy']:.2f}; {record['seconds']:.0f}s, "
            f"{record['tokens_per_s']:,.0f} tok/s" + (" *" if improved else "")
        )
        self.epoch += 1
        self.step = 0
        self.partial = _fresh_partial()
        if self._should_stop() and self.epoch <= config.epochs:
            self.stopped = "early-stopped"
            self.log(f"early stop: no better val {METRIC_NAMES[self.metric]} for {config.patience} epochs")
        self.save_resume()

    def _should_stop(self) -> bool:
        return self.config.patience > 0 and self.bad_epochs >= self.config.patience

    def _interrupted_message(self) -> str:
        where = f"epoch {self.epoch}, batch {self.step}" if self.step else f"the end of epoch {self.epoch - 1}"
        return (
            f"training interrupted at {where}; state saved in {self.run_dir / RESUME_FILE}; "
            f"resume with: hbilstm train --out {self.run_dir} --resume"
        )

    def evaluate_split(self, split: EncodedSplit) -> dict:
        probs = predict_probs(self.model, split.ids, batch_size=max(256, self.config.batch_size),
                              device=self.device, amp=self.config.amp)
        labels = torch.tensor(split.labels)
        metrics = classification_metrics(split.labels, probs.argmax(-1).tolist(), self.corpus.label_names)
        picked = probs[torch.arange(len(labels)), labels].clamp_min(1e-12)
        metrics["loss"] = float(-picked.log().mean())
        return metrics


def iter_batches(split: ResidentSplit, order: list[list[int]]):
    """The batches of one epoch (a module-level name, so that tests can watch the loop)."""
    return split.batches(order)


def _check_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> dict | None:
    """Refuse to touch an existing run unless told how; return the state to resume from."""
    if resume:
        if not (run_dir / RESUME_FILE).is_file():
            raise ConfigError(f"{run_dir}: no {RESUME_FILE} to resume from")
        return load_checkpoint(run_dir / RESUME_FILE, kind="resume")
    existing = [f for f in RUN_FILES if (run_dir / f).exists()]
    if existing and not overwrite:
        raise ConfigError(
            f"{run_dir} already holds a run ({', '.join(existing)}); use --resume to continue it "
            "or --overwrite to start again"
        )
    return None


def _clear_run_dir(run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)


def train(
    config: TrainConfig,
    out: str | Path | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    console: Console | None = None,
    show_progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train a model as ``config`` says, in run directory ``out``; see the module docs.

    Raises :class:`TrainingInterrupted` after saving a resumable state when SIGINT or SIGTERM
    arrives, :class:`TrainingDiverged` when the loss stops being finite, and other
    :class:`~hbilstm.errors.HbilstmError` for bad options or data, before any work starts.
    ``on_epoch`` is called with each epoch's metrics record (a sweep reports progress with it).
    """
    started = time.perf_counter()
    run_dir = Path(out) if out is not None else default_run_dir(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    trainer = Trainer(config, run_dir, console, show_progress, on_epoch)  # checks the device
    state = _check_run_dir(run_dir, resume, overwrite)
    if config.embeddings and not Path(config.embeddings).is_file():
        raise ConfigError(f"embeddings: {config.embeddings}: no such file")
    corpus = load_corpus(config.data, config.data_dir, config.text_column, config.label_column, config.id_column)
    if state is None:
        _clear_run_dir(run_dir)
    if state is not None:
        saved = from_dict(state["train_config"])
        changed = [k for k in saved.to_dict() if k not in RESUMABLE_OVERRIDES and getattr(saved, k) != getattr(config, k)]
        if changed:
            raise ConfigError(f"{changed[0]} differs from the run being resumed")
    write_text_atomic(run_dir / CONFIG_FILE, to_yaml(config))
    manifest = build_manifest(config.seed, trainer.device, corpus.name, corpus.files)
    if state is not None and (run_dir / MANIFEST_FILE).is_file():
        previous = json.loads((run_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
        manifest = {**previous, "resumed": previous.get("resumed", []) + [manifest["created"]]}
    trainer.log(f"run directory: {run_dir}")
    trainer.prepare(corpus, state)
    manifest["parameters"] = trainer.model.num_parameters()
    manifest["embeddings"] = trainer.embedding_info
    write_json_atomic(run_dir / MANIFEST_FILE, manifest)

    with _stop_signals() as stop:
        trainer.fit(stop)

    if trainer.best_epoch == 0:
        raise TrainingDiverged("no epoch finished, so there is no model to keep")
    best = load_checkpoint(run_dir / MODEL_FILE)
    trainer.model.load_state_dict(best["state_dict"])
    val = trainer.evaluate_split(trainer.data.val)
    test = trainer.evaluate_split(trainer.data.test) if trainer.data.test is not None else None
    layers = layer_statistics(trainer.model, trainer.data.val.ids, device=trainer.device)
    seconds = time.perf_counter() - started
    result = TrainResult(run_dir, trainer.metric, trainer.best_epoch, trainer.best_value,
                         len(trainer.history), trainer.stopped, val, test, seconds)
    write_json_atomic(run_dir / RESULTS_FILE, {
        "dataset": corpus.name,
        "metric": trainer.metric,
        "best_epoch": trainer.best_epoch,
        "epochs_run": len(trainer.history),
        "stopped": trainer.stopped,
        "parameters": trainer.model.num_parameters(),
        "train_seconds": sum(r["seconds"] + r["val_seconds"] for r in trainer.history),
        "val": val,
        "test": test,
        "layers": layers,
    })
    return result
