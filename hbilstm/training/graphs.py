"""Training steps replayed from CUDA graphs, and the loss they need.

On a GPU the stack's step is bound by the host launching kernels, not by the arithmetic
(docs/journal/benchmarks.md: a 10-layer step busies an H200 for about 6 ms of 47). A CUDA graph
records every kernel of a step once (forward, backward, clipping, the fused AdamW step) and
replays them with one launch: 5.3 ms for that step (benchmarks/graph_step.py). In ``hbilstm
train`` it is off unless ``cuda_graphs`` is set, until it is measured there on a GPU.

Recording needs fixed shapes, so :class:`GraphedSteps` pads each batch up to a multiple of
:data:`ROUND_TOKENS` tokens and of :data:`ROUND_NGRAMS` n-gram ids (padding reaches no real token
and no n-gram sum; tested), and keeps one graph per shape. The first :data:`WARMUP` batches of a
shape are ordinary eager steps (cuDNN and cuBLAS settle their plans and workspaces); the next one
is recorded and replayed, as are all later ones. Every batch is trained on exactly once either
way, and the random draws (dropout, word dropout, noise) advance on every replay.

Nothing in a recorded step may wait for the host: :class:`SmoothedCrossEntropy` is
``nn.CrossEntropyLoss(weight, label_smoothing)`` without the ``masked_select`` with which torch
computes its weighted mean (a host sync, which stops a recording). Imports only torch.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

import torch
from torch import Tensor, nn

ROUND_TOKENS = 16
ROUND_NGRAMS = 128
WARMUP = 3


class SmoothedCrossEntropy(nn.Module):
    """``nn.CrossEntropyLoss(weight=weight, label_smoothing=smoothing)`` (mean reduction, no
    ignored index), in operations that never wait for the host: the weighted sum over the batch
    of ``(1 - s) * nll + s / C * sum_c w_c * -log p_c``, divided by the sum of the rows' class
    weights."""

    def __init__(self, weight: Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        self.register_buffer("weight", weight)
        self.label_smoothing = label_smoothing

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        logp = torch.log_softmax(logits, dim=-1)
        classes = logits.size(-1)
        weight = self.weight if self.weight is not None else logp.new_ones(classes)
        row_weight = weight[labels]
        nll = -(logp.gather(1, labels[:, None]).squeeze(1) * row_weight).sum()
        if self.label_smoothing:
            smooth = -(logp * weight).sum()
            nll = (1 - self.label_smoothing) * nll + self.label_smoothing / classes * smooth
        return nll / row_weight.sum()


def rounded(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def padded_inputs(tokens: Tensor, lengths: Tensor, labels: Tensor, ngrams: Tensor | None) -> list[Tensor]:
    """The batch with its token ids padded (with 0) up to a multiple of :data:`ROUND_TOKENS`
    columns and its n-gram ids to a multiple of :data:`ROUND_NGRAMS`, and its lengths on the
    batch's device: ``[tokens, lengths, labels(, ngrams)]``."""
    pad = nn.functional.pad
    inputs = [pad(tokens, (0, rounded(tokens.size(1), ROUND_TOKENS) - tokens.size(1))),
              lengths.to(tokens.device, non_blocking=True), labels]
    if ngrams is not None:
        inputs.append(pad(ngrams, (0, rounded(ngrams.size(1), ROUND_NGRAMS) - ngrams.size(1))))
    return inputs


class GraphedSteps:
    """Calls ``step(*inputs)`` (one whole training step; it returns tensors) for each batch of
    :func:`padded_inputs`, eagerly for the first :data:`WARMUP` batches of a shape and from a
    CUDA graph after that. The tensors returned for a replayed batch are the graph's own: read
    or copy them before the next replay of that shape. Each graph has its own memory pool, as
    in the benchmark that was checked on a GPU (sharing one would save memory)."""

    def __init__(self, step: Callable[..., tuple[Tensor, ...]], device: torch.device):
        self.step = step
        self.stream = torch.cuda.Stream(device)
        self.graphs: dict[tuple, tuple] = {}
        self.seen: Counter = Counter()

    def __call__(self, inputs: list[Tensor]) -> tuple[Tensor, ...]:
        shape = tuple(tuple(t.shape) for t in inputs)
        if shape in self.graphs:
            graph, static, outputs = self.graphs[shape]
            for target, value in zip(static, inputs):
                target.copy_(value, non_blocking=True)
            graph.replay()
            return outputs
        self.seen[shape] += 1
        current = torch.cuda.current_stream()
        self.stream.wait_stream(current)
        with torch.cuda.stream(self.stream):
            if self.seen[shape] <= WARMUP:
                outputs = self.step(*inputs)
            else:
                static = [t.clone() for t in inputs]
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, stream=self.stream):
                    outputs = self.step(*static)
                self.graphs[shape] = (graph, static, outputs)
                graph.replay()  # recording ran nothing: this is the batch's step
        current.wait_stream(self.stream)
        return outputs


def uses_cuda_graphs(config, device: torch.device, world_size: int = 1) -> bool:
    """Whether training replays its steps from CUDA graphs: ``cuda_graphs`` is on, the device is
    CUDA, there is one process (under torchrun each step waits for the others' totals), and the
    model has no character-aware vectors (they encode each distinct word of a batch once, and
    how many there are is a number the host must read)."""
    return bool(config.cuda_graphs) and device.type == "cuda" and world_size == 1 and not config.char_features
