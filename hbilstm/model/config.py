"""The shape of a Highway BiLSTM classifier, as plain values (no torch needed to read or check it)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

CARRIES = ("highway", "plain", "residual", "gated-residual")
POOLINGS = ("max", "mean", "last", "attention")
MAX_NGRAM_WORDS = 3  # the longest run of words the n-gram classifier may read


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
    pooling: how token features become one vector per tweet; one of :data:`POOLINGS`
        (``attention``: a weighted mean whose weights, softmax(v . tanh(W x)) over the real
        tokens, are learnt).
    dropout: dropout rate on the embeddings and on the pooled features (default 0.3).
    embedding_noise: standard deviation of Gaussian noise added to the embeddings while
        training (default 0: none); never at prediction.
    word_dropout: share of the real tokens replaced by ``<unk>`` (``unknown_idx``) while training
        (default 0: none), so that the stack learns to read tweets with words it does not know;
        never at prediction.
    lexicon_features: fixed per-token features (a lexicon's ratings, held in the ``lexicon``
        buffer, one row per vocabulary id) joined to each token's embedding (default 0: none).
    vector_features: width of fixed word vectors (held in the ``word_vectors`` buffer, one row
        per vocabulary id) joined last to each token's features, dropped out while training
        (default 0: none): pretrained vectors beside embeddings that a pretrained encoder gave.
    char_features: width of a character-aware word vector joined to each token's embedding: a
        CNN over the word's bytes with highway layers (:mod:`hbilstm.model.chars`), its
        spellings held in the ``spellings`` buffer, one row per vocabulary id (default 0: none).
    ngram_buckets: a second, linear classifier over the tweet's character n-grams hashed into
        this many buckets (:mod:`hbilstm.model.ngram_head`), averaged with the stack (default 0:
        none). The model then takes each row's n-gram ids too.
    ngram_words: the n-gram classifier also reads every run of 1 to this many words, hashed into
        the same buckets (:func:`hbilstm.data.ngrams.ngram_ids`; default 0: characters only).
        It changes no weight's shape; the data code reads it from here to encode texts alike.
    layer_dropout: dropout rate on the LSTM input of every layer after the first; the gate and
        the carry path see their input undropped (default 0).
    padding_idx: the padding id in the embedding table (default 0).
    unknown_idx: the id of the unknown word, ``<unk>`` (default 1).
    temperatures: at prediction, each classifier's logits are divided by its temperature before
        their probabilities are taken (and averaged): one for the stack, a second for the
        n-gram classifier where there is one. Fitted on validation data after training
        (:mod:`hbilstm.training.calibration`); empty (the default): none, as 1.
    offsets: at prediction, one number per class added to the (tempered, averaged) logits, so
        that the argmax and the probabilities move toward the classes with the larger ones.
        Fitted on validation data to the task's metric after training
        (:mod:`hbilstm.training.offsets`); empty (the default): none, as 0.
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
    unknown_idx: int = 1
    embedding_noise: float = 0.0
    word_dropout: float = 0.0
    lexicon_features: int = 0
    vector_features: int = 0
    char_features: int = 0
    ngram_buckets: int = 0
    ngram_words: int = 0
    temperatures: tuple[float, ...] = ()
    offsets: tuple[float, ...] = ()

    @property
    def parts(self) -> int:
        """How many classifiers the model averages: the stack, and the n-gram classifier."""
        return 2 if self.ngram_buckets else 1

    def __post_init__(self) -> None:
        self.temperatures = tuple(float(t) for t in self.temperatures)
        self.offsets = tuple(float(b) for b in self.offsets)
        if self.carry not in CARRIES:
            raise ValueError(f"carry must be one of {', '.join(CARRIES)}, not {self.carry!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, not {self.pooling!r}")
        for name in ("vocab_size", "num_classes", "embedding_dim", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("dropout", "layer_dropout", "word_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), not {getattr(self, name)}")
        for name in ("lexicon_features", "vector_features", "char_features", "ngram_buckets"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0, not {getattr(self, name)}")
        if not 0 <= self.ngram_words <= MAX_NGRAM_WORDS:
            raise ValueError(f"ngram_words must be 0 (characters only) to {MAX_NGRAM_WORDS}, not {self.ngram_words}")
        if self.ngram_words and not self.ngram_buckets:
            raise ValueError("ngram_words adds words to the n-gram classifier: set ngram_buckets too")
        if not self.embedding_noise >= 0.0:
            raise ValueError(f"embedding_noise must be at least 0, not {self.embedding_noise}")
        if self.temperatures and (len(self.temperatures) != self.parts or not all(t > 0 for t in self.temperatures)):
            raise ValueError(f"temperatures must be {self.parts} positive numbers (one per classifier) "
                             f"or none, not {list(self.temperatures)}")
        if self.offsets and (len(self.offsets) != self.num_classes or not all(math.isfinite(b) for b in self.offsets)):
            raise ValueError(f"offsets must be {self.num_classes} finite numbers (one per class) or none, "
                             f"not {list(self.offsets)}")

    def to_dict(self) -> dict:
        data = asdict(self)
        if not self.offsets:  # left out when empty, so that models from before offsets keep their digests
            del data["offsets"]
        if not self.ngram_words:  # the same for models from before word n-grams
            del data["ngram_words"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
