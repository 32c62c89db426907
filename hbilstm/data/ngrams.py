"""A tweet as a bag of hashed character n-grams, the words' spellings the vocabulary never sees.

Each token is written between two spaces and cut into every run of 2 to 5 characters
(``" good "`` gives ``" g"``, ``"go"``, ... ``"ood "``, ``" go"``, ... ``" good"``, ``"good "``),
the same n-grams scikit-learn's ``char_wb`` analyzer takes from a word; a token of one character
adds only ``" x "``. Each n-gram is hashed (CRC-32 of its UTF-8 bytes, stable across processes and
machines) into one of ``buckets`` ids, 1 to ``buckets``; 0 is left free for padding. A word the
vocabulary lacks (a new name, a hashtag, a misspelling) still shares n-grams with words it has.

With ``words``, each run of 1 to ``words`` consecutive tokens is hashed into the same buckets
as well (fastText's word n-grams): ``not good`` then counts as a feature of its own, which the
characters of ``not`` and ``good`` apart cannot say. A word n-gram's key starts with a control
character no character n-gram holds, so the two kinds share
buckets only where the hash makes them collide.

Data code only: nothing here knows of the model.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from typing import Sequence

NGRAM_SIZES = (2, 3, 4, 5)
NGRAM_BUCKETS = 1 << 18  # the training default (262,144), the number measured in docs/journal/accuracy.md
_WORD_KEY = "\x01"  # before a word n-gram's tokens; a tokenizer never gives a control character


def token_ngrams(token: str) -> list[str]:
    """The character n-grams (sizes 2 to 5) of ``token`` written between two spaces."""
    padded = f" {token} "
    grams = []
    for n in NGRAM_SIZES:
        if n > len(padded):
            break
        grams += [padded[i : i + n] for i in range(len(padded) - n + 1)]
    return grams


def _bucket(key: str, buckets: int) -> int:
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % buckets + 1


@lru_cache(maxsize=262_144)
def _token_ids(token: str, buckets: int) -> tuple[int, ...]:
    return tuple(_bucket(gram, buckets) for gram in token_ngrams(token))


def ngram_ids(tokens: Sequence[str], buckets: int, words: int = 0) -> list[int]:
    """The hashed n-gram ids (1 to ``buckets``) of every token, in token order, repeats kept, then
    with ``words`` those of every run of 1 to ``words`` tokens; never empty (a text without
    tokens gives ``[0]``, the padding id)."""
    ids: list[int] = []
    for token in tokens:
        ids += _token_ids(token, buckets)
    for n in range(1, words + 1):
        ids += [_bucket(_WORD_KEY + " ".join(tokens[start:start + n]), buckets) for start in range(len(tokens) - n + 1)]
    return ids or [0]
