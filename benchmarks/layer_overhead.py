"""Benchmark 1: training-step time of the Highway BiLSTM stack over a fused ``nn.LSTM``.

A plain stacked BiLSTM can run as one ``nn.LSTM(num_layers=N, bidirectional=True)`` call (one
cuDNN call on a GPU); the highway stack runs one LSTM call per layer plus its gate. This script
times one training step (forward, backward, AdamW step) of each on the same batch, with the same
widths, and prints the ratio highway / fused for each depth: the highway stack on the padded batch
(two one-direction LSTM calls per layer), as training runs it, and the fused LSTM on packed
sequences. Torch only (no spaCy), so it runs on a bare GPU machine too.

    python benchmarks/layer_overhead.py                 # CPU, depths 1 4 10 20
    python benchmarks/layer_overhead.py --device cuda   # GPU, bf16 autocast as in training
    python benchmarks/layer_overhead.py --bucketed      # rows of like length in a batch, as training has

Lengths are drawn to match tweets (TweetEval's token counts: mean about 24, 1 to 64), each batch
at random or, with ``--bucketed``, from a pool of 8 batches sorted by length (what
``hbilstm.data.batching.bucket_order`` does in training).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from hbilstm.model import HighwayBiLSTMLayer
from hbilstm.model.layers import reverse_index


class HighwayStack(nn.Module):
    def __init__(self, input_size: int, hidden: int, layers: int):
        super().__init__()
        widths = [input_size] + [2 * hidden] * layers
        self.layers = nn.ModuleList(HighwayBiLSTMLayer(widths[i], hidden, "highway") for i in range(layers))

    def forward(self, batch):
        x, reverse = batch["padded"]
        for layer in self.layers:
            x = layer(x, reverse)
        return x


class FusedStack(nn.Module):
    def __init__(self, input_size: int, hidden: int, layers: int):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden, num_layers=layers, bidirectional=True)

    def forward(self, batch):
        return self.lstm(batch["packed"])[0].data


STACKS = (("highway", HighwayStack), ("fused", FusedStack))


def tweet_lengths(n: int, generator: torch.Generator) -> torch.Tensor:
    return (torch.randn(n, generator=generator) * 11 + 24).round().clamp(1, 64).long()


def make_batches(count: int, size: int, width: int, bucketed: bool, device: torch.device) -> list[dict]:
    """``count`` batches, each as a packed sequence and as (padded tensor, reverse index)."""
    generator = torch.Generator().manual_seed(0)
    if bucketed:  # pools of 8 batches, sorted by length, batches taken in turn from each pool
        pools = [tweet_lengths(8 * size, generator).sort().values for _ in range(-(-count // 8))]
        all_lengths = [pool[i * size:(i + 1) * size] for pool in pools for i in range(8)][:count]
        all_lengths = [lengths[torch.randperm(size, generator=generator)] for lengths in all_lengths]
    else:
        all_lengths = [tweet_lengths(size, generator) for _ in range(count)]
    batches = []
    for lengths in all_lengths:
        x = torch.randn(size, int(lengths.max()), width, generator=generator).to(device)
        batches.append({"packed": pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False),
                        "padded": (x, reverse_index(lengths.to(device), x.size(1)))})
    return batches


def make_step(model: nn.Module, device: torch.device, amp: bool):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if amp and device.type == "cuda"
        else torch.autocast("cpu", enabled=False)
    )

    def step(batch):
        with autocast:
            out = model(batch)
        loss = out.float().pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def time_models(models: list[nn.Module], batches, device: torch.device, amp: bool, repeats: int) -> list[float]:
    """Median seconds per step of each model, their timings interleaved so drift hits them all."""
    steps = [make_step(m, device, amp) for m in models]
    for step in steps:
        for batch in batches[:3]:  # warm-up: allocator, cuDNN plans, thread pools
            step(batch)
    times: list[list[float]] = [[] for _ in models]
    for _ in range(repeats):
        for i, step in enumerate(steps):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for batch in batches:
                step(batch)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[i].append((time.perf_counter() - start) / len(batches))
    return [statistics.median(t) for t in times]


def profile_steps(name: str, depth: int, model: nn.Module, batches, device: torch.device, amp: bool,
                  steps: int = 5) -> None:
    """What one step is made of: kernels launched, time the device was busy, wall time."""
    from torch.profiler import ProfilerActivity, profile

    step = make_step(model, device, amp)
    for batch in batches[:3]:
        step(batch)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        for batch in batches[:steps]:
            step(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
    wall = (time.perf_counter() - start) / steps
    kernels = [e for e in prof.events() if e.device_type.name == "CUDA"]  # kernels, copies and fills on the GPU
    busy = sum(e.device_time for e in kernels) / 1000 / steps  # microseconds to ms
    print(f"{name} depth {depth}: {len(kernels) / steps:.0f} device activities per step, device busy {busy:.2f} ms "
          f"of {1000 * wall:.2f} ms wall per step (profiler on)")
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=8, max_name_column_width=48))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--depths", default="1,4,10,20")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--embedding-dim", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-amp", action="store_true")
    parser.add_argument("--bucketed", action="store_true", help="rows of like length in each batch, as in training")
    parser.add_argument("--profile", action="store_true",
                        help="instead of timing: torch.profiler over 5 steps of each model at each depth; "
                             "kernel launches per step, device busy time against wall time, top operators")
    args = parser.parse_args()
    device = torch.device(args.device)
    batches = make_batches(args.batches, args.batch_size, args.embedding_dim, args.bucketed, device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch_size}, "
          f"embedding {args.embedding_dim}, hidden {args.hidden} per direction, amp "
          f"{not args.no_amp and device.type == 'cuda'}, "
          f"lengths {'bucketed' if args.bucketed else 'random'}")
    if args.profile:
        for depth in (int(d) for d in args.depths.split(",")):
            for name, cls in STACKS:
                torch.manual_seed(0)
                profile_steps(name, depth, cls(args.embedding_dim, args.hidden, depth).to(device), batches, device,
                              not args.no_amp)
        return
    print("| depth | highway (ms) | fused nn.LSTM (ms) | ratio |")
    print("| ---: | ---: | ---: | ---: |")
    for depth in (int(d) for d in args.depths.split(",")):
        models = []
        for _, cls in STACKS:
            torch.manual_seed(0)
            models.append(cls(args.embedding_dim, args.hidden, depth).to(device))
        t_highway, t_fused = time_models(models, batches, device, not args.no_amp, args.repeats)
        print(f"| {depth} | {1000 * t_highway:.2f} | {1000 * t_fused:.2f} | {t_highway / t_fused:.2f} |", flush=True)


if __name__ == "__main__":
    main()
