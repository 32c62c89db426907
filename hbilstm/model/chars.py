"""Words from their characters: a small CNN over a word's bytes, then highway layers.

After Kim et al. (2016), "Character-Aware Neural Language Models": each word is spelt as a row
of byte ids, a bank of 1-d convolutions of several widths slides over it, each filter keeps its
largest response (max over the positions where it sees the word), and feed-forward highway
layers mix the filters::

    h = max_t tanh(conv_w(chars)[t])  over every width w, joined
    y = ReLU(W_H h) * T(h) + h * (1 - T(h)),   T(h) = sigmoid(W_T h + b_T)

so that words the embedding table hardly knows (rare spellings, hashtags, elongations) get a
vector from the spelling they share with words it does know. The model holds every vocabulary
word's spelling as a fixed buffer (:func:`spell`); a batch's distinct words are encoded once.
Imports only torch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

MAX_BYTES = 20  # a word's spelling: at most this many UTF-8 bytes, between a start and an end mark
SPELLING_LENGTH = MAX_BYTES + 2
PAD, START, END = 0, 257, 258  # byte b is id b + 1
CHAR_IDS = 259
WIDTHS = (1, 2, 3, 4, 5)


def spell(words: list[str]) -> list[list[int]]:
    """Each word as ``SPELLING_LENGTH`` byte ids: start mark, up to ``MAX_BYTES`` UTF-8 bytes
    (a longer word keeps its first and last bytes, where prefixes and suffixes are), end mark,
    then padding. Special tokens written ``<like-this>`` are spelt empty (marks only)."""
    rows = []
    for word in words:
        data = b"" if word.startswith("<") and word.endswith(">") else word.encode("utf-8")
        if len(data) > MAX_BYTES:
            data = data[: MAX_BYTES // 2] + data[-(MAX_BYTES - MAX_BYTES // 2):]
        row = [START, *(b + 1 for b in data), END]
        rows.append(row + [PAD] * (SPELLING_LENGTH - len(row)))
    return rows


class HighwayLayer(nn.Module):
    """One feed-forward highway layer, ``ReLU(W_H h) * T + h * (1 - T)``; the gate's bias starts
    negative, so that a fresh layer mostly passes ``h`` through."""

    def __init__(self, width: int, gate_bias: float = -2.0):
        super().__init__()
        self.transform = nn.Linear(width, width)
        self.gate = nn.Linear(width, width)
        nn.init.constant_(self.gate.bias, gate_bias)

    def forward(self, h: Tensor) -> Tensor:
        t = torch.sigmoid(self.gate(h))
        return torch.relu(self.transform(h)) * t + h * (1 - t)


class CharWordEncoder(nn.Module):
    """``(words, SPELLING_LENGTH)`` byte ids → ``(words, features)`` vectors.

    Parameters
    ----------
    features: output width; the filters are shared out over :data:`WIDTHS` (wider windows get
        more, as in Kim et al.), so each width has at least one.
    char_dim: width of each byte's embedding (default 16).
    highway_layers: feed-forward highway layers after the filters (default 2).
    """

    def __init__(self, features: int, char_dim: int = 16, highway_layers: int = 2):
        super().__init__()
        if features < len(WIDTHS):
            raise ValueError(f"char features must be at least {len(WIDTHS)} (one filter per width), not {features}")
        share = [features * w // sum(WIDTHS) for w in WIDTHS]
        share = [max(1, n) for n in share]
        share[-1] += features - sum(share)
        self.bytes = nn.Embedding(CHAR_IDS, char_dim, padding_idx=PAD)
        self.convs = nn.ModuleList(nn.Conv1d(char_dim, n, w) for n, w in zip(share, WIDTHS))
        self.highway = nn.ModuleList(HighwayLayer(features) for _ in range(highway_layers))

    def forward(self, spellings: Tensor) -> Tensor:
        x = self.bytes(spellings).transpose(1, 2)  # (words, char_dim, length)
        length = (spellings != PAD).sum(dim=1)  # marks included, so at least 2
        features = []
        for conv, width in zip(self.convs, WIDTHS):
            out = torch.tanh(conv(x))  # (words, filters, positions)
            # A window counts where it starts inside the word (a word shorter than the window:
            # its first window only), so padding never decides a maximum.
            starts = torch.arange(out.size(-1), device=out.device)
            seen = starts[None, :] < (length - width + 1).clamp(min=1)[:, None]
            features.append(out.masked_fill(~seen[:, None, :], float("-inf")).amax(dim=-1))
        h = torch.cat(features, dim=-1)
        for layer in self.highway:
            h = layer(h)
        return h
