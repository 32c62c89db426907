"""A second classifier beside the stack: linear over the tweet's bag of hashed character n-grams.

The bag (:mod:`hbilstm.data.ngrams`: every 2 to 5 characters of every token, hashed into
``ngram_buckets`` ids) is scored by one learnt row of class weights per bucket, summed over the
tweet's n-grams and divided by the square root of their number, plus a bias: a linear model
like TF-IDF + logistic regression, which sees the spelling of words the vocabulary lacks. It
shares nothing with the stack. While training, each of the two is trained on its own loss (so
neither leans on the other); at prediction the model gives the mean of their probabilities.
Imports only torch.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class NgramHead(nn.Module):
    """``forward(ngrams)``: ``(batch, num_classes)`` logits from n-gram ids ``(batch, n)``, padded
    with 0 (a padding id adds nothing and is not counted; a row of padding only gives the bias)."""

    def __init__(self, buckets: int, num_classes: int):
        super().__init__()
        self.weight = nn.Embedding(buckets + 1, num_classes, padding_idx=0)
        nn.init.zeros_(self.weight.weight)  # a linear model starts from no opinion
        self.bias = nn.Parameter(torch.zeros(num_classes))

    def forward(self, ngrams: Tensor) -> Tensor:
        count = (ngrams != 0).sum(dim=1, keepdim=True).clamp(min=1)
        return self.weight(ngrams).sum(dim=1) / count.to(self.bias.dtype).sqrt() + self.bias


def mean_of_probabilities(logits: Tensor) -> Tensor:
    """Logits ``(members, batch, classes)`` -> the log of the members' mean probability, whose
    softmax (what every caller applies to logits) is that mean exactly."""
    logs = torch.log_softmax(logits.float(), dim=-1)
    return torch.logsumexp(logs, dim=0) - math.log(logits.size(0))
