"""Per-token sentiment priors from a lexicon, as extra input features (``lexicon: vader``).

VADER's lexicon (Hutto and Gilbert, 2014; the ``vaderSentiment`` package, MIT licence) rates
about 7,500 words, emoticons and slang terms from -4 to +4. Each vocabulary token gets two
features: its valence scaled to [-1, 1], and 1 when the lexicon has it (0 and 0 when it has
not). A token is looked up as it is, lowercased, and (a hashtag) without its ``#``.
Knows nothing of the model: it returns plain lists, one row per token.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import ConfigError
from .spellings import spellings

LEXICONS = ("none", "vader")
FEATURES = {"vader": 2}


def _vader_file() -> Path:
    spec = importlib.util.find_spec("vaderSentiment")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError('lexicon: vader needs the vaderSentiment package (MIT licence): pip install '
                          '"hbilstm[lexicon]"')
    return Path(next(iter(spec.submodule_search_locations))) / "vader_lexicon.txt"


def read_vader() -> dict[str, float]:
    """VADER's lexicon: term -> mean valence (-4 to +4)."""
    valences = {}
    with open(_vader_file(), encoding="utf-8", errors="replace") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2:
                try:
                    valences[parts[0]] = float(parts[1])
                except ValueError:
                    continue
    return valences


def lexicon_features(name: str, tokens: list[str]) -> tuple[list[list[float]], int]:
    """One feature row per token of ``tokens`` and how many tokens the lexicon rates."""
    if name not in FEATURES:
        raise ConfigError(f"lexicon must be one of {', '.join(LEXICONS)}, not {name!r}")
    valences = read_vader()
    rows, found = [], 0
    for token in tokens:
        value = next((valences[c] for c in spellings(token) if c in valences), None)
        if value is None:
            rows.append([0.0, 0.0])
        else:
            rows.append([value / 4.0, 1.0])
            found += 1
    return rows, found
