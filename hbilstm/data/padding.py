"""Id sequences into one padded array, and batches of similar length for scoring: numpy only,
so that scoring with ONNX Runtime never imports torch (:mod:`hbilstm.data.batching` builds its
tensors on these)."""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from .vocab import PAD_ID


def pad_ids(sequences: Sequence[Sequence[int]], counts: np.ndarray | None = None) -> np.ndarray:
    """Id sequences as one ``(rows, longest)`` int64 array, padded with ``PAD_ID`` (0): the ids are
    read once into one flat array and scattered into place (not one array per row). ``counts``:
    the sequences' lengths, when already known."""
    if counts is None:
        counts = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    total = int(counts.sum())
    flat = np.fromiter(itertools.chain.from_iterable(sequences), dtype=np.int64, count=total)
    rows = np.repeat(np.arange(len(counts)), counts)
    columns = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    out = np.full((len(counts), int(counts.max()) if len(counts) else 0), PAD_ID, dtype=np.int64)
    out[rows, columns] = flat
    return out


def longest_first(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Positions ``0..n-1`` sorted by length, longest first, cut into batches: how evaluation and
    prediction batch (padding stays small, and the order does not depend on anything random)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
