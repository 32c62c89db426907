"""A trained model ready to score texts, whatever it was loaded from and whatever scores it.

:class:`Model` is the one handle for a run directory, a ``model.pt``, an exported model folder or
a Hub repo (see :func:`hbilstm.loading.load`), scored by PyTorch (``backend == "torch"``: the
``model`` is an ``nn.Module`` on ``device``) or by ONNX Runtime (``backend == "onnx"``: the
``graph`` is an :class:`~hbilstm.export.onnx_runtime.OnnxScorer`, on the CPU, and torch need never
be imported). Either way it carries its :class:`~hbilstm.data.pipeline.TextEncoder` (tokenizer
settings, vocabulary, limits), its labels, where it came from and its saved values (``payload``:
the model's shape, training options, card; no weights). Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data.pipeline import EncodedTexts, TextEncoder


@dataclass
class Model:
    label_names: list[str]
    encoder: TextEncoder
    path: Path
    payload: dict = field(default_factory=dict)
    backend: str = "torch"
    device: Any = None  # a torch.device for the torch backend; None for ONNX Runtime (the CPU)
    model: Any = None  # the torch nn.Module (torch backend)
    graph: Any = None  # the OnnxScorer (onnx backend)
    source: Path | None = None  # an exported folder the graph and encoder were read from (worker processes reread it)

    @property
    def vocab(self):
        return self.encoder.vocab

    @property
    def tokenizer(self):
        """The tokenizer's settings (a TokenizerConfig)."""
        return self.encoder.tokenizer_config

    @property
    def max_tokens(self) -> int:
        return self.encoder.max_tokens

    @property
    def ngram_buckets(self) -> int:
        """Hash buckets of the model's character n-grams (0: it reads none)."""
        return self.encoder.ngram_buckets

    @property
    def ngram_words(self) -> int:
        """The longest run of words the n-gram classifier reads (0: characters only)."""
        return self.encoder.ngram_words

    def score(self, encoded: EncodedTexts, batch_size: int = 256) -> np.ndarray:
        """Class probabilities ``(rows, classes)``, float32, of texts already encoded, in their order."""
        if self.graph is not None:
            return self.graph.predict_probs(encoded.ids, batch_size, encoded.ngrams)
        from .torch_ops import predict_probs

        return predict_probs(self.model, encoded.ids, batch_size, self.device, ngrams=encoded.ngrams).numpy()

    def predict_probs(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Class probabilities of ``texts`` (tokenized and cut as every path cuts them), in order."""
        if not len(texts):
            return np.zeros((0, len(self.label_names)), dtype=np.float32)
        return self.score(self.encoder.encode(texts), batch_size)
