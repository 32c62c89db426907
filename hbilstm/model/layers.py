"""One Highway BiLSTM layer, and the other carries it is compared with. Imports only torch.

One layer computes, for every token of every sequence (padding never enters the LSTM: the stack
works on packed sequences and applies the gate to the packed data)::

    highway         y = H(x) * T(x) + P(x) * (1 - T(x))      (Srivastava et al., 2015)
    plain           y = H(x)
    residual        y = H(x) + P(x)                          (He et al., 2016)
    gated-residual  y = g(k) * H(x) + P(x),  g = ReLU        (Savarese et al., 2016)

where H is a one-layer bidirectional LSTM, ``T(x) = sigmoid(W_T x + b_T)`` the transform gate,
``P`` a linear projection of the input when its width differs from the output's and the identity
when they match, and ``k`` one learned scalar per layer (initialised to 1, so that g(k) = 1).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from .config import CARRIES


class HighwayBiLSTMLayer(nn.Module):
    """One bidirectional LSTM layer with a highway (or other) carry path.

    Parameters
    ----------
    input_size: width of the layer's input x.
    hidden: LSTM units per direction; the output width is ``2 * hidden``.
    carry: one of :data:`CARRIES`.
    gate_bias: initial transform-gate bias (highway only).
    input_dropout: dropout rate on the LSTM's input only; the gate and the carry path see x
        undropped, so that a deep stack never drops its highway (default 0).

    ``forward`` takes and returns the *data* tensor of a packed sequence (one row per real
    token); ``batch`` is the packed sequence whose layout that data follows.
    """

    def __init__(self, input_size: int, hidden: int, carry: str = "highway", gate_bias: float = -2.0,
                 input_dropout: float = 0.0):
        super().__init__()
        if carry not in CARRIES:
            raise ValueError(f"carry must be one of {', '.join(CARRIES)}, not {carry!r}")
        self.carry = carry
        self.input_size = input_size
        self.output_size = 2 * hidden
        self.input_dropout = nn.Dropout(input_dropout)
        self.lstm = nn.LSTM(input_size, hidden, num_layers=1, bidirectional=True)
        # P: the carry path must match the output width; identity costs nothing where it does.
        if carry == "plain" or input_size == self.output_size:
            self.project: nn.Module = nn.Identity()
        else:
            self.project = nn.Linear(input_size, self.output_size, bias=False)
        if carry == "highway":
            self.gate = nn.Linear(input_size, self.output_size)
            # A negative bias makes T small at first: a fresh layer mostly carries its input
            # forward, so a deep stack starts close to a shallow one and gradients reach the
            # bottom (Srivastava et al., 2015). forward() applies sigmoid to this same map.
            nn.init.constant_(self.gate.bias, gate_bias)
        if carry == "gated-residual":
            # k = 1 gives g(k) = ReLU(1) = 1: the layer starts as a plain residual layer and can
            # learn to become the identity by driving k to 0 (Savarese et al., 2016).
            self.k = nn.Parameter(torch.ones(()))
        # Set by analysis, never saved: a lesioned layer passes only its carry path on, y = P(x)
        # (highway: T = 0; gated-residual: g = 0; residual: H dropped). ``token_gates`` adds each
        # token's mean transform gate to the statistics (highway).
        self.lesioned = False
        self.token_gates = False

    def forward(self, x: Tensor, batch: PackedSequence, stats: list | None = None) -> Tensor:
        if self.lesioned:
            if self.carry == "plain":
                raise ValueError("a plain layer has no carry path to lesion to")
            out = self.project(x)
            if stats is not None:
                stats.append({"output_norm": out.float().norm(dim=-1).mean().item(), "lesioned": True})
            return out
        h = self.lstm(batch._replace(data=self.input_dropout(x)))[0].data
        if self.carry == "plain":
            out = h
        elif self.carry == "residual":
            out = h + self.project(x)
        elif self.carry == "gated-residual":
            out = torch.relu(self.k) * h + self.project(x)
        else:
            t = torch.sigmoid(self.gate(x)).to(h.dtype)
            # lerp(P, H, T) = P + T * (H - P) = H*T + P*(1 - T), in one fused kernel. Under
            # autocast the linear maps give bf16 while the LSTM may not: lerp wants one dtype.
            out = torch.lerp(self.project(x).to(h.dtype), h, t)
        if stats is not None:
            stats.append(self._stats(x, out, t if self.carry == "highway" else None))
        return out

    @torch.no_grad()
    def _stats(self, x: Tensor, out: Tensor, t: Tensor | None) -> dict:
        entry: dict = {"output_norm": out.float().norm(dim=-1).mean().item()}
        if t is not None:
            entry["gate_mean"] = t.float().mean().item()
            entry["gate_std"] = t.float().std().item() if t.numel() > 1 else 0.0
            if self.token_gates:
                entry["token_gate"] = t.float().mean(dim=-1)  # one value per real token, packed order
        if self.carry == "gated-residual":
            entry["k"] = self.k.item()
            entry["g"] = torch.relu(self.k).item()
        return entry
