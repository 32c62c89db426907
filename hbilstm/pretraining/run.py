"""``pretrain(config, out)``: what ``hbilstm pretrain`` calls.

The stack learns from unlabelled tweets (:mod:`hbilstm.data.unlabelled` builds the pool, with no
val or test tweet of any task in it) by two objectives at once, each step one batch of each:

* ``lm``: a bidirectional language model (:mod:`hbilstm.model.bilm`): the forward direction
  predicts the next token, the backward direction the previous one, through an adaptive softmax;
* ``emoji``: which of TweetEval's 20 emoji a tweet held (DeepMoji's distant supervision), through
  the classifier the stack already has (attention pooling, then a linear layer).

A pretraining run directory holds ``config.yaml``, ``manifest.json``, ``metrics.jsonl`` (one line
per epoch: the language model's perplexity on held-out pool tweets, the emoji task's val macro-F1),
``encoder.pt`` (the stack with its vocabulary: what ``hbilstm train --init`` starts from; it is an
ordinary model checkpoint, an emoji classifier) and ``last.pt`` (to resume). Files are written
atomically; SIGINT/SIGTERM, or ``max_minutes``, stop at the next batch with both saved.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .. import __version__
from ..callbacks import TrainCallback
from ..checkpoint import load_checkpoint, save_checkpoint, vocab_payload, vocabulary_from_payload
from ..config import to_yaml
from ..data.batching import ResidentSplit, bucket_order
from ..data.corpora import resolve_data_dir
from ..data.pipeline import Encoder, encode
from ..data.readers import Examples
from ..data.tokenizer import TokenizerConfig
from ..data.unlabelled import EMOJI_TASK, POOL_TASKS, Pool, build_pool
from ..data.vocab import Vocabulary
from ..errors import ConfigError, TrainingDiverged, TrainingInterrupted
from ..evaluation.metrics import classification_metrics
from ..fileio import default_cache_dir, json_line, refuse_file_as_folder, write_json_atomic, write_text_atomic
from ..inference import autocast, cpu_settings, predict_probs, resolve_device
from ..model import HighwayBiLSTMClassifier
from ..model.bilm import BiLMHead, block_diagonal_start
from ..tracking import open_tracker
from ..training.checkpoints import rng_state, set_rng_state
from ..training.distributed import Distributed
from ..training.manifest import build_manifest
from ..training.run import refuse_resume_with_overwrite, stop_signals
from .config import PretrainConfig

ENCODER_FILE, RESUME_FILE, CONFIG_FILE, METRICS_FILE = "encoder.pt", "last.pt", "config.yaml", "metrics.jsonl"
RUN_FILES = (CONFIG_FILE, "manifest.json", METRICS_FILE, ENCODER_FILE, RESUME_FILE)
LM_HELD_OUT = 2000  # pool tweets kept out of training to measure the language model's perplexity
LOG_EVERY = 20


@dataclass
class PretrainResult:
    run_dir: Path
    epochs_run: int  # whole epochs over the pool
    perplexity: float | None  # on held-out pool tweets, at the end
    emoji_f1: float | None  # the emoji task's val macro-F1, at the end
    seconds: float
    stopped: str  # "completed" | "time limit"
    pool: dict
    peak_memory_mb: float | None = None
    part_epoch: bool = False  # the run stopped in an epoch, after epochs_run whole ones


def _check_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> dict | None:
    refuse_resume_with_overwrite(resume, overwrite)
    refuse_file_as_folder(run_dir, "--output takes a folder for the pretraining run")
    if resume:
        if not (run_dir / RESUME_FILE).is_file():
            raise ConfigError(f"{run_dir}: no {RESUME_FILE} to resume from")
        return load_checkpoint(run_dir / RESUME_FILE, kind="resume")
    existing = [f for f in RUN_FILES if (run_dir / f).exists()]
    if existing and not overwrite:
        raise ConfigError(f"{run_dir} already holds a pretraining run ({', '.join(existing)}); use --resume to "
                          "continue it or --overwrite to start again")
    return None


def _clear_run_dir(run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)


class _Pretraining:
    """The model, its language-model head and optimizer, the data on the device, and the position."""

    def __init__(self, config: PretrainConfig, pool: Pool, device: torch.device, saved: dict | None) -> None:
        self.config, self.device = config, device
        self.objectives = config.objective_list
        encoder = Encoder(TokenizerConfig.of(config), default_cache_dir(), config.max_tokens)
        tokens = encoder.tokens(Examples(list(pool.texts), [""] * len(pool.texts), [""] * len(pool.texts)))
        self.vocab = (vocabulary_from_payload(saved) if saved is not None
                      else Vocabulary.build(tokens, min_freq=config.min_freq, max_size=config.max_vocab))
        ids = encode(tokens, self.vocab, config.max_tokens)
        order = torch.randperm(len(ids), generator=torch.Generator().manual_seed(config.seed)).tolist()
        held = set(order[:min(LM_HELD_OUT, len(ids) // 10)])
        self.lm_train = [s for i, s in enumerate(ids) if i not in held]
        self.lm_val = [s for i, s in enumerate(ids) if i in held]
        # Without the emoji objective the encoder's classifier is never trained (a model has two classes at least).
        self.labels = pool.emoji if "emoji" in self.objectives else ["unused-0", "unused-1"]
        self.emoji_train = self.emoji_val = None
        if "emoji" in self.objectives:
            emoji_tokens = encoder.tokens(Examples(list(pool.emoji_texts), [""] * len(pool.emoji_texts),
                                                   [""] * len(pool.emoji_texts)))
            self.emoji_train = (encode(emoji_tokens, self.vocab, config.max_tokens), list(pool.emoji_labels))
            self.emoji_val = self._emoji_val(encoder, pool)
        torch.manual_seed(config.seed)
        self.model_config = config.model_config(len(self.vocab), len(self.labels))
        self.model = HighwayBiLSTMClassifier(self.model_config)
        block_diagonal_start(self.model)
        self.lm_head = BiLMHead(config.hidden, len(self.vocab))
        self.model.to(device)
        self.lm_head.to(device)
        self.resident = ResidentSplit(self.lm_train, None, device)
        self.resident_emoji = (ResidentSplit(*self.emoji_train, device) if self.emoji_train is not None else None)
        self.optimizer = self._optimizer()
        self.epoch, self.step, self.history = 1, 0, []
        self._emoji_round: tuple[int, list[list[int]]] | None = None
        self.files: list[str] = []  # the files of tweets in the pool, which a resume reads again
        if saved is not None:
            self.model.load_state_dict(saved["state_dict"])
            self.lm_head.load_state_dict(saved["lm_head"])
            self.optimizer.load_state_dict(saved["optimizer"])
            self.epoch, self.step, self.history = saved["epoch"], saved["step"], saved["history"]
            set_rng_state(saved["rng"], device)

    def _emoji_val(self, encoder: Encoder, pool: Pool) -> tuple[list, list] | None:
        """The emoji task's own val split, to watch the emoji objective (never trained on)."""
        from ..data.corpora import load_corpus

        try:
            corpus = load_corpus(EMOJI_TASK, resolve_data_dir(self.config.data_dir), download=False)
        except Exception:
            return None
        val = corpus.splits.get("val")
        if val is None:
            return None
        index = {name: i for i, name in enumerate(corpus.label_names)}
        return encode(encoder.tokens(val), self.vocab, self.config.max_tokens), [index[x] for x in val.labels]

    def _optimizer(self) -> torch.optim.Optimizer:
        params = [p for m in (self.model, self.lm_head) for p in m.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": self.config.weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=self.config.lr, fused=self.device.type in ("cpu", "cuda") or None)

    def order(self, epoch: int) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        return bucket_order(self.resident.lengths.tolist(), self.config.batch_size, generator)

    def emoji_batch(self, step: int):
        """The emoji batch of overall step ``step``: the emoji examples cycle, reshuffled each round."""
        lengths = self.resident_emoji.lengths.tolist()
        per_round = math.ceil(len(lengths) / self.config.batch_size)
        round_ = step // per_round
        if self._emoji_round is None or self._emoji_round[0] != round_:
            generator = torch.Generator().manual_seed(self.config.seed * 7_919 + round_)
            self._emoji_round = (round_, bucket_order(lengths, self.config.batch_size, generator))
        return self.resident_emoji.batch(self._emoji_round[1][step % per_round])

    def train_step(self, batch, overall_step: int) -> tuple[float, float]:
        """One optimizer step; the language model's summed loss and its count (a host sync)."""
        config = self.config
        self.model.train()
        loss = torch.zeros((), device=self.device)
        lm_sum = torch.zeros((), device=self.device)
        count = torch.zeros((), device=self.device)
        with autocast(self.device, config.amp):
            if "lm" in self.objectives:
                lm_sum, count = self.lm_head(self.model, batch.tokens, batch.lengths)
                loss = loss + lm_sum / count.clamp(min=1)
            if self.resident_emoji is not None:
                emoji = self.emoji_batch(overall_step)
                logits = self.model(emoji.tokens, emoji.lengths)
                loss = loss + config.emoji_weight * nn.functional.cross_entropy(logits.float(), emoji.labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip > 0:
            nn.utils.clip_grad_norm_([p for m in (self.model, self.lm_head) for p in m.parameters()], config.clip)
        self.optimizer.step()
        return float(lm_sum.detach() if "lm" in self.objectives else loss.detach()), float(count)

    @torch.no_grad()
    def perplexity(self) -> float | None:
        if "lm" not in self.objectives or not self.lm_val:
            return None
        self.model.eval()
        held = ResidentSplit(self.lm_val, None, self.device)
        total = n = 0.0
        for batch in held.batches(bucket_order(held.lengths.tolist(), 256)):
            with autocast(self.device, self.config.amp):
                loss_sum, count = self.lm_head(self.model, batch.tokens, batch.lengths)
            total += float(loss_sum)
            n += float(count)
        return math.exp(total / n) if n else None

    def emoji_f1(self) -> float | None:
        if self.emoji_val is None:
            return None
        ids, labels = self.emoji_val
        probs = predict_probs(self.model, ids, batch_size=256, device=self.device, amp=self.config.amp)
        return classification_metrics(labels, probs.argmax(-1).tolist(), self.labels)["macro_f1"]

    def payload(self, pool: Pool) -> dict:
        return {
            "kind": "model",
            "hbilstm_version": __version__,
            "model_config": self.model_config.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            **vocab_payload(self.vocab),
            "labels": list(self.labels),
            "tokenizer": TokenizerConfig.of(self.config).to_dict(),
            "max_tokens": self.config.max_tokens,
            "pretrain_config": self.config.to_dict(),
            "dataset": EMOJI_TASK if "emoji" in self.objectives else "unlabelled tweets",
            "metric": "macro_f1",
            "pretraining": {"objectives": self.objectives, "epochs": self.epoch - (self.step == 0),
                            "pool": _pool_summary(pool)},
        }

    def save(self, run_dir: Path, pool: Pool) -> None:
        payload = self.payload(pool)
        save_checkpoint(run_dir / ENCODER_FILE, payload)
        save_checkpoint(run_dir / RESUME_FILE, {
            **payload, "kind": "resume", "lm_head": {k: v.detach().cpu() for k, v in self.lm_head.state_dict().items()},
            "optimizer": self.optimizer.state_dict(), "epoch": self.epoch, "step": self.step,
            "history": self.history, "rng": rng_state(self.device), "files": self.files,
        })


def peak_memory_mb(device: torch.device) -> float | None:
    """The process's peak resident memory so far (on a GPU: the device memory torch allocated), in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _pool_summary(pool: Pool) -> dict:
    return {"tweets": len(pool.texts), "emoji_examples": len(pool.emoji_texts), "sources": pool.sources,
            "dropped_as_val_or_test": pool.held_out, "dropped_as_repeats": pool.repeated,
            "checked_against": pool.checked_against}


def pretrain(config: PretrainConfig, out: str | Path, files: tuple[str, ...] = (), *, resume: bool = False,
             overwrite: bool = False, callback: TrainCallback | None = None,
             stop=None) -> PretrainResult:
    """Pretrain as ``config`` says into run directory ``out``, on the pool of the TweetEval train
    splits (``config.tasks``) and ``files``; see the module docs. ``stop`` (an Event): stop at the
    next batch when set, saving a resumable state (TrainingInterrupted)."""
    if Distributed.from_env().enabled:  # N processes would each write the same run directory
        raise ConfigError("hbilstm pretrain runs in one process: start it without torchrun "
                          "(train --init and distill take torchrun)")
    callback = callback or TrainCallback()
    run_dir = Path(out)
    started = time.perf_counter()
    with cpu_settings(config.threads), open_tracker(config.log_to, pretraining=True) as tracker:
        device = resolve_device(config.device)
        saved = _check_run_dir(run_dir, resume, overwrite)
        if saved is not None:  # the run's own options and files, but for those a resume may change
            config = config.replace(**{k: v for k, v in saved["pretrain_config"].items()
                                       if k not in ("device", "threads", "epochs", "max_minutes", "amp", "log_to")})
            files = tuple(saved.get("files") or files)
        data_dir = resolve_data_dir(config.data_dir)
        tasks = config.task_list()
        pool = build_pool(data_dir, files, POOL_TASKS if tasks is None else tasks, config.text_column,
                          emoji="emoji" in config.objective_list)
        unread = [name for name in tasks or () if f"{name} train" not in pool.sources]
        if unread:  # a task named but not found (a typo) would shrink the pool unsaid
            raise ConfigError(f"--tasks: {unread[0]} has no train split in {data_dir}; name datasets that "
                              "`hbilstm data` lists, or tweeteval (every TweetEval task found), or none")
        callback.log(f"pool: {len(pool.texts):,} tweets from {len(pool.sources)} sources "
                     f"({pool.held_out:,} dropped as val or test tweets of {len(pool.checked_against)} datasets, "
                     f"{pool.repeated:,} as repeats)"
                     + (f"; {len(pool.emoji_texts):,} emoji examples" if "emoji" in config.objective_list else ""))
        if "emoji" in config.objective_list and not pool.emoji_texts:
            raise ConfigError("the emoji objective found no tweet with one of the 20 emoji; use --objectives lm")
        if saved is None:  # only now, with the options and the data found good
            _clear_run_dir(run_dir)
        write_text_atomic(run_dir / CONFIG_FILE, to_yaml(config))
        manifest = build_manifest(config.seed, device, "unlabelled tweets", [Path(f) for f in files])
        manifest["pool"] = _pool_summary(pool)
        write_json_atomic(run_dir / "manifest.json", manifest)
        work = _Pretraining(config, pool, device, saved)
        work.files = [str(f) for f in files]
        tracker.start(run_dir, config, first_epoch=work.epoch, resumed=saved is not None, has_test=False)
        callback = tracker.listen(callback)
        callback.log(f"model: {config.layers} x {config.carry} BiLSTM, hidden {config.hidden}x2, vocabulary "
                     f"{len(work.vocab):,}; objectives {', '.join(work.objectives)}; device {device}")
        stopped = "completed"
        with stop_signals() if stop is None else contextlib.nullcontext(stop) as stop_event:
            stopped = _fit(work, config, run_dir, pool, callback, stop_event, started)
    history = work.history
    return PretrainResult(run_dir, sum(not r["partial"] for r in history),
                          history[-1]["perplexity"] if history else None,
                          history[-1]["emoji_macro_f1"] if history else None, time.perf_counter() - started,
                          stopped, _pool_summary(pool), peak_memory_mb(device),
                          part_epoch=bool(history) and history[-1]["partial"])


def _fit(work: _Pretraining, config: PretrainConfig, run_dir: Path, pool: Pool, callback: TrainCallback,
         stop, started: float) -> str:
    deadline = started + 60 * config.max_minutes if config.max_minutes else None
    while work.epoch <= config.epochs:
        order = work.order(work.epoch)
        callback.epoch_start(work.epoch, config.epochs, len(order), work.step)
        epoch_started = time.perf_counter()
        loss_sum = count = 0.0
        tweets = 0
        for positions in order[work.step:]:
            batch = work.resident.batch(positions)
            lm_sum, lm_count = work.train_step(batch, (work.epoch - 1) * len(order) + work.step)
            if not math.isfinite(lm_sum):
                raise TrainingDiverged(f"the loss became {lm_sum} in epoch {work.epoch}; try a lower --lr")
            loss_sum += lm_sum
            count += lm_count
            tweets += len(positions)
            work.step += 1
            if work.step % LOG_EVERY == 0:
                seconds = time.perf_counter() - epoch_started
                callback.batch_end(work.step, loss_sum / max(count, 1), 0.0, tweets / max(seconds, 1e-9))
            out_of_time = deadline is not None and time.perf_counter() > deadline
            if stop.is_set() or out_of_time:
                _end_epoch(work, run_dir, pool, callback, loss_sum / max(count, 1), epoch_started, tweets,
                           partial=True)
                if out_of_time:
                    callback.log(f"stopped at --max-minutes {config.max_minutes:g}, in epoch {work.epoch}; "
                                 f"the encoder is saved in {run_dir / ENCODER_FILE}")
                    return "time limit"
                raise TrainingInterrupted(
                    f"pretraining interrupted in epoch {work.epoch}; state saved in {run_dir / RESUME_FILE}; "
                    f"resume with: hbilstm pretrain --output {run_dir} --resume")
        work.step = 0
        _end_epoch(work, run_dir, pool, callback, loss_sum / max(count, 1), epoch_started, tweets)
    return "completed"


def _end_epoch(work: _Pretraining, run_dir: Path, pool: Pool, callback: TrainCallback, train_loss: float,
               epoch_started: float, tweets: int, partial: bool = False) -> None:
    seconds = time.perf_counter() - epoch_started
    record = {"epoch": work.epoch, "partial": partial, "train_loss": train_loss, "tweets": tweets,
              "tweets_per_s": tweets / max(seconds, 1e-9), "perplexity": work.perplexity(),
              "emoji_macro_f1": work.emoji_f1(), "seconds": seconds, "peak_memory_mb": peak_memory_mb(work.device)}
    work.history.append(record)
    callback.epoch_end(record)
    callback.log(f"epoch {work.epoch:>2}{' (part)' if partial else ''}: loss {train_loss:.3f}"
                 + (f", held-out perplexity {record['perplexity']:.1f}" if record["perplexity"] else "")
                 + (f", emoji val macro-F1 {100 * record['emoji_macro_f1']:.2f}"
                    if record["emoji_macro_f1"] is not None else "")
                 + f"; {record['seconds']:.0f}s, {record['tweets_per_s']:,.0f} tweets/s")
    if not partial:
        work.epoch += 1
    write_text_atomic(run_dir / METRICS_FILE, "".join(json_line(r) for r in work.history))
    work.save(run_dir, pool)
