"""What a run trains: the encoded data, the model, its optimizer and its loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..checkpoint import RESUME_FILE, vocabulary_from_payload
from ..config import TrainConfig
from ..data.corpora import Corpus
from ..data.embeddings import load_vectors, with_vector_fallback
from ..data.lexicon import lexicon_features
from ..data.pipeline import Encoder, TrainingData, encode, prepare_training_data
from ..data.tokenizer import TokenizerConfig
from ..data.vocab import PAD_ID
from ..fileio import default_cache_dir
from ..model import HighwayBiLSTMClassifier, ModelConfig
from ..model.chars import spell
from .averaging import EpochAverage, WeightAverage
from .graphs import SmoothedCrossEntropy, uses_cuda_graphs
from .layerwise import layer_groups
from .warm_start import load_encoder, merged_vocabulary, start_from, vectors_as_embeddings


@dataclass
class Parts:
    """A run's data, model, optimizer and loss, built from its config (and a resume state)."""

    data: TrainingData
    metric: str
    tokenizer_config: TokenizerConfig
    model_config: ModelConfig
    model: HighwayBiLSTMClassifier
    optimizer: torch.optim.Optimizer
    criterion: nn.Module
    embedding_info: dict | None
    average: WeightAverage | EpochAverage | None = None  # the weight average (ema, swa_start), when the run keeps one
    frozen_rows: list[int] | None = None  # embedding rows kept fixed (freeze_embeddings), when not all are
    head_criterion: nn.Module | None = None  # the n-gram classifier's loss, when the model has one
    unlabelled_ids: list[list[int]] | None = None  # what virtual_adversarial reads: train and unlabelled tweets


def class_weights(labels: list[int], num_classes: int) -> torch.Tensor:
    """``n / (classes * count)`` per class: every class weighs the same in the loss, which is
    what macro-averaged recall rewards (a class absent from train gets weight 0)."""
    counts = torch.bincount(torch.tensor(labels), minlength=num_classes).float()
    weights = len(labels) / (num_classes * counts.clamp(min=1))
    return torch.where(counts > 0, weights, torch.zeros_like(weights))


def make_optimizer(model: nn.Module, config: TrainConfig, device: torch.device,
                   undecayed: tuple[nn.Parameter, ...] = ()) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters, with weight decay on the weight matrices only.

    Biases and the residual gate k are left undecayed: decay would drag the transform-gate bias
    b_T from its negative start toward 0 (opening every gate) and k toward 0, undoing the
    initialisation the carries depend on. The embedding's padding row is zero and gets no
    gradient, so decay keeps it zero. ``undecayed`` parameters are not decayed either (an
    embedding whose pretrained rows are frozen: decay would shrink them). With ``lr_layer_decay``
    below 1, each level of the model learns at its own rate (:mod:`hbilstm.training.layerwise`).
    """
    keep = {id(p) for p in undecayed}
    groups = []
    # With lr_layer_decay < 1, a group per level (embeddings, each layer, the top), each at its rate.
    for level, params, lr in layer_groups(model, config.lr, config.lr_layer_decay):
        trainable = [p for p in params if p.requires_grad]
        groups += [
            {"params": [p for p in trainable if p.dim() >= 2 and id(p) not in keep],
             "weight_decay": config.weight_decay, "lr": lr, "level": level},
            {"params": [p for p in trainable if p.dim() < 2 or id(p) in keep], "weight_decay": 0.0, "lr": lr,
             "level": level},
        ]
    # The fused AdamW updates every parameter in one kernel: on the CPU its step is ten times
    # faster than the per-parameter loop (benchmarks.md), which matters with a large embedding.
    # capturable: the step keeps its count on the device, so that a CUDA graph can record it.
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr,
                             fused=device.type in ("cpu", "cuda") or None,
                             capturable=uses_cuda_graphs(config, device))


def build(config: TrainConfig, corpus: Corpus, device: torch.device, resume_state: dict | None,
          log: Callable[[str], None]) -> Parts:
    """Encode the corpus, build the model (with pretrained vectors when asked) on ``device``, and
    its optimizer and loss. A resume keeps the saved vocabulary and embedding size."""
    tokenizer_config = TokenizerConfig.of(config)
    encoder = Encoder(tokenizer_config, default_cache_dir(), config.max_tokens, config.ngram_buckets,
                      config.ngram_words)
    vocab = vocabulary_from_payload(resume_state, RESUME_FILE) if resume_state else None
    pretrained = load_encoder(config, tokenizer_config) if config.init and resume_state is None else None
    extend = merged_vocabulary(pretrained, config.max_vocab) if pretrained is not None else None
    if config.vector_fallback:  # after the merge: the fallback reads into the whole vocabulary
        merge, fallback = extend, with_vector_fallback(config.embeddings)
        extend = fallback if merge is None else (lambda task_vocab: fallback(merge(task_vocab)))
    exclude: set[str] = set()
    if config.exclude_held_out:
        from ..data.corpora import resolve_data_dir
        from ..data.unlabelled import other_tasks_held_out

        exclude = other_tasks_held_out(corpus.name, resolve_data_dir(config.data_dir))
    data = prepare_training_data(
        corpus, encoder, config.min_freq, config.max_vocab, config.val_fraction, config.seed, vocab,
        config.max_train, extend, exclude,
    )
    if config.exclude_held_out:
        log(f"exclude_held_out: {data.excluded:,} train tweets dropped (their text is in another TweetEval "
            f"task's val or test split)")
    if config.teachers:
        from ..data.corpora import resolve_data_dir
        from ..data.pipeline import training_splits, without_texts
        from .distillation import distillation_split

        train_examples = without_texts(  # the examples data.train holds, in its order
            training_splits(corpus, config.val_fraction, config.seed, config.max_train)["train"], exclude)
        data.train = distillation_split(config, train_examples, data.train, corpus, encoder, data.vocab,
                                        resolve_data_dir(config.data_dir), str(device), log)
    unlabelled_ids = (virtual_adversarial_pool(config, corpus, encoder, data, log)
                      if config.virtual_adversarial else None)
    cache = encoder.cache
    if data.vocab.fallback is not None:
        log(f"vector fallback: {len(data.vocab.fallback):,} keys of {config.embeddings} read as their nearest "
            "vocabulary word")
    log(
        f"data: {corpus.name}: train {len(data.train):,}, val {len(data.val):,} ({data.val_source})"
        + (f", test {len(data.test):,}" if data.test is not None else "")
        + f"; vocabulary {len(data.vocab):,}; tokens "
        + ("from cache" if cache.misses == 0 else f"tokenized ({cache.hits} of {cache.hits + cache.misses} splits "
                                                  "cached)")
    )
    vectors = None
    embedding_dim, vector_features = config.embedding_dim, 0
    if resume_state is not None:
        embedding_dim = resume_state["model_config"]["embedding_dim"]
        vector_features = resume_state["model_config"].get("vector_features", 0)
    elif config.embeddings:
        vectors = load_vectors(config.embeddings, data.vocab, data.token_counts, config.seed)
        width = vectors.weights.size(1)
        if pretrained is not None and not vectors_as_embeddings(pretrained, config):
            vector_features = width  # joined beside the encoder's embeddings, fixed
        else:
            embedding_dim = width
        log(
            f"embeddings: {config.embeddings}: {vectors.found:,} of {vectors.vocab_size - 2:,} "
            f"vocabulary words ({vectors.type_coverage:.1%}), {vectors.token_coverage:.1%} of "
            f"training tokens; dimension {width}"
            + ("; fixed, beside the encoder's embeddings (zeros for words without a vector)" if vector_features else
               "; trainable" if not config.freeze_embeddings else
               f"; frozen, but for the {vectors.vocab_size - 2 - vectors.found:,} words without a vector"
               if config.train_missing_vectors else "; frozen")
        )
        if embedding_dim != config.embedding_dim:
            log(f"embedding_dim set to {embedding_dim} by the vectors file")
    embedding_info = (
        {"file": config.embeddings, "found": vectors.found, "type_coverage": vectors.type_coverage,
         "token_coverage": vectors.token_coverage} if vectors else None
    )

    torch.manual_seed(config.seed)
    model_config = config.model_config(len(data.vocab), len(corpus.label_names), embedding_dim, vector_features)
    model = HighwayBiLSTMClassifier(model_config)
    if vectors is not None and vector_features:
        with torch.no_grad():  # the rows of words without a vector stay zero: the encoder's embeddings carry them
            model.word_vectors[list(vectors.found_ids)] = vectors.weights[list(vectors.found_ids)]
    elif vectors is not None:
        with torch.no_grad():
            model.embedding.weight.copy_(vectors.weights)
    if pretrained is not None:
        taken = start_from(pretrained, model, data.vocab, corpus.label_names)
        embedding_info = {"init": taken, **({"vectors_beside": embedding_info} if embedding_info else {})}
        log(f"init: {taken['weights']} weights from {taken['encoder']}"
            + (" (its classifiers too: the same labels)" if taken["classifiers"] else "")
            + f"; vocabulary {taken['words_pretrained']:,} words pretrained, {taken['words_new']:,} new from "
            f"{corpus.name} train")
    frozen_rows = None
    if config.freeze_embeddings:
        if config.train_missing_vectors:  # only the pretrained rows stay fixed
            frozen_rows = resume_state.get("frozen_rows") if resume_state else (
                [PAD_ID, *vectors.found_ids] if vectors is not None else None)
        if frozen_rows is None:  # the whole table
            model.embedding.weight.requires_grad_(False)
    if config.lexicon != "none":
        rows, found = lexicon_features(config.lexicon, list(data.vocab.tokens))
        with torch.no_grad():
            model.lexicon.copy_(torch.tensor(rows))
        log(f"lexicon: {config.lexicon} rates {found:,} of {len(data.vocab):,} vocabulary words")
    if config.char_features:
        with torch.no_grad():
            model.spellings.copy_(torch.tensor(spell(list(data.vocab.tokens)), dtype=torch.int16))
    model.to(device)
    if frozen_rows is not None:
        freeze_rows(model.embedding.weight, frozen_rows)
    weights = None
    if config.class_weights == "balanced" and not config.teachers:  # a student learns the teachers' weighting
        weights = class_weights(data.train.labels, len(corpus.label_names)).to(device)
    metric = corpus.metric if config.metric == "auto" else config.metric
    log(
        f"model: {config.layers} x {config.carry} BiLSTM, hidden {config.hidden}x2"
        + (f", a linear n-gram classifier beside it ({config.ngram_buckets:,} buckets)" if config.ngram_buckets else "")
        + f", {model.num_parameters():,} parameters; device {device}"
    )
    optimizer = make_optimizer(model, config, device, (model.embedding.weight,) if frozen_rows is not None else ())
    average = (WeightAverage(model, config.ema) if config.ema
               else EpochAverage(model, config.swa_start) if config.swa_start else None)
    # The n-gram classifier learns from the plain class-weighted loss: label smoothing, which the
    # stack gains from, cost the linear classifier alone 1.3 points of test macro-recall
    # (docs/journal/accuracy.md, fourth round).
    # (SmoothedCrossEntropy is nn.CrossEntropyLoss without a host sync, so that a CUDA graph can
    # record the step: graphs.py.)
    head_criterion = SmoothedCrossEntropy(weights) if config.ngram_buckets else None
    criterion = SmoothedCrossEntropy(weights, config.label_smoothing)
    if config.teachers:
        from .distillation import DistillationLoss

        criterion = DistillationLoss(config.distill_temperature)
        head_criterion = DistillationLoss(config.distill_temperature) if config.ngram_buckets else None
    return Parts(data, metric, tokenizer_config, model_config, model, optimizer, criterion, embedding_info,
                 average, frozen_rows, head_criterion, unlabelled_ids)


def virtual_adversarial_pool(config: TrainConfig, corpus: Corpus, encoder: Encoder, data: TrainingData,
                             log: Callable[[str], None]) -> list[list[int]]:
    """The tweets the virtual adversarial loss reads: the training split's and the ``unlabelled``
    files' (less any val or test tweet), encoded with the run's vocabulary. (A distillation run's
    training split already holds the unlabelled tweets.)"""
    from ..data.corpora import resolve_data_dir
    from ..data.unlabelled import file_list, unlabelled_texts

    extra, dropped = ([], 0) if config.teachers else unlabelled_texts(
        file_list(config.unlabelled), corpus, resolve_data_dir(config.data_dir))
    ids = data.train.ids + (encode(encoder.cache.tokenize(extra), data.vocab, config.max_tokens) if extra else [])
    dropped_note = f" ({dropped:,} dropped as val or test tweets)" if dropped else ""
    log(f"virtual adversarial: {len(ids):,} tweets, "
        + ("the distillation's training split, its unlabelled tweets too" if config.teachers
           else f"train and {len(extra):,} unlabelled{dropped_note}"))
    return ids


def freeze_rows(weight: nn.Parameter, rows: list[int]) -> None:
    """Keep ``rows`` of an embedding table fixed while the others train: their gradient is zeroed
    (so Adam never moves them; keep the table out of weight decay too)."""
    trainable = torch.ones(weight.size(0), 1, dtype=weight.dtype, device=weight.device)
    trainable[torch.tensor(rows, dtype=torch.long, device=weight.device)] = 0
    weight.register_hook(lambda grad: grad * trainable)
