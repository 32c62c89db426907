"""The Highway BiLSTM sentiment classifier.

Embedding -> N stacked :class:`HighwayBiLSTMLayer` (an ``nn.ModuleList``) -> pooling over time
-> dropout -> linear classifier. This module imports only torch: it knows nothing of files,
configs or the command line.

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

from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

CARRIES = ("highway", "plain", "residual", "gated-residual")
POOLINGS = ("max", "mean", "last")


@dataclass
class ModelConfig:
    """Shape and behaviour of a :class:`HighwayBiLSTMClassifier`.

    Parameters
    ----------
    vocab_size: rows of the embedding table (id 0 is padding).
    num_classes: outputs of the classifier.
    embedding_dim: width of the token embeddings (default 100).
    hidden: LSTM units per direction; every layer outputs ``2 * hidden`` features (default 64).
    layers: number of stacked Highway BiLSTM layers (default 2).
    carry: how a layer mixes H(x) with its input; one of :data:`CARRIES` (default highway).
    gate_bias: initial bias b_T of the transform gate; negative, so that a fresh layer mostly
        carries its input forward (default -2, T = sigmoid(-2) = 0.12).
    pooling: how token features become one vector per tweet; one of :data:`POOLINGS`.
    dropout: dropout rate on the embeddings and on the pooled features (default 0.3).
    layer_dropout: dropout rate on the input of every LSTM after the first (default 0).
    padding_idx: the padding id in the embedding table (default 0).
    """

    vocab_size: int
    num_classes: int
    embedding_dim: int = 100
    hidden: int = 64
    layers: int = 2
    carry: str = "highway"
    gate_bias: float = -2.0
    pooling: str = "max"
    dropout: float = 0.3
    layer_dropout: float = 0.0
    padding_idx: int = 0

    def __post_init__(self) -> None:
        if self.carry not in CARRIES:
            raise ValueError(f"carry must be one of {', '.join(CARRIES)}, not {self.carry!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, not {self.pooling!r}")
        for name in ("vocab_size", "num_classes", "embedding_dim", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("dropout", "layer_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), not {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class HighwayBiLSTMLayer(nn.Module):
    """One bidirectional LSTM layer with a highway (or other) carry path.

    Parameters
    ----------
    input_size: width of the layer's input x.
    hidden: LSTM units per direction; the output width is ``2 * hidden``.
    carry: one of :data:`CARRIES`.
    gate_bias: initial transform-gate bias (highway only).

    ``forward`` takes and returns the *data* tensor of a packed sequence (one row per real
    token); ``batch`` is the packed sequence whose layout that data follows.
    """

    def __init__(self, input_size: int, hidden: int, carry: str = "highway", gate_bias: float = -2.0):
        super().__init__()
        if carry not in CARRIES:
            raise ValueError(f"carry must be one of {', '.join(CARRIES)}, not {carry!r}")
        self.carry = carry
        self.input_size = input_size
        self.output_size = 2 * hidden
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

    def forward(self, x: Tensor, batch: PackedSequence, stats: list | None = None) -> Tensor:
        h = self.lstm(batch._replace(data=x))[0].data
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
        if self.carry == "gated-residual":
            entry["k"] = self.k.item()
            entry["g"] = torch.relu(self.k).item()
        return entry


class HighwayBiLSTMClassifier(nn.Module):
    """Sentence classifier over a stack of :class:`HighwayBiLSTMLayer`.

    ``forward(tokens, lengths)`` takes a padded ``(batch, time)`` tensor of token ids and the
    true length of each row (at least 1) and returns ``(batch, num_classes)`` logits.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.padding_idx)
        widths = [config.embedding_dim] + [2 * config.hidden] * config.layers
        self.layers = nn.ModuleList(
            HighwayBiLSTMLayer(widths[i], config.hidden, config.carry, config.gate_bias)
            for i in range(config.layers)
        )
        self.dropout = nn.Dropout(config.dropout)
        self.layer_dropout = nn.Dropout(config.layer_dropout)
        self.classifier = nn.Linear(2 * config.hidden, config.num_classes)

    def encode(self, tokens: Tensor, lengths: Tensor, stats: list | None = None) -> Tensor:
        """Pooled ``(batch, 2 * hidden)`` features of each sequence."""
        embedded = self.dropout(self.embedding(tokens))
        batch = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        x = batch.data
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.layer_dropout(x)
            x = layer(x, batch, stats)
        padded, _ = pad_packed_sequence(batch._replace(data=x), batch_first=True)
        if padded.is_cuda and lengths.device.type == "cpu":
            # page-locked, the copy is queued on the GPU instead of stalling the host
            lengths = lengths.pin_memory().to(padded.device, non_blocking=True)
        return self._pool(padded, lengths.to(padded.device))

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        return self.classifier(self.dropout(self.encode(tokens, lengths)))

    def _pool(self, padded: Tensor, lengths: Tensor) -> Tensor:
        steps = torch.arange(padded.size(1), device=padded.device)
        real = steps[None, :] < lengths[:, None]  # (batch, time)
        if self.config.pooling == "max":
            return padded.masked_fill(~real[..., None], float("-inf")).amax(dim=1)
        if self.config.pooling == "mean":
            summed = (padded * real[..., None]).sum(dim=1)
            return summed / lengths[:, None].to(padded.dtype)
        # "last": the forward direction's state at the last token, the backward one's at the first.
        half = padded.size(-1) // 2
        rows = torch.arange(padded.size(0), device=padded.device)
        forward_last = padded[rows, lengths - 1, :half]
        backward_first = padded[:, 0, half:]
        return torch.cat([forward_last, backward_first], dim=-1)

    @torch.no_grad()
    def layer_report(self, tokens: Tensor, lengths: Tensor) -> list[dict]:
        """Per-layer statistics on one batch, in eval mode: ``gate_mean`` (mean T over real
        tokens and units, highway), ``gate_std``, ``k`` and ``g = ReLU(k)`` (gated-residual) and
        ``output_norm`` (mean L2 norm of a token's output)."""
        was_training = self.training
        self.eval()
        try:
            stats: list[dict] = []
            self.encode(tokens, lengths, stats)
        finally:
            self.train(was_training)
        return [{"layer": i + 1, **entry} for i, entry in enumerate(stats)]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
