"""Distillation (``hbilstm distill``, or ``train`` with ``teachers``): one student learns the
averaged, temperature-softened probabilities of several trained models (Hinton et al., 2015), over
the task's training tweets and any unlabelled tweets given (Tang et al., 2019, distilled BERT into
a BiLSTM so), so that an ensemble's accuracy ships as one model of the usual size and speed.

The student's loss is the cross-entropy between the teachers' mean softened distribution and its
own at the same temperature T, times T² (so that its gradients keep their scale as T changes). By
default it learns from no hard label; with ``distill_hard_weight`` α a labelled tweet's target is
``(1 − α)·teachers + α·one_hot(gold)`` (unlabelled tweets keep the teachers' alone). Model
selection, calibration and every score still use the task's real val and test labels. Unlabelled
tweets found in a val or test split of the task or of any TweetEval task are dropped first.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..cache import limit, touch, trim
from ..config import TrainConfig
from ..data.corpora import Corpus
from ..data.pipeline import EncodedSplit, Encoder, encode, encode_ngrams
from ..data.readers import Examples
from ..data.unlabelled import file_list, unlabelled_texts
from ..errors import ConfigError
from ..fileio import atomic_open, default_cache_dir


class DistillationLoss(nn.Module):
    """``T² · mean over rows of −Σ_c q_c log softmax(z / T)_c`` for soft targets ``q`` ``(rows,
    classes)``; hard class ids are read as one-hot targets."""

    weight = None  # no class weights: the teachers' probabilities carry whatever weighting they learnt

    def __init__(self, temperature: float = 2.0):
        super().__init__()
        self.temperature = temperature

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        if targets.dim() == 1:
            targets = nn.functional.one_hot(targets, logits.size(-1)).to(logits.dtype)
        logp = torch.log_softmax(logits / self.temperature, dim=-1)
        return -(targets * logp).sum(-1).mean() * self.temperature ** 2


def softened(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``probs`` as the same logits divided by ``temperature`` would give: ``p^(1/T)``, normalised."""
    logits = np.log(np.clip(probs.astype(np.float64), 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def teacher_targets(teachers: Sequence[str], texts: Sequence[str], label_names: Sequence[str], temperature: float,
                    device: str, log: Callable[[str], None], cache_dir: Path | None = None) -> np.ndarray:
    """The teachers' mean softened probabilities ``(texts, classes)``, columns in the task's class
    order; ConfigError when a teacher's classes differ from the task's. A teacher is a trained
    hbilstm model, or ``hf:MODEL`` for a ``transformers`` classifier (``hub_teacher``). With a
    ``cache_dir``, an hbilstm teacher's probabilities are kept there (:class:`TeacherCache`), so
    that distilling the same teachers again (another seed, temperature or student) does not
    score the same tweets again."""
    from ..loading import load
    from .hub_teacher import HubTeacher, class_order, is_hub_teacher

    cache = TeacherCache(cache_dir, texts)
    total = np.zeros((len(texts), len(label_names)))
    for path in teachers:
        done = "scored"
        if is_hub_teacher(path):
            teacher = HubTeacher(path, device)
            columns = class_order(teacher.label_names, label_names, path, log)
            probs = teacher.predict_probs(list(texts))[:, columns]
        else:
            teacher = load(path, backend="torch", device=device)
            if list(teacher.label_names) != list(label_names):
                raise ConfigError(f"teacher {path} predicts {', '.join(teacher.label_names)}, the task has "
                                  f"{', '.join(label_names)}")
            entry = cache.entry(teacher)
            probs = cache.read(entry, len(label_names))
            if probs is None:
                probs = teacher.predict_probs(list(texts))
                cache.write(entry, probs)
            else:
                done = "read the cached probabilities of"
        total += softened(probs, temperature)
        log(f"teacher {path}: {done} {len(texts):,} tweets")
    return total / len(teachers)


class TeacherCache:
    """A trained teacher's class probabilities for one list of texts, as ``.npy`` files under
    ``root/teachers``; ``root=None`` keeps nothing. The key hashes everything the probabilities
    depend on: the model (its weights, temperatures and shape: the ONNX export's digest), its
    vocabulary, token limit and n-gram buckets, and the texts with the tokenizer's settings and
    version (the token cache's key). A damaged or mismatched entry is scored again, never trusted."""

    VERSION = 1

    def __init__(self, root: Path | None, texts: Sequence[str]):
        self.root = Path(root) / "teachers" if root is not None else None
        if root is not None:
            limit()  # a bad $HBILSTM_CACHE_LIMIT is reported before the teachers score anything
        self.texts = texts

    def entry(self, teacher) -> Path | None:
        """Where the probabilities of ``teacher`` (a loaded :class:`~hbilstm.inference.model.Model`)
        are kept; None without a cache."""
        if self.root is None:
            return None
        from ..data.token_cache import cache_key
        from ..export.onnx import digest_of_model

        encoder = teacher.encoder
        digest = hashlib.sha256()
        for part in (str(self.VERSION), digest_of_model(teacher.model), cache_key(self.texts, encoder.tokenizer_config),
                     f"{encoder.max_tokens}:{encoder.ngram_buckets}:{encoder.vocab.fallback is not None}",
                     *encoder.vocab.tokens):
            digest.update(part.encode("utf-8", "surrogatepass"))
            digest.update(b"\x00")
        return self.root / f"{digest.hexdigest()[:32]}.npy"

    def read(self, entry: Path | None, classes: int) -> np.ndarray | None:
        """The probabilities kept at ``entry`` (one row per text, ``classes`` columns), or None."""
        if entry is None or not entry.is_file():
            return None
        try:
            probs = np.load(entry, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if probs.shape != (len(self.texts), classes) or not np.isfinite(probs).all():
            return None
        touch(entry)  # its last use, for hbilstm cache --older-than
        return probs

    def write(self, entry: Path | None, probs: np.ndarray) -> None:
        if entry is None:
            return
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(entry, "wb") as handle:
                np.save(handle, np.asarray(probs), allow_pickle=False)
            trim(entry.parent.parent, entry)
        except OSError:  # a read-only or full cache costs a rescoring next time, nothing more
            pass


def with_gold(targets: np.ndarray, labels: Sequence[int], weight: float) -> np.ndarray:
    """``targets`` with the first ``len(labels)`` rows (the labelled tweets) moved ``weight`` of the
    way to their gold labels' one-hot rows; the rest (unlabelled tweets) as they are."""
    if not weight:
        return targets
    out = np.array(targets, dtype=np.float64)
    out[:len(labels)] *= 1.0 - weight
    out[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)] += weight
    return out


def distillation_split(config: TrainConfig, train_examples: Examples, train: EncodedSplit, corpus: Corpus,
                       encoder: Encoder, vocab, data_dir, device: str, log: Callable[[str], None]) -> EncodedSplit:
    """The student's training split: the task's training tweets and the unlabelled ones, each
    with the teachers' soft targets as its label."""
    teachers = [t.strip() for t in config.teachers.split(",") if t.strip()]
    extra, dropped = unlabelled_texts(file_list(config.unlabelled), corpus, data_dir)
    if config.unlabelled:
        log(f"unlabelled: {len(extra):,} tweets ({dropped:,} dropped as val or test tweets)")
    targets = teacher_targets(teachers, list(train_examples.texts) + extra, corpus.label_names,
                              config.distill_temperature, device, log, default_cache_dir())
    targets = with_gold(targets, train.labels, config.distill_hard_weight)
    tokens = encoder.cache.tokenize(extra) if extra else []
    ids = train.ids + encode(tokens, vocab, config.max_tokens)
    ngrams = None
    if train.ngrams is not None:
        extra_ngrams = encode_ngrams(tokens, config.ngram_buckets, config.max_tokens, config.ngram_words)
        ngrams = train.ngrams + (extra_ngrams or [])
    row_ids = train.row_ids + [f"unlabelled-{i + 1}" for i in range(len(extra))]
    return EncodedSplit(ids, targets.astype(np.float32).tolist(), row_ids, ngrams)
