"""A tweet as a bag of hashed character n-grams, the words' spellings the vocabulary never sees.

Each token is written between two spaces and cut into every run of 2 to 5 characters
(``" good "`` gives ``" g"``, ``"go"``, ... ``"ood "``, ``" go"``, ... ``" good"``, ``"good "``),
the same n-grams scikit-learn's ``char_wb`` analyzer takes from a word; a token of one character
adds only ``" x "``. Each n-gram is hashed (CRC-32 of its UTF-8 bytes, stable across processes and
machines) into one of ``buckets`` ids, 1 to ``buckets``; 0 is left free for padding. A word the
vocabulary lacks (a new name, a hashtag, a misspelling) still shares n-grams with words it has.

Data code only: nothing here knows of the model.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from typing import Sequence

NGRAM_SIZES = (2, 3, 4, 5)
NGRAM_BUCKETS = 1 << 18  # the training default (262,144), the number measured in docs/journal/accuracy.md


def token_ngrams(token: str) -> list[str]:
    """The character n-grams (sizes 2 to 5) of ``token`` written between two spaces."""
    padded = f" {token} "
    grams = []
    for n in NGRAM_SIZES:
        if n > len(padded):
            break
        grams += [padded[i : i + n] for i in range(len(padded) - n + 1)]
    return grams


@lru_cache(maxsize=262_144)
def _token_ids(token: str, buckets: int) -> tuple[int, ...]:
    return tuple(zlib.crc32(gram.encode("utf-8", "surrogatepass")) % buckets + 1 for gram in token_ngrams(token))


def ngram_ids(tokens: Sequence[str], buckets: int) -> list[int]:
    """The hashed n-gram ids (1 to ``buckets``) of every token, in token order, repeats kept;
    never empty (a text without tokens gives ``[0]``, the padding id)."""
    ids: list[int] = []
    for token in tokens:
        ids += _token_ids(token, buckets)
    return ids or [0]
