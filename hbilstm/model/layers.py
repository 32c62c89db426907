"""One Highway BiLSTM layer, and the other carries it is compared with. Imports only torch.

One layer computes, for every token of every sequence::

    highway         y = H(x) * T(x) + P(x) * (1 - T(x))      (Srivastava et al., 2015)
    plain           y = H(x)
    residual        y = H(x) + P(x)                          (He et al., 2016)
    gated-residual  y = g(k) * H(x) + P(x),  g = ReLU        (Savarese et al., 2016)

where H is a one-layer bidirectional LSTM, ``T(x) = sigmoid(W_T x + b_T)`` the transform gate,
``P`` a linear projection of the input when its width differs from the output's and the identity
when they match, and ``k`` one learned scalar per layer (initialised to 1, so that g(k) = 1).

A layer runs on the padded ``(batch, time, features)`` batch, rows holding their real tokens
first: the forward direction reads each row as it is, padding after its real tokens, so padding
can reach only the outputs at padding positions; the backward direction reads each row reversed
*within its length* (:func:`reverse_index`), through the ``_reverse`` weights as a one-direction
LSTM, and its outputs are put back in order by the same gather (an ONNX export writes one
bidirectional node instead, :mod:`hbilstm.model.onnx_lstm`). It gives what the LSTM gives on
packed sequences (tests/model/packed_reference.py holds such a reference) and was measured faster,
in training, on a 2-core CPU (a step in about two thirds of the time) and on an H200 (1.4 to 1.6
times; cuDNN then runs its persistent kernels): docs/journal/benchmarks.md. It has no shape that
depends on the lengths, so a training step can be recorded as a CUDA graph.

The outputs at padding positions are meaningless but finite; they never reach
a real position, and pooling masks them out.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import CARRIES
from .onnx_lstm import bidirectional_lstm

_LSTM_WEIGHTS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def reverse_index(lengths: Tensor, steps: int) -> Tensor:
    """``(batch, steps)`` positions that reverse each row within its length: position ``t`` of
    a row of length ``L`` reads ``L - 1 - t`` when ``t < L`` and stays at ``t`` past the end.
    The reordering is its own inverse."""
    positions = torch.arange(steps, device=lengths.device).unsqueeze(0)
    lengths = lengths.unsqueeze(1)
    return torch.where(positions < lengths, lengths - 1 - positions, positions)


def gather_steps(x: Tensor, index: Tensor) -> Tensor:
    """``x[b, index[b, t], :]`` for a ``(batch, time, features)`` tensor."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.size(-1)))


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

    ``forward`` takes and returns a padded ``(batch, time, features)`` tensor.
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
        # Set by split_directions (int8): the two directions as one-direction LSTMs, in place of lstm.
        self.directions: nn.ModuleList | None = None

    def forward(self, x: Tensor, reverse: Tensor, real: Tensor | None = None, stats: list | None = None) -> Tensor:
        """The layer on a padded ``(batch, time, features)`` tensor whose rows hold their real
        tokens first; ``reverse`` is :func:`reverse_index` of the rows' lengths (see the module's
        docstring). ``stats`` (a list) gets this layer's statistics appended, taken over the
        positions where ``real`` (``(batch, time)``, True at real tokens) holds."""
        if self.lesioned:
            out, t = self._lesioned(x), None
        else:
            lstm_in = self.input_dropout(x)
            ahead = self._direction(lstm_in, backward=False)
            back = gather_steps(self._direction(gather_steps(lstm_in, reverse), backward=True), reverse)
            h = torch.cat([ahead, back], dim=-1)
            if self.directions is None and torch.onnx.is_in_onnx_export():
                h = bidirectional_lstm(self.lstm, lstm_in, reverse[:, 0] + 1, h)  # lengths: reverse[:, 0] is L - 1
            out, t = self._carry(x, h)
        if stats is not None:
            if real is None:
                raise ValueError("layer statistics need the real positions: pass real")
            stats.append(self._stats(out[real], None if t is None else t[real], self.lesioned))
        return out

    def one_way(self, x: Tensor, reverse: Tensor, backward: bool) -> Tensor:
        """The layer in one direction only (a language model's pass, :mod:`hbilstm.model.bilm`):
        ``(batch, time, 2 * hidden)`` holding that direction's half of the output, the other half
        zero. Fed the same kind of output from the layer below (or the embeddings), position t of
        the forward half depends on tokens up to t only, and of the backward half on tokens from t
        on, whatever the weights that cross from one half to the other."""
        lstm_in = self.input_dropout(x)
        if backward:
            h = gather_steps(self._direction(gather_steps(lstm_in, reverse), backward=True), reverse)
        else:
            h = self._direction(lstm_in, backward=False)
        zeros = torch.zeros_like(h)
        out = self._carry(x, torch.cat([zeros, h] if backward else [h, zeros], dim=-1))[0]
        keep = torch.arange(self.output_size, device=out.device) >= self.output_size // 2
        return torch.where(keep if backward else ~keep, out, 0.0)

    def _direction(self, x: Tensor, backward: bool) -> Tensor:
        """One direction of the LSTM over batch-first ``x``, from zero states, as a one-direction
        ``nn.LSTM`` holding that direction's weights would compute it."""
        if self.directions is not None:
            return self.directions[int(backward)](x)[0]
        if x.is_cuda:
            self._split_weights()
        suffix = "_reverse" if backward else ""
        weights = [getattr(self.lstm, name + suffix) for name in _LSTM_WEIGHTS]
        zeros = torch.zeros(1, x.size(0), self.lstm.hidden_size, dtype=x.dtype, device=x.device)
        return torch.lstm(x, (zeros, zeros), weights, True, 1, 0.0, self.training, False, True)[0]

    @torch.no_grad()
    def _split_weights(self) -> None:
        """On CUDA, give each direction's weights a cuDNN buffer of its own. ``nn.LSTM`` lays both
        directions out in one buffer (again whenever the model moves); cuDNN takes a buffer only
        from the start of the weights' storage, so a direction that does not start it would cost
        a copy of its weights (and a warning) on every call. Acts only when the layout is not
        already split."""
        lstm = self.lstm
        reverse, last = lstm.weight_ih_l0_reverse, lstm.bias_hh_l0_reverse
        if not torch.backends.cudnn.is_acceptable(reverse):
            return
        storage = reverse.untyped_storage().data_ptr()
        if reverse.data_ptr() == storage and last.untyped_storage().data_ptr() == storage:
            return
        from torch.backends.cudnn import rnn

        with torch.cuda.device_of(reverse):
            for suffix in ("", "_reverse"):
                weights = [getattr(lstm, name + suffix) for name in _LSTM_WEIGHTS]
                torch._cudnn_rnn_flatten_weight(weights, 4, lstm.input_size, rnn.get_cudnn_mode("LSTM"),
                                                lstm.hidden_size, 0, 1, True, False)

    @torch.no_grad()
    def split_directions(self) -> None:
        """Hold the two directions as two one-direction, batch-first ``nn.LSTM`` (copies of their
        weights) in place of the bidirectional one, so that each can be swapped for another LSTM
        module, such as a quantized one (:func:`hbilstm.inference.quantize_int8`)."""
        if self.directions is not None:
            return
        lstm, halves = self.lstm, []
        for suffix in ("", "_reverse"):
            half = nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True).to(lstm.weight_ih_l0.device)
            for name in _LSTM_WEIGHTS:
                getattr(half, name).copy_(getattr(lstm, name + suffix))
            halves.append(half)
        self.directions = nn.ModuleList(halves)
        del self.lstm

    def _carry(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor | None]:
        """The layer's output from its input ``x`` and its LSTM's output ``h`` (any layout, one
        row per position), and the transform gate T (highway; else None)."""
        if self.carry == "plain":
            return h, None
        if self.carry == "residual":
            return h + self.project(x), None
        if self.carry == "gated-residual":
            return torch.relu(self.k) * h + self.project(x), None
        t = torch.sigmoid(self.gate(x)).to(h.dtype)
        # Under autocast the linear maps give bf16 while the LSTM may not: one dtype for the mix.
        p = self.project(x).to(h.dtype)
        if torch.onnx.is_in_onnx_export():
            return p + t * (h - p), t  # the same value in plain ops, which every exporter knows
        # lerp(P, H, T) = P + T * (H - P) = H*T + P*(1 - T), in one fused kernel.
        return torch.lerp(p, h, t), t

    def _lesioned(self, x: Tensor) -> Tensor:
        if self.carry == "plain":
            raise ValueError("a plain layer has no carry path to lesion to")
        return self.project(x)

    @torch.no_grad()
    def _stats(self, out: Tensor, t: Tensor | None, lesioned: bool) -> dict:
        entry: dict = {"output_norm": out.float().norm(dim=-1).mean().item()}
        if lesioned:
            return {**entry, "lesioned": True}
        if t is not None:
            entry["gate_mean"] = t.float().mean().item()
            entry["gate_std"] = t.float().std().item() if t.numel() > 1 else 0.0
            if self.token_gates:
                entry["token_gate"] = t.float().mean(dim=-1)  # one value per real token, row by row
        if self.carry == "gated-residual":
            entry["k"] = self.k.item()
            entry["g"] = torch.relu(self.k).item()
        return entry
