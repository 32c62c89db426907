"""The sentence classifier: embedding -> a stack of Highway BiLSTM layers -> pooling -> linear.

``HighwayBiLSTMClassifier`` holds N :class:`~hbilstm.model.layers.HighwayBiLSTMLayer` in an
``nn.ModuleList``. On a CPU the stack runs on the padded batch, each row's backward direction
reversed within its length, so that padding never reaches a real token; on other devices, for the
layer statistics and for int8 models, on packed sequences, where padding never enters an LSTM
(see :mod:`hbilstm.model.layers`). Both give the same logits and gradients to float rounding.
Either way pooling looks only at real tokens. Imports only torch.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .chars import SPELLING_LENGTH, CharWordEncoder
from .config import ModelConfig
from .layers import HighwayBiLSTMLayer, reverse_index
from .ngram_head import NgramHead, mean_of_probabilities

# The padded way is the default on a CPU, where it was measured faster (docs/journal/benchmarks.md); on a
# GPU it is not yet measured, so the packed way stays the default there unless the environment
# sets HBILSTM_PADDED_OFF_CPU=1 (for benchmarks/gpu_session.sh to measure both).
PADDED_OFF_CPU = os.environ.get("HBILSTM_PADDED_OFF_CPU") == "1"


class HighwayBiLSTMClassifier(nn.Module):
    """Sentence classifier over a stack of :class:`HighwayBiLSTMLayer`.

    ``forward(tokens, lengths)`` takes a padded ``(batch, time)`` tensor of token ids and the
    true length of each row (at least 1) and returns ``(batch, num_classes)`` logits. A model with
    ``ngram_buckets`` has a second classifier, :class:`~hbilstm.model.ngram_head.NgramHead`, and
    takes each row's hashed character n-gram ids too, ``(batch, n)`` padded with 0:
    ``forward(tokens, lengths, ngrams)``. In eval mode it returns the log of the two classifiers'
    mean probability; in training mode both classifiers' logits, ``(2, batch, num_classes)``,
    stack first, each for its own loss. In eval mode each classifier's logits are first divided
    by its temperature, where ``temperatures`` holds them.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.padding_idx)
        if config.lexicon_features:  # fixed ratings per vocabulary id, set by whoever builds the model
            self.register_buffer("lexicon", torch.zeros(config.vocab_size, config.lexicon_features))
        if config.char_features:  # every vocabulary word's spelling, set by whoever builds the model
            self.register_buffer("spellings", torch.zeros(config.vocab_size, SPELLING_LENGTH, dtype=torch.int16))
            self.chars = CharWordEncoder(config.char_features)
        token_width = config.embedding_dim + config.char_features + config.lexicon_features
        widths = [token_width] + [2 * config.hidden] * config.layers
        # layer_dropout acts on the LSTM input of every layer after the first (the first one reads
        # the embeddings, dropped already); inside the layer, so the carry path is never dropped.
        self.layers = nn.ModuleList(
            HighwayBiLSTMLayer(widths[i], config.hidden, config.carry, config.gate_bias,
                               config.layer_dropout if i > 0 else 0.0)
            for i in range(config.layers)
        )
        self.dropout = nn.Dropout(config.dropout)
        if config.pooling == "attention":
            width = 2 * config.hidden
            self.attention = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1, bias=False))
        self.classifier = nn.Linear(2 * config.hidden, config.num_classes)
        if config.ngram_buckets:
            self.ngram_head = NgramHead(config.ngram_buckets, config.num_classes)

    def embed(self, tokens: Tensor) -> Tensor:
        """Token embeddings, with words replaced by ``<unk>`` (``word_dropout``) and Gaussian
        noise (``embedding_noise``) while training, joined by the words' character-aware vectors
        and dropped out while training, then joined by the token's lexicon features, for the
        models that have them."""
        if self.training and self.config.word_dropout > 0:
            dropped = (torch.rand(tokens.shape, device=tokens.device) < self.config.word_dropout)
            tokens = tokens.masked_fill(dropped & (tokens != self.config.padding_idx), self.config.unknown_idx)
        embedded = self.embedding(tokens)
        if self.training and self.config.embedding_noise > 0:
            embedded = embedded + torch.randn_like(embedded) * self.config.embedding_noise
        if self.config.char_features:
            embedded = torch.cat([embedded, self.spelt(tokens).to(embedded.dtype)], dim=-1)
        embedded = self.dropout(embedded)
        if self.config.lexicon_features:
            embedded = torch.cat([embedded, self.lexicon[tokens].to(embedded.dtype)], dim=-1)
        return embedded

    def spelt(self, tokens: Tensor) -> Tensor:
        """The character-aware vector of every token, each distinct word encoded once (in an
        exported graph, every position: ONNX export cannot follow ``unique``'s inverse)."""
        if torch.onnx.is_in_onnx_export():
            flat = self.chars(self.spellings[tokens.reshape(-1)].long())
            return flat.reshape(*tokens.shape, -1)
        words, where = torch.unique(tokens, return_inverse=True)
        return self.chars(self.spellings[words].long())[where]

    def attention_weights(self, features: Tensor, real: Tensor) -> Tensor:
        """``(batch, time)`` attention weights over ``features`` ``(batch, time, width)``: zero where
        ``real`` is False (padding), summing to 1 over each row's real tokens."""
        scores = self.attention(features).squeeze(-1).float().masked_fill(~real, float("-inf"))
        return torch.softmax(scores, dim=1).to(features.dtype)

    def encode(self, tokens: Tensor, lengths: Tensor, stats: list | None = None, packed: bool | None = None) -> Tensor:
        """Pooled ``(batch, 2 * hidden)`` features of each sequence. ``packed``: run the stack on
        packed sequences (True) or on the padded batch (False); None: padded on a CPU, unless
        ``stats`` is given (the statistics are taken in packed order) or a layer cannot run padded
        (int8), and packed on other devices unless :data:`PADDED_OFF_CPU` says."""
        if packed is None:
            packed = (stats is not None or not all(layer.runs_padded for layer in self.layers)
                      or (tokens.device.type != "cpu" and not PADDED_OFF_CPU))
        elif stats is not None and not packed:
            raise ValueError("layer statistics are taken on packed sequences: leave packed=None")
        if lengths.device.type == "cpu" and lengths.numel() and int(lengths.min()) < 1:
            # (as packing refuses it; on the padded way an empty row would pool nothing)
            raise ValueError("every row needs a length of at least 1")
        embedded = self.embed(tokens)
        device_lengths = lengths
        if embedded.is_cuda and lengths.device.type == "cpu":
            # page-locked, the copy is queued on the GPU instead of stalling the host
            device_lengths = lengths.pin_memory().to(embedded.device, non_blocking=True)
        device_lengths = device_lengths.to(embedded.device)
        if not packed:
            x = embedded
            reverse = reverse_index(device_lengths, x.size(1))
            for layer in self.layers:
                x = layer.forward_padded(x, reverse)
            return self._pool(x, device_lengths)
        batch = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        x = batch.data
        for layer in self.layers:
            x = layer(x, batch, stats)
        padded, _ = pad_packed_sequence(batch._replace(data=x), batch_first=True)
        return self._pool(padded, device_lengths)

    def forward(self, tokens: Tensor, lengths: Tensor, ngrams: Tensor | None = None, *,
                packed: bool | None = None) -> Tensor:
        return self.with_ngram_head(self.classifier(self.dropout(self.encode(tokens, lengths, packed=packed))), ngrams)

    def part_logits(self, tokens: Tensor, lengths: Tensor, ngrams: Tensor | None = None, *,
                    packed: bool | None = None) -> Tensor:
        """``(parts, batch, num_classes)``: each classifier's own logits, before any temperature;
        the stack's, then the n-gram classifier's where the model has one."""
        return self._parts(self.classifier(self.dropout(self.encode(tokens, lengths, packed=packed))), ngrams)

    def with_ngram_head(self, logits: Tensor, ngrams: Tensor | None) -> Tensor:
        """The stack's ``logits`` joined with the n-gram head's, where the model has one: stacked
        while training; in eval mode, each divided by its temperature (``temperatures``), their
        mean probability (as log)."""
        parts = self._parts(logits, ngrams)
        if self.training:
            return parts if self.config.ngram_buckets else logits
        return self.combine(parts)

    def combine(self, parts: Tensor, temperatures: bool = True) -> Tensor:
        """The logits the model gives in eval mode, from the ``parts`` of :meth:`part_logits`: each
        divided by its temperature (unless ``temperatures`` is False), their mean probability (as
        log) where there are two."""
        if temperatures:
            parts = self.tempered(parts)
        return mean_of_probabilities(parts) if self.config.ngram_buckets else parts[0]

    def tempered(self, parts: Tensor) -> Tensor:
        """``parts`` (as :meth:`part_logits` gives them), each divided by its classifier's
        temperature where the model has them."""
        if not self.config.temperatures:
            return parts
        return parts / parts.new_tensor(self.config.temperatures)[:, None, None]

    def _parts(self, logits: Tensor, ngrams: Tensor | None) -> Tensor:
        if not self.config.ngram_buckets:
            return logits[None]
        if ngrams is None:
            raise ValueError("this model reads character n-grams: call it as model(tokens, lengths, ngrams)")
        return torch.stack([logits.float(), self.ngram_head(ngrams)])

    def _pool(self, padded: Tensor, lengths: Tensor) -> Tensor:
        """``(batch, features)`` from the top layer's padded output; whatever sits at padding
        positions counts for nothing (where(), not a product: an exact zero whatever it holds)."""
        steps = torch.arange(padded.size(1), device=padded.device)
        real = steps[None, :] < lengths[:, None]  # (batch, time)
        if self.config.pooling == "max":
            return padded.masked_fill(~real[..., None], float("-inf")).amax(dim=1)
        if self.config.pooling == "mean":
            summed = torch.where(real[..., None], padded, 0.0).sum(dim=1)
            return summed / lengths[:, None].to(padded.dtype)
        if self.config.pooling == "attention":
            weights = self.attention_weights(padded, real)
            return torch.einsum("bt,btf->bf", weights, torch.where(real[..., None], padded, 0.0))
        # "last": the forward half of the top layer's output at the last real token and the backward
        # half at the first, where each direction has read the whole tweet. With the plain carry
        # these are the LSTM's final states; the other carries mix the carried input into them.
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
