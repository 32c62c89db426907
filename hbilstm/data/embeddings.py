"""Pretrained word vectors: GloVe or word2vec text files (plain or gzip-compressed), or spaCy
vectors (an installed pipeline package such as ``en_core_web_md``, or a folder; see
:mod:`hbilstm.data.spacy_vectors`).

Only the vectors of words in the vocabulary are kept, so a multi-gigabyte file costs one pass
and little memory. A vocabulary token is looked up as itself, then lowercased, then (for a
hashtag) without its ``#``, in each case ignoring case; the most exact match wins.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

import torch

from ..errors import DataError
from .spacy_vectors import is_spacy_source, read_spacy_vectors, spacy_fallback
from .vocab import PAD_ID, Vocabulary


@dataclass
class PretrainedVectors:
    """An embedding matrix for a vocabulary and how much of the vocabulary the file covered."""

    weights: torch.Tensor
    found_ids: tuple[int, ...]  # the vocabulary ids with a pretrained vector
    vocab_size: int
    token_coverage: float  # share of the counted training tokens with a pretrained vector

    @property
    def found(self) -> int:
        """How many vocabulary types have a pretrained vector."""
        return len(self.found_ids)

    @property
    def type_coverage(self) -> float:
        return self.found / max(1, self.vocab_size - 2)


def _open(path: Path) -> IO[str]:
    try:
        with open(path, "rb") as probe:
            gzipped = probe.read(2) == b"\x1f\x8b"
        if gzipped:
            return gzip.open(path, "rt", encoding="utf-8", errors="replace")
        return open(path, "r", encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise DataError(f"{path}: no such embeddings file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read embeddings ({exc.strerror})") from None


def load_vectors(
    path: str | Path,
    vocab: Vocabulary,
    token_counts: dict[str, int] | None = None,
    seed: int = 0,
) -> PretrainedVectors:
    """Read vectors for ``vocab`` from ``path``; words without one get small random vectors.

    The random vectors have the standard deviation of the found ones, so the two kinds start on
    the same scale; ``<pad>`` is all zeros. ``token_counts`` (token -> count in the training
    data) lets the token coverage be reported.
    """
    if is_spacy_source(path):
        dim, vectors = read_spacy_vectors(path, vocab)
    else:
        dim, vectors = _read_text_vectors(Path(path), vocab)
    if not vectors:
        raise DataError(f"{path}: none of the {len(vocab)} vocabulary words has a vector there")
    found = torch.tensor([vectors[i] for i in sorted(vectors)])
    generator = torch.Generator().manual_seed(seed)
    weights = torch.randn(len(vocab), dim, generator=generator) * found.std()
    weights[sorted(vectors)] = found
    weights[PAD_ID] = 0.0
    coverage = 0.0
    if token_counts:
        total = sum(token_counts.values())
        covered = sum(c for t, c in token_counts.items() if vocab.id(t) in vectors)
        coverage = covered / max(1, total)
    return PretrainedVectors(weights, tuple(sorted(vectors)), len(vocab), coverage)


def with_vector_fallback(source: str | Path) -> Callable[[Vocabulary], Vocabulary]:
    """What turns a vocabulary into the same one with a word fallback to ``source``'s keys
    (:mod:`hbilstm.data.fallback`); spaCy vectors only, whose keys cover words beyond the vocabulary."""
    if not is_spacy_source(source):
        raise DataError(f"{source}: vector_fallback needs spaCy vectors (an installed pipeline package or a "
                        "vectors folder); it does not read GloVe or word2vec text files")
    return lambda vocab: Vocabulary(vocab.tokens, spacy_fallback(source, vocab))


def _read_text_vectors(path: Path, vocab: Vocabulary) -> tuple[int, dict[int, list[float]]]:
    """The vectors of ``vocab``'s words in a GloVe/word2vec text file: ``(dim, {id: vector})``."""
    # Keys are lowercased; how exactly a file word matched decides between candidates.
    wanted: dict[str, list[int]] = {}
    for i, token in enumerate(vocab.tokens):
        if i == PAD_ID:
            continue
        keys = {token.lower()}
        if token.startswith("#") and len(token) > 1:
            keys.add(token[1:].lower())
        for key in keys:
            wanted.setdefault(key, []).append(i)
    # A more exact key wins: remember, for each vocabulary id, the best key found so far.
    rank: dict[int, int] = {}
    vectors: dict[int, list[float]] = {}
    dim = None
    try:
        with _open(path) as handle:
            for number, line in enumerate(handle, 1):
                parts = line.rstrip().split(" ")
                if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    continue  # word2vec header: "<count> <dim>"
                if len(parts) < 2:
                    continue
                if dim is None:
                    dim = len(parts) - 1
                word, values = " ".join(parts[:-dim]), parts[-dim:]
                ids = wanted.get(word.lower())
                if not ids:
                    continue
                try:
                    vector = [float(v) for v in values]
                except ValueError:
                    raise DataError(f"{path}:{number}: not '<word> <{dim} numbers>'") from None
                for i in ids:
                    token = vocab.tokens[i]
                    quality = 0 if word == token else 1 if word.lower() == token.lower() else 2
                    if quality < rank.get(i, 3):
                        rank[i] = quality
                        vectors[i] = vector
    except (EOFError, OSError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot read embeddings ({exc})") from None
    if dim is None:
        raise DataError(f"{path}: no vectors found")
    return dim, vectors
