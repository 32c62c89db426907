"""Which part of a training step a CUDA graph cannot capture: each probe captures one piece
(warm-up and capture on one side stream), replays it and compares with the eager result, in a
process of its own (a failed capture leaves CUDA's random state unusable in its process).

    python benchmarks/graph_probe.py            # every probe, one process each
    python benchmarks/graph_probe.py lstm_bwd   # one probe, in this process
"""

from __future__ import annotations

import subprocess
import sys

import torch
from torch import nn

from hbilstm.model.layers import HighwayBiLSTMLayer, reverse_index


def _lstm(bf16: bool, backward: bool):
    layer = HighwayBiLSTMLayer(100, 64).cuda().train()
    x = torch.randn(64, 48, 100, device="cuda", requires_grad=backward)
    reverse = reverse_index(torch.randint(1, 49, (64,), device="cuda"), 48)

    def run():
        with torch.autocast("cuda", torch.bfloat16, enabled=bf16, cache_enabled=False):
            out = layer(x, reverse)
        if backward:
            out.float().sum().backward()
            return x.grad.clone()
        return out.float()
    return run


def _embedding(rows: int, width: int, indices: int):
    table = nn.Embedding(rows, width, padding_idx=0).cuda()
    ids = torch.randint(0, rows, (indices,), device="cuda")

    def run():
        table.weight.grad = None
        table(ids).sum().backward()
        return table.weight.grad.clone()
    return run


def _optimizer(clip: bool):
    model = nn.Linear(64, 64).cuda()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True, capturable=True)
    x = torch.randn(32, 64, device="cuda")

    def run():
        optimizer.zero_grad(set_to_none=True)
        model(x).pow(2).mean().backward()
        if clip:
            nn.utils.clip_grad_norm_(list(model.parameters()), 1.0)
        optimizer.step()
        return model.weight.detach().clone()
    return run


def _dropout():
    x = torch.randn(64, 100, device="cuda")
    return lambda: nn.functional.dropout(x, 0.3) + torch.rand_like(x)


PROBES = {
    "lstm_forward": lambda: _lstm(False, False),
    "lstm_forward_bf16": lambda: _lstm(True, False),
    "lstm_backward": lambda: _lstm(False, True),
    "lstm_backward_bf16": lambda: _lstm(True, True),
    "embedding_backward_4096": lambda: _embedding(20_000, 100, 4096),
    "embedding_backward_24576": lambda: _embedding(262_145, 3, 24_576),
    "adamw_fused_capturable": lambda: _optimizer(False),
    "adamw_with_clipping": lambda: _optimizer(True),
    "dropout_and_rand": _dropout,
}


def probe(name: str) -> str:
    torch.manual_seed(0)
    run = PROBES[name]()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            run()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream):
        out = run()
    graph.replay()
    torch.cuda.synchronize()
    return f"captured and replayed, output {tuple(out.shape)}"


def main() -> None:
    if len(sys.argv) > 1:
        try:
            print(f"{sys.argv[1]}: {probe(sys.argv[1])}")
        except Exception as error:  # the first failing call is what this probe is for
            print(f"{sys.argv[1]}: FAILED {type(error).__name__}: {' '.join(str(error).split())[:300]}")
        return
    for name in PROBES:
        subprocess.run([sys.executable, __file__, name], timeout=60, check=False)


if __name__ == "__main__":
    main()
