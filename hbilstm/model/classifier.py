"""The sentence classifier: embedding -> a stack of Highway BiLSTM layers -> pooling -> linear.

``HighwayBiLSTMClassifier`` holds N :class:`~hbilstm.model.layers.HighwayBiLSTMLayer` in an
``nn.ModuleList``. The stack runs on the padded batch, each row's backward direction reversed
within its length, so that padding never reaches a real token (see :mod:`hbilstm.model.layers`);
pooling looks only at real tokens. No shape depends on the lengths, and no packed sequence is
built, so the same forward pass trains, predicts and exports to ONNX. Imports only torch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .chars import SPELLING_LENGTH, CharWordEncoder
from .config import ModelConfig
from .layers import HighwayBiLSTMLayer, reverse_index
from .ngram_head import NgramHead, mean_of_probabilities


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
        if config.vector_features:  # fixed word vectors per vocabulary id, set by whoever builds the model
            self.register_buffer("word_vectors", torch.zeros(config.vocab_size, config.vector_features))
        if config.char_features:  # every vocabulary word's spelling, set by whoever builds the model
            self.register_buffer("spellings", torch.zeros(config.vocab_size, SPELLING_LENGTH, dtype=torch.int16))
            self.chars = CharWordEncoder(config.char_features)
        token_width = config.embedding_dim + config.char_features + config.lexicon_features + config.vector_features
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
        and dropped out while training, then joined by the token's lexicon features and its fixed
        word vector (dropped out too), for the models that have them. Each kind is joined after the
        ones before it, so a pretrained encoder's first layer reads its own inputs first
        (:func:`~hbilstm.model.bilm.transfer`)."""
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
        if self.config.vector_features:
            embedded = torch.cat([embedded, self.dropout(self.word_vectors[tokens]).to(embedded.dtype)], dim=-1)
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

    def encode(self, tokens: Tensor, lengths: Tensor, stats: list | None = None) -> Tensor:
        """Pooled ``(batch, 2 * hidden)`` features of each sequence; ``stats`` (a list) gets each
        layer's statistics over the real tokens. Rows need a length of at least 1 (checked where
        the lengths are on the host; on a GPU that check would wait for the device)."""
        if lengths.device.type == "cpu" and lengths.numel() and int(lengths.min()) < 1:
            raise ValueError("every row needs a length of at least 1")  # an empty row would pool nothing
        embedded = self.embed(tokens)
        if embedded.is_cuda and lengths.device.type == "cpu":
            # page-locked, the copy is queued on the GPU instead of stalling the host
            lengths = lengths.pin_memory().to(embedded.device, non_blocking=True)
        lengths = lengths.to(embedded.device)
        steps = embedded.size(1)
        real = torch.arange(steps, device=embedded.device)[None, :] < lengths[:, None]  # (batch, time)
        reverse = reverse_index(lengths, steps)
        x = embedded
        for layer in self.layers:
            x = layer(x, reverse, real, stats)
        return self._pool(x, lengths, real)

    def forward(self, tokens: Tensor, lengths: Tensor, ngrams: Tensor | None = None) -> Tensor:
        return self.with_ngram_head(self.stack_logits(tokens, lengths), ngrams)

    def stack_logits(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """``(batch, num_classes)``: the stack's own logits, without the n-gram classifier."""
        return self.classifier(self.dropout(self.encode(tokens, lengths)))

    def part_logits(self, tokens: Tensor, lengths: Tensor, ngrams: Tensor | None = None) -> Tensor:
        """``(parts, batch, num_classes)``: each classifier's own logits, before any temperature;
        the stack's, then the n-gram classifier's where the model has one."""
        return self._parts(self.stack_logits(tokens, lengths), ngrams)

    def with_ngram_head(self, logits: Tensor, ngrams: Tensor | None) -> Tensor:
        """The stack's ``logits`` joined with the n-gram head's, where the model has one: stacked
        while training; in eval mode, each divided by its temperature (``temperatures``), their
        mean probability (as log)."""
        parts = self._parts(logits, ngrams)
        if self.training:
            return parts if self.config.ngram_buckets else logits
        return self.combine(parts)

    def combine(self, parts: Tensor, temperatures: bool = True, offsets: bool = True) -> Tensor:
        """The logits the model gives in eval mode, from the ``parts`` of :meth:`part_logits`: each
        divided by its temperature (unless ``temperatures`` is False), their mean probability (as
        log) where there are two, plus each class's offset where the model has them (unless
        ``offsets`` is False)."""
        if temperatures:
            parts = self.tempered(parts)
        logits = mean_of_probabilities(parts) if self.config.ngram_buckets else parts[0]
        if offsets and self.config.offsets:
            logits = logits + logits.new_tensor(self.config.offsets)
        return logits

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

    def _pool(self, padded: Tensor, lengths: Tensor, real: Tensor) -> Tensor:
        """``(batch, features)`` from the top layer's padded output, ``real`` being True at real
        tokens; whatever sits at padding positions counts for nothing (where(), not a product: an
        exact zero whatever it holds)."""
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
