"""Several trained classifiers as one: the mean of their class probabilities.

``forward`` returns the log of the members' mean probability, so that a softmax over it (what
every caller applies to logits) gives that mean exactly. The members share a vocabulary, labels
and tokenizer (checked where an ensemble is made, :mod:`hbilstm.export.ensemble`); their shapes
may differ. Imports only torch.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from .classifier import HighwayBiLSTMClassifier
from .config import ModelConfig
from .ngram_head import mean_of_probabilities


class EnsembleClassifier(nn.Module):
    """``members`` (an ``nn.ModuleList`` of :class:`HighwayBiLSTMClassifier`) averaged."""

    def __init__(self, configs: list[ModelConfig]):
        super().__init__()
        if len(configs) < 2:
            raise ValueError("an ensemble needs at least two members")
        buckets = {c.ngram_buckets for c in configs if c.ngram_buckets}
        if len(buckets) > 1:
            raise ValueError("the members hash character n-grams into different numbers of buckets "
                             f"({', '.join(f'{b:,}' for b in sorted(buckets))})")
        words = {c.ngram_words for c in configs if c.ngram_buckets}
        if len(words) > 1:
            raise ValueError(f"the members' n-gram classifiers read runs of different numbers of words "
                             f"(ngram_words {', '.join(map(str, sorted(words)))})")
        self.members = nn.ModuleList(HighwayBiLSTMClassifier(c) for c in configs)
        # vocabulary size and classes are the same in every member; n-grams are read if any member reads them
        # each member adds its own decision offsets; the ensemble's average has none of its own
        self.config = dataclasses.replace(configs[0], ngram_buckets=max(buckets, default=0),
                                          ngram_words=max(words, default=0), offsets=())

    def forward(self, tokens: Tensor, lengths: Tensor, ngrams: Tensor | None = None) -> Tensor:
        return mean_of_probabilities(torch.stack([
            m(tokens, lengths, ngrams) if m.config.ngram_buckets else m(tokens, lengths) for m in self.members
        ]))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
