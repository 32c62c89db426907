"""Id sequences into one padded array, batches of similar length for scoring, and the flat form
(:class:`Ragged`) in which encoded texts travel between processes: numpy only,
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
    rows, columns = _cells(counts)
    out = _padded(counts)
    out[rows, columns] = np.fromiter(itertools.chain.from_iterable(sequences), dtype=np.int64, count=len(rows))
    return out


def _cells(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The row and column of each id, in order, in a padded array of rows of ``counts`` ids."""
    rows = np.repeat(np.arange(len(counts)), counts)
    return rows, np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)


def _padded(counts: np.ndarray) -> np.ndarray:
    return np.full((len(counts), int(counts.max()) if len(counts) else 0), PAD_ID, dtype=np.int64)


def row_lengths(sequences) -> list[int]:
    """Each row's length, of a list of id sequences or a :class:`Ragged`."""
    return sequences.lengths.tolist() if isinstance(sequences, Ragged) else [len(s) for s in sequences]


def longest_first(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Positions ``0..n-1`` sorted by length, longest first, cut into batches: how evaluation and
    prediction batch (padding stays small, and the order does not depend on anything random)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class Ragged:
    """Id sequences as one flat array and where each starts: how encoded texts travel between
    processes. A list of lists of ints pickles and unpickles one Python int at a time (the n-gram
    ids alone are about 280 per tweet); this pickles as two array copies, and pads with a gather.

    ``values``: the ids, row after row; ``offsets``: ``rows + 1`` positions into ``values``.
    """

    def __init__(self, values: np.ndarray, offsets: np.ndarray):
        self.values, self.offsets = values, offsets

    @classmethod
    def from_lists(cls, sequences: Sequence[Sequence[int]], dtype=np.int32) -> "Ragged":
        """``dtype`` must hold every id (int32 does: vocabularies and n-gram buckets are far smaller)."""
        counts = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
        offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        values = np.fromiter(itertools.chain.from_iterable(sequences), dtype=dtype, count=int(offsets[-1]))
        return cls(values, offsets)

    @classmethod
    def concat(cls, parts: Sequence["Ragged"]) -> "Ragged":
        if not parts:
            return cls(np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64))
        shifts = np.cumsum([0] + [len(p.values) for p in parts[:-1]])
        offsets = np.concatenate([parts[0].offsets[:1]] + [p.offsets[1:] + s for p, s in zip(parts, shifts)])
        return cls(np.concatenate([p.values for p in parts]), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def pad(self, positions: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The rows at ``positions`` as one ``(rows, longest)`` int64 array padded with ``PAD_ID``,
        as :func:`pad_ids` pads them, and their lengths."""
        positions = np.asarray(positions, dtype=np.int64)
        counts = self.lengths[positions]
        rows, columns = _cells(counts)
        out = _padded(counts)
        out[rows, columns] = self.values[self.offsets[positions][rows] + columns]
        return out, counts

    def tolist(self) -> list[list[int]]:
        return [self.values[a:b].tolist() for a, b in zip(self.offsets[:-1].tolist(), self.offsets[1:].tolist())]
