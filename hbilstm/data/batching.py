"""Length-bucketed batches of id sequences, padded, with their lengths.

Sorting by length inside buckets keeps padding small: the model's LSTMs read the padded batch,
so padding costs time steps, memory and the gates' matrix products.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from .padding import Ragged, longest_first, pad_ids
from .vocab import PAD_ID


@dataclass
class Batch:
    """Padded token ids ``(batch, time)``, true lengths ``(batch,)``, labels or None, the
    positions of these rows in the split they came from, and, for models that read them, each
    row's hashed character n-gram ids ``(batch, n)`` padded with 0 (:mod:`hbilstm.data.ngrams`)."""

    tokens: Tensor
    lengths: Tensor
    labels: Tensor | None
    index: list[int]
    ngrams: Tensor | None = None

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        """What the model is called with: tokens and lengths, and the n-gram ids when present."""
        return (self.tokens, self.lengths) if self.ngrams is None else (self.tokens, self.lengths, self.ngrams)

    @property
    def num_tokens(self) -> int:
        return int(self.lengths.sum())

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        labels = self.labels.to(device, non_blocking=non_blocking) if self.labels is not None else None
        ngrams = self.ngrams.to(device, non_blocking=non_blocking) if self.ngrams is not None else None
        # Lengths stay on the CPU: pack_padded_sequence wants them there.
        return Batch(self.tokens.to(device, non_blocking=non_blocking), self.lengths, labels, self.index, ngrams)


def pad(sequences: Sequence[Sequence[int]], lengths: Tensor, pin: bool = False) -> Tensor:
    """Id sequences as one ``(rows, longest)`` tensor, padded with ``PAD_ID`` (0) (see
    :func:`~hbilstm.data.padding.pad_ids`)."""
    tensor = torch.from_numpy(pad_ids(sequences, lengths.numpy()))
    return tensor.pin_memory() if pin else tensor


def collate(
    sequences: Sequence[Sequence[int]], labels: Sequence[int] | None, index: list[int], pin: bool = False,
    ngrams: Sequence[Sequence[int]] | None = None,
) -> Batch:
    """Pad id sequences (and their n-gram ids, when given) into one batch; ``pin`` puts the
    tensors in page-locked memory, so that a ``non_blocking`` copy to a GPU overlaps with the
    work already queued there."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    tokens = pad(sequences, lengths, pin)
    grams = pad(ngrams, torch.tensor([len(g) for g in ngrams]), pin) if ngrams is not None else None
    label_tensor = torch.as_tensor(labels, dtype=torch.long) if labels is not None else None
    return Batch(tokens, lengths, label_tensor, index, grams)


def collate_ragged(sequences: Ragged, labels: Sequence[int] | None, index: list[int], pin: bool = False,
                   ngrams: Ragged | None = None) -> Batch:
    """:func:`collate` of the rows at ``index`` of ``sequences`` (and ``ngrams``)."""
    tokens, counts = sequences.pad(index)
    grams = torch.from_numpy(ngrams.pad(index)[0]) if ngrams is not None else None
    tokens = torch.from_numpy(tokens)
    if pin:
        tokens, grams = tokens.pin_memory(), grams.pin_memory() if grams is not None else None
    label_tensor = torch.as_tensor(labels, dtype=torch.long) if labels is not None else None
    return Batch(tokens, torch.from_numpy(counts), label_tensor, list(index), grams)


def bucket_order(
    lengths: Sequence[int],
    batch_size: int,
    generator: torch.Generator | None = None,
    pool_batches: int = 50,
) -> list[list[int]]:
    """Split positions ``0..n-1`` into batches of similar length.

    With a generator (training): shuffle, cut into pools of ``pool_batches`` batches, sort each
    pool by length, cut it into batches, and shuffle the batches, so that batches are compact
    but their order and membership change from epoch to epoch. The order depends only on the
    generator's state: the same seed gives the same batches.
    Without one (evaluation, prediction): sort everything by length (longest first).
    """
    n = len(lengths)
    if generator is None:
        return longest_first(lengths, batch_size)
    shuffled = torch.randperm(n, generator=generator).tolist()
    pool = batch_size * pool_batches
    batches = []
    for start in range(0, n, pool):
        chunk = sorted(shuffled[start : start + pool], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    permutation = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in permutation]


def iter_batches(
    sequences: Sequence[Sequence[int]] | Ragged,
    labels: Sequence[int] | None,
    order: list[list[int]],
    pin: bool = False,
    ngrams: Sequence[Sequence[int]] | Ragged | None = None,
) -> Iterator[Batch]:
    """The batches of ``order``'s positions; ``sequences`` and ``ngrams`` as lists, or both as
    :class:`~hbilstm.data.padding.Ragged` (padded with a gather, the same tensors)."""
    if isinstance(sequences, Ragged):
        for positions in order:
            yield collate_ragged(sequences, [labels[i] for i in positions] if labels is not None else None,
                                 positions, pin, ngrams)
        return
    for positions in order:
        seqs = [sequences[i] for i in positions]
        labs = [labels[i] for i in positions] if labels is not None else None
        grams = [ngrams[i] for i in positions] if ngrams is not None else None
        yield collate(seqs, labs, positions, pin, grams)


class _Resident:
    """Id sequences as one flat tensor on a device (with one padding id at its end), and where
    each sequence starts; :meth:`cut` gathers padded rows out of it."""

    def __init__(self, sequences: Sequence[Sequence[int]], device: torch.device):
        self.lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
        flat = torch.tensor(list(itertools.chain.from_iterable(sequences)), dtype=torch.long)
        # Positions past a sequence's end are pointed at the padding id at the end.
        self.flat = torch.cat([flat, torch.tensor([PAD_ID])]).to(device)
        self.pad_position = len(flat)
        self.starts = (torch.cumsum(self.lengths, 0) - self.lengths).to(device)
        self.device_lengths = self.lengths.to(device)

    def cut(self, index_cpu: Tensor, index: Tensor) -> Tensor:
        steps = torch.arange(int(self.lengths[index_cpu].max()), device=self.flat.device)
        where = self.starts[index][:, None] + steps[None, :]
        real = steps[None, :] < self.device_lengths[index][:, None]
        return self.flat[torch.where(real, where, self.pad_position)]


class ResidentSplit:
    """An encoded split held on a device as one flat tensor of ids, batched there.

    Every batch is cut out of device memory with one gather, so after the one upload no step
    copies tokens from the host (on a GPU that removes a host-to-device copy, and its
    synchronisation, from every step). Lengths stay on the CPU too, where packing wants them.
    Batches equal those of :func:`collate` for the same positions (n-gram ids too, when given).
    """

    def __init__(self, sequences: Sequence[Sequence[int]], labels: Sequence[int] | None, device: torch.device | str,
                 ngrams: Sequence[Sequence[int]] | None = None):
        self.device = torch.device(device)
        self.tokens = _Resident(sequences, self.device)
        self.lengths = self.tokens.lengths
        self.ngrams = _Resident(ngrams, self.device) if ngrams is not None else None
        # class ids, or (distillation) one row of class probabilities per sequence
        soft = labels is not None and len(labels) > 0 and not isinstance(labels[0], (int, np.integer))
        self.labels = (torch.as_tensor(labels, dtype=torch.float32 if soft else torch.long).to(self.device)
                       if labels is not None else None)

    def batch(self, positions: list[int]) -> Batch:
        index_cpu = torch.as_tensor(positions, dtype=torch.long)
        index = index_cpu.to(self.device, non_blocking=True)
        tokens = self.tokens.cut(index_cpu, index)
        ngrams = self.ngrams.cut(index_cpu, index) if self.ngrams is not None else None
        labels = self.labels[index] if self.labels is not None else None
        return Batch(tokens, self.lengths[index_cpu], labels, positions, ngrams)

    def batches(self, order: list[list[int]]) -> Iterator[Batch]:
        for positions in order:
            yield self.batch(positions)
