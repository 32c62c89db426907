"""Hashtags read as the words they are made of: ``#BuildThatWall`` and ``#buildthatwall`` both
become ``build that wall``.

Tweets coin hashtags faster than any vocabulary can follow (TweetEval's test tweets hold three
times as many hashtags per tweet as its train tweets on several tasks), and a hashtag a model has
not seen is one unknown token however plain its words. Splitting one into words is done in two
steps:

1. the body is cut where its letters change case or turn into digits (``NeverTrump`` -> ``Never``,
   ``Trump``; ``SemST`` -> ``Sem``, ``ST``; ``2016election`` -> ``2016``, ``election``), and at
   underscores;
2. each run of letters is split into the sequence of words that is most probable under a unigram
   model of English (a Viterbi search over the cut points): a word's cost is minus the log of
   its frequency in the Google Web Trillion Word Corpus counts that the ``wordsegment`` package
   ships (333,333 words); a word the counts lack costs ten times more for each letter it has, so
   that known words win wherever they fit.

A body with letters outside ASCII is only cut at underscores: the counts are of ASCII words.
The pieces keep the characters they were written with; the tokenizer lowercases them (or not) as
it does every token.

Nothing here knows of the model.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from importlib import resources

# The number of word tokens in the corpus the counts were taken from (Brants and Franz, 2006,
# LDC2006T13: 1,024,908,267,229), which a word's probability is its count's share of.
CORPUS_TOKENS = 1_024_908_267_229
LONGEST_WORD = 24  # letters; a longer run is split, whatever the counts say
_CHUNK = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


@lru_cache(maxsize=1)
def word_costs() -> dict[str, float]:
    """Each word of the counts with its cost, ``-log(count / CORPUS_TOKENS)``; read once per process
    (about 0.5 s and 35 MB)."""
    costs: dict[str, float] = {}
    log_total = math.log(CORPUS_TOKENS)
    text = resources.files("wordsegment").joinpath("unigrams.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        word, _, count = line.partition("\t")
        if word and count:
            costs[word] = log_total - math.log(int(count))
    return costs


# A word no count has: probability 10 / (N * 10 ** length), Norvig's estimate; by length.
_UNKNOWN = [math.log(CORPUS_TOKENS) + (length - 1) * math.log(10) for length in range(LONGEST_WORD + 1)]


def split_words(letters: str, costs: dict[str, float] | None = None) -> list[str]:
    """The most probable split of a run of ASCII letters into words (pieces of ``letters`` as
    written; case is ignored in choosing them)."""
    costs = word_costs() if costs is None else costs
    text = letters.lower()
    n = len(text)
    best = [0.0] + [math.inf] * n
    start_of = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(max(0, end - LONGEST_WORD), end):
            cost = best[start] + costs.get(text[start:end], _UNKNOWN[end - start])
            if cost < best[end]:
                best[end], start_of[end] = cost, start
    words = []
    end = n
    while end > 0:
        start = start_of[end]
        words.append(letters[start:end])
        end = start
    return words[::-1]


def hashtag_words(body: str, costs: dict[str, float] | None = None) -> list[str]:
    """The words of a hashtag's body (the hashtag without its ``#``), in order; empty when it has
    none (``#_``)."""
    parts = [part for part in body.split("_") if part]
    if not body.isascii():
        return parts
    words: list[str] = []
    for part in parts:
        for chunk in _CHUNK.findall(part):
            words.extend([chunk] if chunk.isdigit() else split_words(chunk, costs))
    return words
