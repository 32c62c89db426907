"""Running a torch model over encoded sequences: device choice, precision context, threads and
batched scoring."""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch
from torch import nn

from ..config import check_device
from ..data.batching import bucket_order, iter_batches
from ..data.padding import row_lengths
from ..errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` is CUDA when a GPU is visible, else the CPU; anything else is taken as given.
    ConfigError for a name that is not a device or a device that is not there."""
    check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but no CUDA GPU is visible (use --device cpu)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {name!r} asked for, but MPS is not available (use --device cpu)")
    return device


_flushing = False  # whether a cpu_settings block has subnormals flushed now (torch cannot say)


@contextlib.contextmanager
def cpu_settings(threads: int) -> Iterator[None]:
    """Inside the block: ``threads`` CPU threads for torch (0: leave torch's setting) and
    subnormal floats flushed to zero; both restored after. Fewer threads than cores can be many
    times faster on a machine shared with other work. Subnormal floats (below 1.2e-38) appear in
    a model's arithmetic as training goes on, and the CPU takes many times longer over each: left
    alone they made the tenth epoch of the vectors recipe three times as slow as the first
    (docs/journal/benchmarks.md); as zeros they changed no score we measured."""
    global _flushing
    before, flushed_before = torch.get_num_threads(), _flushing
    if threads:
        torch.set_num_threads(threads)
    _flushing = torch.set_flush_denormal(True)  # False where the CPU cannot (then nothing changed)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        if _flushing and not flushed_before:  # an enclosing block keeps its flush
            torch.set_flush_denormal(False)
        _flushing = flushed_before


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (where it is fast and needs no loss scaling); nothing elsewhere."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose LSTM and linear weights are int8 (dynamic quantization: the
    activations are quantized on the fly), for scoring on a CPU. On TweetEval test it gives the
    full model's label for 99.3-99.6% of the tweets. It scored 1.45x and 1.55x as fast as the
    full model on 2026-11-25, and no faster on 2026-11-30 (docs/journal/benchmarks.md)."""
    import copy
    import warnings

    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if hasattr(module, "split_directions"):  # each direction its own LSTM, quantized alone
            module.split_directions()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's notes on its future home; the API is stable here
        return torch.ao.quantization.quantize_dynamic(model, {nn.LSTM, nn.Linear}, dtype=torch.qint8)


def predict_probs(
    model: nn.Module,
    sequences: Sequence[Sequence[int]],
    batch_size: int = 256,
    device: torch.device | None = None,
    amp: bool = True,
    ngrams: Sequence[Sequence[int]] | None = None,
) -> torch.Tensor:
    """Class probabilities ``(n, num_classes)`` on the CPU, rows in the order of ``sequences``.

    Batches are formed from sequences of similar length; the output order is restored.
    """
    return _in_eval_batches(lambda inputs: torch.softmax(model(*inputs).float(), dim=-1),
                            model, sequences, batch_size=batch_size, device=device, amp=amp, ngrams=ngrams)


def predict_part_logits(model: nn.Module, sequences: Sequence[Sequence[int]], **options) -> torch.Tensor:
    """Each classifier's own logits ``(parts, n, num_classes)`` on the CPU, before any
    temperature: the stack's, then the n-gram classifier's where the model has one. ``options``
    are :func:`predict_probs`'s."""
    return _in_eval_batches(lambda inputs: model.part_logits(*inputs).float().transpose(0, 1),
                            model, sequences, **options).transpose(0, 1)


@torch.inference_mode()
def _in_eval_batches(score, model: nn.Module, sequences: Sequence[Sequence[int]], batch_size: int = 256,
                     device: torch.device | None = None, amp: bool = True,
                     ngrams: Sequence[Sequence[int]] | None = None) -> torch.Tensor:
    """``score(inputs)`` of batches of similar length in eval mode, its rows put back in the order
    of ``sequences``."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = None
    try:
        order = bucket_order(row_lengths(sequences), batch_size)
        cuda = device.type == "cuda"
        for batch in iter_batches(sequences, None, order, pin=cuda, ngrams=ngrams):
            batch = batch.to(device, non_blocking=cuda)
            with autocast(device, amp):
                scored = score(batch.inputs).cpu()
            if out is None:
                out = scored.new_empty(len(sequences), *scored.shape[1:])
            out[batch.index] = scored
    finally:
        model.train(was_training)
    return out if out is not None else torch.empty(0, model.config.num_classes)


@torch.inference_mode()
def layer_statistics(
    model: nn.Module,
    sequences: Sequence[Sequence[int]],
    batch_size: int = 256,
    device: torch.device | None = None,
    limit: int = 2000,
) -> list[dict]:
    """Per-layer statistics of :meth:`~hbilstm.model.HighwayBiLSTMClassifier.layer_report`
    (mean transform-gate value, k, output norm) over the first ``limit`` sequences, each batch
    weighted by its number of tokens."""
    device = device or next(model.parameters()).device
    sequences = sequences[:limit]
    totals: list[dict] = []
    weight = 0
    for batch in iter_batches(sequences, None, bucket_order([len(s) for s in sequences], batch_size)):
        report = model.layer_report(batch.tokens.to(device), batch.lengths)
        tokens = batch.num_tokens
        weight += tokens
        if not totals:
            totals = [{k: 0.0 for k in entry if k != "layer"} for entry in report]
        for total, entry in zip(totals, report):
            for key in total:
                total[key] += entry[key] * tokens
    return [{"layer": i + 1, **{k: v / max(1, weight) for k, v in t.items()}} for i, t in enumerate(totals)]
