"""The epoch loop: batches, optimizer steps, validation, checkpoints and early stopping."""

from __future__ import annotations

import contextlib
import math
import threading
import time

import torch
from torch import nn

from ..callbacks import TrainCallback
from ..config import TrainConfig
from ..data.batching import ResidentSplit, bucket_order
from ..data.corpora import Corpus
from ..data.pipeline import EncodedSplit
from ..errors import TrainingDiverged, TrainingInterrupted
from ..evaluation.metrics import METRIC_NAMES, calibration, classification_metrics
from ..fileio import json_line, write_text_atomic
from ..inference import autocast, predict_probs
from ..model.ngram_head import mean_of_probabilities
from .adversarial import EmbeddingAttack
from .checkpoints import RunCheckpoints, rng_state
from .distributed import Distributed
from .graphs import GraphedSteps, padded_inputs, uses_cuda_graphs
from .layerwise import apply_thaw, thawed_from
from .parts import Parts
from .state import TrainState
from .virtual_adversarial import UnlabelledBatches, virtual_adversarial_loss

METRICS_FILE = "metrics.jsonl"
LOG_EVERY = 20  # batches between loss read-backs (each one syncs a GPU)


def iter_batches(split: ResidentSplit, order: list[list[int]]):
    """The batches of one epoch (a module-level name, so that tests can watch the loop)."""
    return split.batches(order)


def clip_groups(model: nn.Module) -> list[list[nn.Parameter]]:
    """The parameter groups whose gradient norms are clipped apart: the stack's, and the n-gram
    classifier's where the model has one (each trains on its own loss, so neither's gradient
    should scale the other's step down)."""
    head = getattr(model, "ngram_head", None)
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    groups = (
        [p for p in model.parameters() if id(p) not in head_ids],
        [p for p in model.parameters() if id(p) in head_ids],
    )
    return [g for g in groups if g]


class Trainer:
    """Trains ``parts.model`` epoch by epoch from ``state`` on, saving through ``checkpoints``."""

    def __init__(self, config: TrainConfig, parts: Parts, corpus: Corpus, device: torch.device, state: TrainState,
                 checkpoints: RunCheckpoints, callback: TrainCallback, dist: Distributed | None = None):
        self.config, self.parts, self.corpus, self.device = config, parts, corpus, device
        self.state, self.checkpoints, self.callback = state, checkpoints, callback
        self.dist = dist or Distributed()
        self.run_dir = checkpoints.run_dir
        self.model = parts.model
        self.step_model = self.dist.wrap(parts.model, device)  # what the training step calls
        self.clip_groups = clip_groups(parts.model)
        # The training split lives on the device: batches are cut out of it there.
        self.resident = ResidentSplit(parts.data.train.ids, parts.data.train.labels, device,
                                      parts.data.train.ngrams)
        # On one CUDA device, steps are replayed from CUDA graphs (graphs.py); else run eagerly.
        self.graphed = (GraphedSteps(self._step, device)
                        if uses_cuda_graphs(config, device, self.dist.world_size) else None)
        self.may_train = {id(p) for p in parts.model.parameters() if p.requires_grad}
        self.attack = (EmbeddingAttack(parts.model, config.adversarial)
                       if config.adversarial or config.virtual_adversarial else None)
        self.unlabelled = (UnlabelledBatches(parts.unlabelled_ids, config.batch_size, device, config.seed)
                           if config.virtual_adversarial else None)

    def fit(self, stop: threading.Event) -> None:
        try:
            self._fit(stop)
        finally:
            if self.attack is not None:
                self.attack.remove()

    def _fit(self, stop: threading.Event) -> None:
        config, state = self.config, self.state
        lengths = self.parts.data.train.lengths
        while state.epoch <= config.epochs and not state.stopping.should_stop:
            generator = torch.Generator().manual_seed(config.seed * 1_000_003 + state.epoch)
            order = self.dist.shard(bucket_order(lengths, config.batch_size, generator))
            if config.gradual_unfreeze:
                self._thaw(state.epoch)
            self.callback.epoch_start(state.epoch, config.epochs, len(order), state.step)
            self._run_epoch(order, stop)
            self._end_epoch()
            if self.dist.any(stop.is_set()):
                self.dist.raise_together(TrainingInterrupted(self._interrupted_message()))

    def _thaw(self, epoch: int) -> None:
        """Gradual unfreezing: let the levels that train in ``epoch`` train (layerwise.py)."""
        layers = len(self.model.layers)
        lowest = thawed_from(epoch, self.config.gradual_unfreeze, layers)
        apply_thaw(self.model, lowest, self.may_train)
        if lowest != thawed_from(epoch - 1, self.config.gradual_unfreeze, layers) or epoch == 1:
            what = ("every level" if lowest == 0 else "the top only" if lowest == layers + 1
                    else f"layer {lowest} and the top" if lowest == layers
                    else f"layers {lowest} to {layers} and the top")
            self.callback.log(f"gradual unfreezing: epoch {epoch} trains {what}")

    def _run_epoch(self, order: list[list[int]], stop: threading.Event) -> None:
        state, dist = self.state, self.dist
        self.step_model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        rows = tokens = 0
        started = time.perf_counter() - state.tally.seconds
        for batch in iter_batches(self.resident, order[state.step:]):
            weight_all, rows_all, stopping = dist.step_totals(self._batch_weight(batch.labels), len(batch.index),
                                                              stop.is_set())
            if self.graphed is not None:
                loss_here, right = self.graphed(padded_inputs(batch.tokens, batch.lengths, batch.labels, batch.ngrams))
            else:
                loss_here, right = self._step(batch.tokens, batch.lengths, batch.labels, batch.ngrams,
                                              weight_all=weight_all)
            if self.parts.average is not None:
                self.parts.average.update()
            loss_sum += loss_here.double() * rows_all / weight_all.double()
            correct += right
            rows += len(batch.index)
            tokens += batch.num_tokens
            state.step += 1
            if state.step % LOG_EVERY == 0 or state.step == len(order) or stopping:
                self._fold([loss_sum, correct, rows, tokens], started)
                loss_sum.zero_()
                correct.zero_()
                rows = tokens = 0
                self.callback.batch_end(state.step, state.tally.mean_loss, state.tally.tokens_per_s,
                                        state.tally.tweets_per_s)
            if stopping and state.step < len(order):
                self._save_resume()
                self.dist.raise_together(TrainingInterrupted(self._interrupted_message()))

    def _batch_weight(self, labels: torch.Tensor) -> torch.Tensor:
        """The batch's share of the loss's weight: its rows' class weights, or its row count."""
        weight = self.parts.criterion.weight
        if weight is None:
            return torch.full((), float(len(labels)), device=labels.device)  # a fill, not a copy from the host
        return weight[labels].sum()

    def _step(self, tokens, lengths, labels, ngrams=None, weight_all=None) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on a batch: ``(loss_here, correct)``, the batch's class-weighted
        loss times its weight and how many rows the model got right, both on the device.
        ``weight_all``: the weight of every rank's share of the step (None: this batch's own)."""
        config, optimizer = self.config, self.parts.optimizer
        if config.adversarial:
            self.attack.record()
        with autocast(self.device, config.amp):
            logits = self.step_model(tokens, lengths, *(() if ngrams is None else (ngrams,)))
        if logits.dim() == 3:  # the stack's and the n-gram head's logits: each has its own loss
            mean_here = (self.parts.criterion(logits[0].float(), labels)
                         + self.parts.head_criterion(logits[1].float(), labels))
            logits = mean_of_probabilities(logits.detach())
        else:
            mean_here = self.parts.criterion(logits.float(), labels)
        # The step's loss is the class-weighted mean over its whole batch, every rank's share
        # of it: this share's mean times its weight, divided by the weight of all shares.
        weight_here = self._batch_weight(labels)
        loss_here = mean_here * weight_here
        if weight_all is None:
            weight_all = weight_here
        loss = loss_here * self.dist.world_size / weight_all  # DDP averages the ranks' gradients
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.adversarial:
            self._adversarial_backward(tokens, lengths, labels, ngrams, weight_here * self.dist.world_size / weight_all)
        if self.unlabelled is not None:
            extra_tokens, extra_lengths = self.unlabelled.batch(self.state.epoch, self.state.step)
            virtual_adversarial_loss(self.model, self.attack, extra_tokens, extra_lengths,
                                     config.virtual_adversarial).backward()
        if config.clip > 0:
            for group in self.clip_groups:
                nn.utils.clip_grad_norm_(group, config.clip)
        optimizer.step()
        hard = labels if labels.dim() == 1 else labels.argmax(-1)  # distillation: the teachers' choice
        return loss_here.detach(), (logits.detach().argmax(-1) == hard).sum()

    def _adversarial_backward(self, tokens, lengths, labels, ngrams, scale) -> None:
        """The second pass of an adversarial step (adversarial.py): the stack's loss on the
        embeddings moved along the first pass's gradient, times ``scale`` as the first pass's,
        its gradient added to the first's."""
        self.attack.perturb()
        try:
            with autocast(self.device, self.config.amp):
                logits = self.step_model(tokens, lengths, *(() if ngrams is None else (ngrams,)))
            stack = logits[0] if logits.dim() == 3 else logits
            (self.parts.criterion(stack.float(), labels) * scale).backward()
        finally:
            self.attack.clear()

    def _fold(self, sums: list, started: float) -> None:
        """Move the sums since the last fold (loss, correct, rows, tokens; over every rank) into
        the epoch's tally (one host sync) and check the loss."""
        state = self.state
        loss, correct, rows, tokens = self.dist.sum([float(v) for v in sums])
        if not math.isfinite(loss):
            kept = (f"the last good checkpoint (epoch {state.epoch - 1}) is kept in {self.run_dir}"
                    if state.epoch > 1 else "no epoch finished, so no checkpoint was kept")
            self.dist.raise_together(TrainingDiverged(
                f"the loss became {loss} in epoch {state.epoch} near batch {state.step}; {kept}; "
                "try a lower --lr or a smaller --clip"
            ))
        state.tally.loss_sum += loss
        state.tally.correct += int(correct)
        state.tally.examples += int(rows)
        state.tally.tokens += int(tokens)
        state.tally.seconds = time.perf_counter() - started

    def _save_resume(self) -> None:
        """``last.pt``, with every rank's random state (rank 0 writes it)."""
        rngs = self.dist.gather(rng_state(self.device))
        if self.dist.is_main:
            self.checkpoints.save_resume(self.state, rngs)
        self.dist.barrier()  # no rank leaves (and so ends the job) while rank 0 still writes

    def _end_epoch(self) -> None:
        config, state, dist = self.config, self.state, self.dist
        val_started = time.perf_counter()
        metric = self.parts.metric
        average = self.parts.average  # the weight average, where the run keeps one, is the model
        if average is not None:
            average.epoch_end(state.epoch)
        with average.applied() if average is not None else contextlib.nullcontext():
            # Rank 0 validates and tells the others, so that every rank stops at the same epoch.
            val = dist.share(lambda: self.evaluate_split(self.parts.data.val))
            improved = state.stopping.update(state.epoch, val[metric])
            if improved and dist.is_main:
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
        if dist.is_main:
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
        self._save_resume()

    def _interrupted_message(self) -> str:
        state = self.state
        where = f"epoch {state.epoch}, batch {state.step}" if state.step else f"the end of epoch {state.epoch - 1}"
        return (
            f"training interrupted at {where}; state saved in {self.checkpoints.resume_path}; "
            f"resume with: hbilstm train --output {self.run_dir} --resume"
        )

    def evaluate_split(self, split: EncodedSplit) -> dict:
        """Scores of the model on ``split``, with ``loss`` the training objective (the same
        class-weighted, label-smoothed cross-entropy as in training, but with dropout off)."""
        probs = predict_probs(self.model, split.ids, batch_size=max(256, self.config.batch_size),
                              device=self.device, amp=self.config.amp, ngrams=split.ngrams)
        labels = torch.tensor(split.labels)
        metrics = classification_metrics(split.labels, probs.argmax(-1).tolist(), self.corpus.label_names)
        metrics["ece"] = calibration(probs.numpy(), split.labels)["ece"]  # 15 bins; hbilstm evaluate draws them
        weight = self.parts.criterion.weight
        # log-probabilities are their own log-softmax, so cross_entropy takes them as logits
        metrics["loss"] = float(nn.functional.cross_entropy(
            probs.clamp_min(1e-12).log(), labels, weight=None if weight is None else weight.cpu(),
            label_smoothing=self.config.label_smoothing))
        return metrics
