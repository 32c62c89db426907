"""The epoch loop: batches, optimizer steps, validation, checkpoints and early stopping."""

from __future__ import annotations

import math
import threading
import time

import torch
from torch import nn

from ..config import TrainConfig
from ..data.batching import ResidentSplit, bucket_order
from ..data.corpora import Corpus
from ..data.pipeline import EncodedSplit
from ..errors import TrainingDiverged, TrainingInterrupted
from ..evaluation.metrics import METRIC_NAMES, classification_metrics
from ..fileio import json_line, write_text_atomic
from ..inference import autocast, predict_probs
from .callbacks import TrainCallback
from .checkpoints import RunCheckpoints
from .parts import Parts
from .state import TrainState

METRICS_FILE = "metrics.jsonl"
LOG_EVERY = 20  # batches between loss read-backs (each one syncs a GPU)


def iter_batches(split: ResidentSplit, order: list[list[int]]):
    """The batches of one epoch (a module-level name, so that tests can watch the loop)."""
    return split.batches(order)


class Trainer:
    """Trains ``parts.model`` epoch by epoch from ``state`` on, saving through ``checkpoints``."""

    def __init__(self, config: TrainConfig, parts: Parts, corpus: Corpus, device: torch.device, state: TrainState,
                 checkpoints: RunCheckpoints, callback: TrainCallback):
        self.config, self.parts, self.corpus, self.device = config, parts, corpus, device
        self.state, self.checkpoints, self.callback = state, checkpoints, callback
        self.run_dir = checkpoints.run_dir
        self.model = parts.model
        # The training split lives on the device: batches are cut out of it there.
        self.resident = ResidentSplit(parts.data.train.ids, parts.data.train.labels, device)

    def fit(self, stop: threading.Event) -> None:
        config, state = self.config, self.state
        lengths = self.parts.data.train.lengths
        while state.epoch <= config.epochs and not state.stopping.should_stop:
            generator = torch.Generator().manual_seed(config.seed * 1_000_003 + state.epoch)
            order = bucket_order(lengths, config.batch_size, generator)
            self.callback.epoch_start(state.epoch, config.epochs, len(order), state.step)
            self._run_epoch(order, stop)
            self._end_epoch()
            if stop.is_set():
                raise TrainingInterrupted(self._interrupted_message())

    def _run_epoch(self, order: list[list[int]], stop: threading.Event) -> None:
        model, config, state, optimizer = self.model, self.config, self.state, self.parts.optimizer
        model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        started = time.perf_counter() - state.tally.seconds
        for batch in iter_batches(self.resident, order[state.step:]):
            with autocast(self.device, config.amp):
                logits = model(batch.tokens, batch.lengths)
            loss = self.parts.criterion(logits.float(), batch.labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            optimizer.step()
            loss_sum += loss.detach().double() * len(batch.index)
            correct += (logits.detach().argmax(-1) == batch.labels).sum()
            state.tally.examples += len(batch.index)
            state.tally.tokens += batch.num_tokens
            state.step += 1
            if state.step % LOG_EVERY == 0 or state.step == len(order) or stop.is_set():
                self._fold(loss_sum, correct, started)
                loss_sum.zero_()
                correct.zero_()
                self.callback.batch_end(state.step, state.tally.mean_loss, state.tally.tokens_per_s,
                                        state.tally.tweets_per_s)
            if stop.is_set() and state.step < len(order):
                self.checkpoints.save_resume(state)
                raise TrainingInterrupted(self._interrupted_message())

    def _fold(self, loss_sum: torch.Tensor, correct: torch.Tensor, started: float) -> None:
        """Move the device-side sums into the epoch's tally (one host sync) and check the loss."""
        state = self.state
        value = float(loss_sum)
        if not math.isfinite(value):
            kept = (f"the last good checkpoint (epoch {state.epoch - 1}) is kept in {self.run_dir}"
                    if state.epoch > 1 else "no epoch finished, so no checkpoint was kept")
            raise TrainingDiverged(
                f"the loss became {value} in epoch {state.epoch} near batch {state.step}; {kept}; "
                "try a lower --lr or a smaller --clip"
            )
        state.tally.loss_sum += value
        state.tally.correct += int(correct)
        state.tally.seconds = time.perf_counter() - started

    def _end_epoch(self) -> None:
        config, state = self.config, self.state
        val_started = time.perf_counter()
        val = self.evaluate_split(self.parts.data.val)
        metric = self.parts.metric
        improved = state.stopping.update(state.epoch, val[metric])
        if improved:
            self.checkpoints.save_model(state.epoch, val)
        tally = state.tally
        record = {
            "epoch": state.epoch,
            "train_loss": tally.mean_loss,
            "train_accuracy": tally.accuracy,
            "val_loss": val["loss"],
            "val_accuracy": val["accuracy"],
            "val_macro_f1": val["macro_f1"],
            "val_macro_recall": val["macro_recall"],
            "best": improved,
            "seconds": tally.seconds,
            "val_seconds": time.perf_counter() - val_started,
            "tokens_per_s": tally.tokens_per_s,
            "lr": self.parts.optimizer.param_groups[0]["lr"],
        }
        state.history.append(record)
        write_text_atomic(self.run_dir / METRICS_FILE, "".join(json_line(r) for r in state.history))
        self.callback.epoch_end(record)
        self.callback.log(
            f"epoch {state.epoch:>2}: loss {record['train_loss']:.4f}, val {METRIC_NAMES[metric]} "
            f"{100 * val[metric]:.2f}, acc {100 * val['accuracy']:.2f}; {record['seconds']:.0f}s, "
            f"{record['tokens_per_s']:,.0f} tok/s" + (" *" if improved else "")
        )
        state.next_epoch()
        if state.stopping.should_stop and state.epoch <= config.epochs:
            self.callback.log(f"early stop: no better val {METRIC_NAMES[metric]} for {config.patience} epochs")
        self.checkpoints.save_resume(state)

    def _interrupted_message(self) -> str:
        state = self.state
        where = f"epoch {state.epoch}, batch {state.step}" if state.step else f"the end of epoch {state.epoch - 1}"
        return (
            f"training interrupted at {where}; state saved in {self.checkpoints.resume_path}; "
            f"resume with: hbilstm train --output {self.run_dir} --resume"
        )

    def evaluate_split(self, split: EncodedSplit) -> dict:
        """Scores of the model on ``split``, with ``loss`` the training objective (the same
        class-weighted cross-entropy as in training, but with dropout off)."""
        probs = predict_probs(self.model, split.ids, batch_size=max(256, self.config.batch_size),
                              device=self.device, amp=self.config.amp)
        labels = torch.tensor(split.labels)
        metrics = classification_metrics(split.labels, probs.argmax(-1).tolist(), self.corpus.label_names)
        weight = self.parts.criterion.weight
        metrics["loss"] = float(nn.functional.nll_loss(probs.clamp_min(1e-12).log(), labels,
                                                       weight=None if weight is None else weight.cpu()))
        return metrics
