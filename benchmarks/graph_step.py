"""Benchmark: the default classifier's training step, eager and replayed from CUDA graphs.

On a GPU the stack's step is bound by kernel launches, not by arithmetic (docs/journal/
benchmarks.md: 5 to 9 % busy). A CUDA graph records a whole step once per batch shape (forward,
backward, gradient clipping, the fused AdamW step) and replays it with one launch. That needs
static shapes: the padded stack (no packing, whose layout depends on the lengths) with each
batch padded up to a multiple of ``--round`` tokens, and its n-gram ids to a width fixed by that.
This script times, on the same synthetic tweet-like batches and for each depth:

* eager, padded      the padded stack, each batch as long as its longest row
* eager, rounded     the padded stack, batches padded up to a multiple of ``--round``
* graphed, rounded   the same steps replayed from one CUDA graph per shape

and prints milliseconds per step, the epoch they imply (``--epoch-steps`` steps: TweetEval
sentiment's 45,615 training tweets at batch 64), capture time and peak memory. ``--check`` also
runs one step both ways from the same weights with every dropout off and prints how far the
loss and the weights after the step differ. Torch only (no spaCy), so it runs on a bare GPU
machine; on a CPU only the eager rows run.

    python benchmarks/graph_step.py --device cuda --depths 2,10 --check
    python benchmarks/graph_step.py --depths 2 --batches 4 --repeats 1   # CPU: the eager rows
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch import nn

from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig
from hbilstm.training.graphs import SmoothedCrossEntropy

VOCAB, BUCKETS, CLASSES, NGRAMS_PER_TOKEN = 20_000, 262_144, 3, 6


def synthetic_batches(count: int, size: int, rounding: int, generator: torch.Generator) -> list[dict]:
    """``count`` batches of tweet-like rows (token counts mean about 24, 1 to 64), drawn as
    training draws them (pools of 8 batches sorted by length), each with its n-gram ids."""
    batches = []
    while len(batches) < count:
        pool = (torch.randn(8 * size, generator=generator) * 11 + 24).round().clamp(1, 64).long().sort().values
        for i in range(8):
            lengths = pool[i * size:(i + 1) * size][torch.randperm(size, generator=generator)]
            steps = int(lengths.max())
            rounded = -(-steps // rounding) * rounding
            tokens = torch.randint(2, VOCAB, (size, rounded), generator=generator)
            tokens = tokens.masked_fill(torch.arange(rounded)[None, :] >= lengths[:, None], 0)
            counts = lengths * NGRAMS_PER_TOKEN
            ngrams = torch.randint(1, BUCKETS + 1, (size, rounded * NGRAMS_PER_TOKEN), generator=generator)
            ngrams = ngrams.masked_fill(torch.arange(ngrams.size(1))[None, :] >= counts[:, None], 0)
            batches.append({"tokens": tokens, "lengths": lengths, "ngrams": ngrams, "steps": steps,
                            "labels": torch.randint(0, CLASSES, (size,), generator=generator)})
    return batches[:count]


def cut(batch: dict, rounded: bool) -> dict:
    """The batch as long as its longest row, or padded up to its rounded length."""
    if rounded:
        return batch
    steps = batch["steps"]
    return {**batch, "tokens": batch["tokens"][:, :steps], "ngrams": batch["ngrams"][:, :steps * NGRAMS_PER_TOKEN]}


def on(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def make_model(depth: int, device: torch.device, regularised: bool = True) -> HighwayBiLSTMClassifier:
    torch.manual_seed(0)
    noise = dict(dropout=0.3, word_dropout=0.1, embedding_noise=0.2) if regularised else \
        dict(dropout=0.0, word_dropout=0.0, embedding_noise=0.0)
    config = ModelConfig(vocab_size=VOCAB, num_classes=CLASSES, layers=depth, pooling="attention",
                         ngram_buckets=BUCKETS, **noise)
    return HighwayBiLSTMClassifier(config).to(device).train()


class Step:
    """One training step as ``hbilstm train`` takes it: the two classifiers' losses, backward,
    clipping per classifier, fused AdamW (capturable, so that a graph can replay it)."""

    def __init__(self, model: HighwayBiLSTMClassifier, device: torch.device, amp: bool, capturable: bool = False):
        self.model, self.device = model, device
        self.amp = amp and device.type == "cuda"
        fused = device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01, fused=fused,
                                           capturable=capturable)
        self.criterion = SmoothedCrossEntropy(torch.tensor([1.5, 0.7, 1.1], device=device),
                                             label_smoothing=0.1)
        head = set(map(id, model.ngram_head.parameters()))
        self.groups = [[p for p in model.parameters() if id(p) not in head],
                       [p for p in model.parameters() if id(p) in head]]

    def __call__(self, batch: dict) -> torch.Tensor:
        with torch.autocast("cuda", torch.bfloat16, enabled=self.amp, cache_enabled=False):
            logits = self.model(batch["tokens"], batch["lengths"], batch["ngrams"])
        loss = self.criterion(logits[0].float(), batch["labels"]) + self.criterion(logits[1].float(), batch["labels"])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for group in self.groups:
            nn.utils.clip_grad_norm_(group, 1.0)
        self.optimizer.step()
        return loss.detach()


class GraphedStep:
    """:class:`Step` recorded once per batch shape into a CUDA graph and replayed: a batch is
    copied into that shape's static tensors, one replay runs the whole step. The first batch of
    a shape pays three eager warm-up steps (on a side stream, as capture needs) and the capture."""

    def __init__(self, step: Step):
        self.step = step
        self.graphs: dict[tuple, tuple] = {}
        self.capture_seconds = 0.0
        # One side stream for every warm-up and capture: cuDNN and cuBLAS keep per-stream state
        # (workspaces, plans) that a warm-up on another stream would leave to the capture.
        self.stream = torch.cuda.Stream()

    def __call__(self, batch: dict) -> torch.Tensor:
        shape = (tuple(batch["tokens"].shape), tuple(batch["ngrams"].shape))
        if shape not in self.graphs:
            self.graphs[shape] = self._capture(batch)
        graph, static, loss = self.graphs[shape]
        for name in ("tokens", "lengths", "ngrams", "labels"):
            static[name].copy_(batch[name], non_blocking=True)
        graph.replay()
        return loss

    def _capture(self, batch: dict) -> tuple:
        started = time.perf_counter()
        static = {name: batch[name].clone() for name in ("tokens", "lengths", "ngrams", "labels")}
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            for _ in range(3):
                self.step(static)
        torch.cuda.current_stream().wait_stream(self.stream)
        graph = torch.cuda.CUDAGraph()
        self.step.optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph, stream=self.stream):
            loss = self.step(static)
        torch.cuda.synchronize()
        self.capture_seconds += time.perf_counter() - started
        return graph, static, loss


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_steps(step, batches: list[dict], device: torch.device, repeats: int) -> float:
    """Median seconds per step over ``repeats`` passes (after one untimed pass: warm-up, capture);
    the losses are summed on the device and read once per pass, as a loop without syncs would."""
    times = []
    for attempt in range(repeats + 1):
        sync(device)
        started = time.perf_counter()
        total = torch.zeros((), device=device)
        for batch in batches:
            total += step(batch)
        float(total)
        if attempt:
            times.append((time.perf_counter() - started) / len(batches))
    return statistics.median(times)


def check(depth: int, batch: dict, device: torch.device, amp: bool) -> str:
    """One step eager and one replayed, from the same weights and optimizer state, every dropout
    off: the largest difference in loss and in any weight after the step."""
    model = make_model(depth, device, regularised=False)
    step = Step(model, device, amp, capturable=True)
    graphed = GraphedStep(step)
    graphed(batch)  # warm-up and capture (these steps move the weights; the state is taken after)
    weights = copy.deepcopy(model.state_dict())
    state = copy.deepcopy(step.optimizer.state_dict())

    def restore():
        with torch.no_grad():
            for name, value in model.state_dict().items():
                value.copy_(weights[name])
        for p, saved in zip(model.parameters(), state["state"].values(), strict=True):
            for key, value in step.optimizer.state[p].items():
                value.copy_(saved[key])

    restore()
    replayed_loss = float(graphed(batch))
    replayed = {k: v.detach().float().clone() for k, v in model.state_dict().items()}
    restore()
    eager_loss = float(step(batch))
    eager = {k: v.detach().float() for k, v in model.state_dict().items()}
    worst = max((replayed[k] - eager[k]).abs().max().item() for k in eager)
    moved = max((eager[k] - weights[k].float()).abs().max().item() for k in eager)
    return (f"depth {depth}: loss eager {eager_loss:.6f}, replayed {replayed_loss:.6f}; largest weight difference "
            f"after the step {worst:.2e} (the step itself moved weights by up to {moved:.2e})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--depths", default="2,10")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--round", type=int, default=16, help="pad each batch up to a multiple of this many tokens")
    parser.add_argument("--epoch-steps", type=int, default=713)
    parser.add_argument("--no-amp", action="store_true")
    parser.add_argument("--check", action="store_true", help="also compare one replayed step with the eager one")
    parser.add_argument("--ways", default="padded,rounded,graphed", help="which of the three ways to time")
    parser.add_argument("--no-cudnn", action="store_true", help="PyTorch's own LSTM kernels instead of cuDNN's")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.no_cudnn:
        torch.backends.cudnn.enabled = False
    amp = not args.no_amp and device.type == "cuda"
    batches = synthetic_batches(args.batches, args.batch_size, args.round, torch.Generator().manual_seed(0))
    shapes = len({b["tokens"].shape for b in batches})
    print(f"device {device}, torch {torch.__version__}, cudnn {torch.backends.cudnn.enabled}, batch {args.batch_size}, "
          f"{args.batches} batches "
          f"({shapes} rounded shapes), amp {amp}, rounding {args.round}, epoch = {args.epoch_steps} steps")
    print("| depth | way | ms per step | epoch (s) | capture (s) | peak memory (MiB) |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    ways = [("padded", "eager, padded", False, False), ("rounded", "eager, rounded", True, False),
            ("graphed", "graphed, rounded", True, True)]
    ways = [w[1:] for w in ways if w[0] in args.ways.split(",") and (device.type == "cuda" or not w[3])]
    for depth in (int(d) for d in args.depths.split(",")):
        for name, rounded, graphed in ways:
            moved = [on(cut(b, rounded), device) for b in batches]
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            step = Step(make_model(depth, device), device, amp, capturable=graphed)
            runner = GraphedStep(step) if graphed else step
            try:
                seconds = time_steps(runner, moved, device, args.repeats)
            except Exception as error:  # a failed way is a row, not the end of the table
                print(f"| {depth} | {name} | failed: {type(error).__name__}: {str(error)[:200]} | | | |", flush=True)
                continue
            capture = f"{runner.capture_seconds:.2f}" if graphed else ""
            memory = f"{torch.cuda.max_memory_allocated() / 2**20:.0f}" if device.type == "cuda" else ""
            epoch = seconds * args.epoch_steps
            print(f"| {depth} | {name} | {1000 * seconds:.2f} | {epoch:.1f} | {capture} | {memory} |", flush=True)
        if args.check and device.type == "cuda":
            try:
                print(check(depth, on(batches[0], device), device, amp), flush=True)
            except Exception as error:
                print(f"depth {depth}: check failed: {type(error).__name__}: {str(error)[:300]}", flush=True)


if __name__ == "__main__":
    main()
