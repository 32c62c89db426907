"""Nearest known words: how a model reads a word its vocabulary lacks but its word vectors know.

A vocabulary holds the words of the training split; a table of pretrained vectors holds many more
(spaCy's ``en_core_web_md`` has 514,157 keys). With ``vector_fallback`` a word outside the
vocabulary is read as the vocabulary word whose pretrained vector is nearest to its own (cosine),
instead of as ``<unk>``: ``supremacists`` as ``terrorists``, ``#palestine`` as ``palestine``.
The choice is made once, when the model is trained, for every key of the table, and saved with the
model as two sorted arrays (the keys, 64-bit string hashes as spaCy makes them, and the vocabulary
ids they map to), so that prediction needs neither the table nor a search.

Nothing here knows of the model.
"""

from __future__ import annotations

import struct
from typing import Sequence

import numpy as np

from .spellings import spellings

CHUNK = 2048  # rows of the table compared with the vocabulary at once (CHUNK x vocabulary floats)
CACHE_LIMIT = 100_000  # tokens remembered by a fallback; the cache is cleared when it grows past this

_M, _R, _MASK = 0xC6A4A7935BD1E995, 47, (1 << 64) - 1


def hash_key(text: str) -> int:
    """The 64-bit key of a string in a spaCy vectors table: spaCy's ``hash_string``, which is
    MurmurHash64A (Austin Appleby's 64-bit MurmurHash2, seed 1) of the UTF-8 bytes, computed here
    without spaCy (importing it pulls in thinc and torch, about a second and a half)."""
    data = text.encode("utf-8", "surrogatepass")  # a lone surrogate is no key, but must not fail
    blocks = len(data) // 8
    h = (1 ^ (len(data) * _M)) & _MASK
    for k in struct.unpack_from(f"<{blocks}Q", data):
        k = (k * _M) & _MASK
        k ^= k >> _R
        h ^= (k * _M) & _MASK
        h = (h * _M) & _MASK
    tail = data[blocks * 8:]
    if tail:  # the last 1-7 bytes, little-endian, as the reference's switch reads them
        h = ((h ^ int.from_bytes(tail, "little")) * _M) & _MASK
    h ^= h >> _R
    h = (h * _M) & _MASK
    return h ^ (h >> _R)


class WordFallback:
    """A map from string keys to vocabulary ids, looked up by a token's spellings."""

    def __init__(self, keys: np.ndarray, ids: np.ndarray):
        keys = np.asarray(keys, dtype=np.uint64)
        ids = np.asarray(ids, dtype=np.int32)
        if keys.ndim != 1 or keys.shape != ids.shape:
            raise ValueError("a word fallback holds one vocabulary id per key")
        order = np.argsort(keys, kind="stable")
        self.keys, self.ids = keys[order], ids[order]
        if len(self.keys) > 1 and not (self.keys[1:] > self.keys[:-1]).all():
            raise ValueError("a word fallback holds each key once")
        self._cache: dict[str, int | None] = {}

    @classmethod
    def from_saved(cls, keys: np.ndarray, ids: np.ndarray) -> "WordFallback":
        """The map as :meth:`saved` wrote it (keys as int64, which every tensor library holds)."""
        return cls(np.asarray(keys).view("uint64"), ids)

    def saved(self) -> tuple[np.ndarray, np.ndarray]:
        """The keys (their bits as int64) and ids, as checkpoints and model folders hold them."""
        return self.keys.view("int64").copy(), self.ids.copy()

    def __len__(self) -> int:
        return len(self.keys)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, WordFallback) and np.array_equal(self.keys, other.keys)
                and np.array_equal(self.ids, other.ids))

    def _find(self, key: int) -> int | None:
        at = int(np.searchsorted(self.keys, np.uint64(key)))
        if at < len(self.keys) and int(self.keys[at]) == key:
            return int(self.ids[at])
        return None

    def id(self, token: str) -> int | None:
        """The vocabulary id ``token`` falls back to (its most exact spelling first), or None."""
        if token in self._cache:
            return self._cache[token]
        found = None
        for spelling in spellings(token):
            found = self._find(hash_key(spelling))
            if found is not None:
                break
        if len(self._cache) >= CACHE_LIMIT:  # a service sees endless new words: memory stays bounded
            self._cache.clear()
        self._cache[token] = found
        return found


def nearest_known(
    table: np.ndarray, key_rows: np.ndarray, vocab_ids: Sequence[int], vocab_rows: Sequence[int]
) -> np.ndarray:
    """For each key (given by its row of ``table``), the vocabulary id whose row is nearest by cosine.

    ``vocab_ids[i]`` is a vocabulary id whose vector is ``table[vocab_rows[i]]``. Each distinct
    row is compared once; ties go to the first vocabulary id listed (give them most frequent
    first), so a key that shares its row with a vocabulary word maps to that word.
    """
    if not len(vocab_ids):
        raise ValueError("no vocabulary word has a vector to fall back to")
    vocab_ids = np.asarray(vocab_ids, dtype=np.int32)
    known = _unit(table[np.asarray(vocab_rows)])
    distinct, inverse = np.unique(np.asarray(key_rows), return_inverse=True)
    best = np.empty(len(distinct), dtype=np.int64)
    for start in range(0, len(distinct), CHUNK):
        block = _unit(table[distinct[start:start + CHUNK]])
        best[start:start + CHUNK] = (block @ known.T).argmax(axis=1)
    return vocab_ids[best[inverse.reshape(-1)]]


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)
