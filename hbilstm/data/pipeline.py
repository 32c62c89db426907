"""From a dataset to id sequences: load, tokenize (cached), build the vocabulary, encode.

Data code only: nothing here knows of the model.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection, NamedTuple, Sequence

from ..errors import DataError
from .corpora import Corpus
from .limits import MAX_TEXT_CHARS
from .ngrams import ngram_ids
from .readers import Examples
from .token_cache import TokenCache
from .tokenizer import TokenizerConfig, TweetTokenizer
from .unlabelled import normalised
from .vocab import UNK_ID, Vocabulary


def encode(token_lists: Sequence[Sequence[str]], vocab: Vocabulary, max_tokens: int | None = None) -> list[list[int]]:
    """Token lists to id lists, cut to ``max_tokens``; an empty list becomes ``[<unk>]`` so
    that every sequence has at least one step."""
    return [vocab.encode(tokens[:max_tokens] if max_tokens else tokens) or [UNK_ID] for tokens in token_lists]


def encode_labels(labels: Sequence[str], label_names: Sequence[str], source: str) -> list[int]:
    """Label names to class ids; a name the model does not know is a DataError."""
    index = {name: i for i, name in enumerate(label_names)}
    try:
        return [index[label] for label in labels]
    except KeyError as exc:
        raise DataError(
            f"{source}: label {exc.args[0]!r} is not one of {', '.join(label_names)}"
        ) from None


def encode_ngrams(
    token_lists: Sequence[Sequence[str]], buckets: int, max_tokens: int | None = None, words: int = 0
) -> list[list[int]] | None:
    """Each token list's hashed character n-gram ids (and word n-grams up to ``words`` tokens:
    :func:`~hbilstm.data.ngrams.ngram_ids`), of the tokens a model reads (cut to
    ``max_tokens``); None when ``buckets`` is 0."""
    if not buckets:
        return None
    return [ngram_ids(tokens[:max_tokens] if max_tokens else tokens, buckets, words) for tokens in token_lists]


class EncodedTexts(NamedTuple):
    """Texts as a model reads them: id sequences (cut to ``max_tokens``; never empty), whether
    each text was cut (it had more tokens than ``max_tokens``, or more characters than
    :data:`~hbilstm.data.limits.MAX_TEXT_CHARS`), and the n-gram ids (None for a model that reads none)."""

    ids: list[list[int]]
    cut: list[bool]
    ngrams: list[list[int]] | None = None


def encode_texts(tokenizer: TweetTokenizer, vocab: Vocabulary, max_tokens: int, texts: Sequence[str],
                 ngram_buckets: int = 0, ngram_words: int = 0) -> EncodedTexts:
    """Tokenize and encode ``texts`` for a model (``ngram_buckets``, ``ngram_words``: its own). Every
    way of scoring texts comes here, so every one cuts them alike: to ``max_tokens`` tokens, read
    from at most :data:`~hbilstm.data.limits.MAX_TEXT_CHARS` characters."""
    token_lists = list(tokenizer.tokenize_many(texts, limit=max_tokens))
    cut = [len(tokens) > max_tokens or len(text) > MAX_TEXT_CHARS for tokens, text in zip(token_lists, texts)]
    return EncodedTexts(encode(token_lists, vocab, max_tokens), cut,
                        encode_ngrams(token_lists, ngram_buckets, max_tokens, ngram_words))


class TextEncoder:
    """Everything that turns texts into what a model reads, in one object: the tokenizer's settings,
    the vocabulary (with its word fallback), the token limit and the n-gram settings. Saved models
    carry these; every way of scoring (this process, worker processes, ONNX Runtime, the service)
    encodes through one. It pickles (worker processes get it whole), and builds its tokenizer
    on first use."""

    def __init__(self, tokenizer_config: TokenizerConfig, vocab: Vocabulary, max_tokens: int, ngram_buckets: int = 0,
                 ngram_words: int = 0):
        self.tokenizer_config, self.vocab = tokenizer_config, vocab
        self.max_tokens, self.ngram_buckets, self.ngram_words = max_tokens, ngram_buckets, ngram_words
        self._tokenizer: TweetTokenizer | None = None

    @property
    def tokenizer(self) -> TweetTokenizer:
        if self._tokenizer is None:
            self._tokenizer = TweetTokenizer(self.tokenizer_config)
        return self._tokenizer

    def encode(self, texts: Sequence[str]) -> "EncodedTexts":
        """:func:`encode_texts` with this encoder's settings."""
        return encode_texts(self.tokenizer, self.vocab, self.max_tokens, texts, self.ngram_buckets, self.ngram_words)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_tokenizer": None}  # the receiving process builds its own


@dataclass
class EncodedSplit:
    """Id sequences, class ids and the texts' ids of one split, and the n-gram ids for a model
    that reads them."""

    ids: list[list[int]]
    labels: list[int]
    row_ids: list[str]
    ngrams: list[list[int]] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> list[int]:
        return [len(s) for s in self.ids]

    @property
    def num_tokens(self) -> int:
        return sum(len(s) for s in self.ids)


class Encoder:
    """Tokenizes with a cache and encodes with a vocabulary, for a fixed label set (and hashes
    n-grams into ``ngram_buckets``, words up to ``ngram_words`` too, for a model that reads them)."""

    def __init__(self, tokenizer_config: TokenizerConfig, cache_dir: Path | None, max_tokens: int,
                 ngram_buckets: int = 0, ngram_words: int = 0):
        self.tokenizer_config = tokenizer_config
        self.cache = TokenCache(TweetTokenizer(tokenizer_config), cache_dir)
        self.max_tokens = max_tokens
        self.ngram_buckets, self.ngram_words = ngram_buckets, ngram_words

    def tokens(self, examples: Examples) -> list[list[str]]:
        return self.cache.tokenize(examples.texts)

    def encode(
        self,
        examples: Examples,
        vocab: Vocabulary,
        label_names: Sequence[str],
        source: str,
        tokens: list[list[str]] | None = None,
    ) -> EncodedSplit:
        tokens = tokens if tokens is not None else self.tokens(examples)
        return EncodedSplit(
            encode(tokens, vocab, self.max_tokens),
            encode_labels(examples.labels, label_names, source),
            list(examples.ids),
            encode_ngrams(tokens, self.ngram_buckets, self.max_tokens, self.ngram_words),
        )


@dataclass
class TrainingData:
    corpus: Corpus
    vocab: Vocabulary
    train: EncodedSplit
    val: EncodedSplit
    test: EncodedSplit | None
    token_counts: Counter
    val_source: str  # "val" split of the dataset, or "held out from train"
    excluded: int = 0  # training examples dropped because their text is in ``exclude``


def prepare_training_data(
    corpus: Corpus,
    encoder: Encoder,
    min_freq: int,
    max_vocab: int,
    val_fraction: float,
    seed: int,
    vocab: Vocabulary | None = None,
    max_train: int = 0,
    extend_vocab: Callable[[Vocabulary], Vocabulary] | None = None,
    exclude: Collection[str] = (),
) -> TrainingData:
    """Encode a corpus for training (splits as :func:`training_splits` cuts them); the
    vocabulary comes from the training split only. ``extend_vocab`` (a new vocabulary from the
    built one, for example with a word fallback) is applied before anything is encoded. A
    training example whose normalised text (:func:`~hbilstm.data.unlabelled.normalised`) is in
    ``exclude`` is dropped, after the split is cut (val stays as evaluation cuts it)."""
    splits = training_splits(corpus, val_fraction, seed, max_train)
    train_examples, val_examples = splits["train"], splits["val"]
    kept = without_texts(train_examples, exclude)
    excluded, train_examples = len(train_examples) - len(kept), kept
    for name, examples in (("train", train_examples), ("val", val_examples)):
        if len(examples) == 0:
            raise DataError(f"{corpus.name}: the {name} split has no examples; there is nothing to "
                            + ("train on" if name == "train" else "select the best epoch with"))
    train_tokens = encoder.tokens(train_examples)
    counts = Counter(t for tokens in train_tokens for t in tokens)
    if vocab is None:
        vocab = Vocabulary.build(train_tokens, min_freq=min_freq, max_size=max_vocab)
        if extend_vocab is not None:
            vocab = extend_vocab(vocab)
    labels = corpus.label_names
    train = encoder.encode(train_examples, vocab, labels, f"{corpus.name} train", train_tokens)
    val = encoder.encode(val_examples, vocab, labels, f"{corpus.name} val")
    test = None
    if "test" in splits:
        test = encoder.encode(splits["test"], vocab, labels, f"{corpus.name} test")
    return TrainingData(corpus, vocab, train, val, test, counts, held_out_source(corpus, val_fraction), excluded)


def without_texts(examples: Examples, exclude: Collection[str]) -> Examples:
    """``examples`` less those whose normalised text is in ``exclude``."""
    if not exclude:
        return examples
    return examples.select([i for i, text in enumerate(examples.texts) if normalised(text) not in exclude])


def training_splits(corpus: Corpus, val_fraction: float, seed: int, max_train: int = 0) -> dict[str, Examples]:
    """The ``train``, ``val`` and (where the corpus has one) ``test`` examples a run uses.

    A corpus without a validation split gets one: ``val_fraction`` of its training examples (of
    the whole file for a corpus of one unsplit file, which has no test split), chosen with
    ``seed``. ``max_train`` > 0 keeps a random sample of that many training examples, the same
    sample whatever the seed, so that runs differing only in seed see the same data. Evaluation
    calls this too, to score exactly the split a run held out.
    """
    import torch  # its random permutations keep old runs' splits; imported here, as encoding needs no torch

    train = corpus.splits["train"] if "train" in corpus.splits else corpus.splits.get("all", Examples())
    if "val" in corpus.splits:
        val = corpus.splits["val"]
    else:
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(train), generator=generator).tolist()
        cut = max(1, int(round(len(order) * val_fraction))) if order else 0
        train, val = train.select(sorted(order[cut:])), train.select(sorted(order[:cut]))
    if 0 < max_train < len(train):
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0)).tolist()
        train = train.select(sorted(order[:max_train]))
    out = {"train": train, "val": val}
    if "test" in corpus.splits:
        out["test"] = corpus.splits["test"]
    return out


def held_out_source(corpus: Corpus, val_fraction: float) -> str:
    """How a run got its validation split: the corpus's own, or held out from train."""
    return "val" if "val" in corpus.splits else f"{val_fraction:.0%} held out from train"
