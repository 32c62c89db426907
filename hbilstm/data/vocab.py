"""Vocabulary: token strings <-> integer ids, built from the training split only."""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1


def spellings(token: str) -> list[str]:
    """The strings to look a token up by in a table of words (vectors, a lexicon), most exact
    first: as it is, lowercased, and for a hashtag the same without its ``#``."""
    found = [token, token.lower()]
    if token.startswith("#") and len(token) > 1:
        found += [token[1:], token[1:].lower()]
    return found


class Vocabulary:
    """A fixed list of tokens; ``<pad>`` is id 0 and ``<unk>`` id 1.

    Build it with :meth:`build` from the training token lists; save it as the plain list
    :attr:`tokens` (the checkpoint does) and rebuild it with ``Vocabulary(tokens)``.
    """

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if tokens[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD!r} and {UNK!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("a vocabulary holds each token once")
        self.tokens = tokens
        self._index = {token: i for i, token in enumerate(tokens)}

    @classmethod
    def build(
        cls, token_lists: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None
    ) -> "Vocabulary":
        """Count tokens; keep those seen at least ``min_freq`` times, most frequent first.

        Ties are broken alphabetically so that the same data always gives the same ids.
        ``max_size`` counts the two special tokens.
        """
        counts = Counter(token for tokens in token_lists for token in tokens)
        counts.pop(PAD, None)
        counts.pop(UNK, None)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - 2)]
        return cls([PAD, UNK, *ranked])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._index

    def id(self, token: str) -> int:
        return self._index.get(token, UNK_ID)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        index = self._index
        return [index.get(token, UNK_ID) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in ids]
