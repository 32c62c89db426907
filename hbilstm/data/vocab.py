"""Vocabulary: token strings <-> integer ids, built from the training split only."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:
    from .fallback import WordFallback

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1


class Vocabulary:
    """A fixed list of tokens; ``<pad>`` is id 0 and ``<unk>`` id 1.

    Build it with :meth:`build` from the training token lists; save it as the plain list
    :attr:`tokens` (the checkpoint does) and rebuild it with ``Vocabulary(tokens)``. With a
    ``fallback`` (:mod:`hbilstm.data.fallback`), :meth:`encode` reads a token the list lacks as
    the id the fallback gives it, and as ``<unk>`` only when it gives none.
    """

    def __init__(self, tokens: Sequence[str], fallback: "WordFallback | None" = None):
        tokens = list(tokens)
        if tokens[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD!r} and {UNK!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("a vocabulary holds each token once")
        self.tokens = tokens
        self._index = {token: i for i, token in enumerate(tokens)}
        if (
            fallback is not None
            and len(fallback)
            and not 0 <= int(fallback.ids.min()) <= int(fallback.ids.max()) < len(tokens)
        ):
            raise ValueError("the word fallback names ids the vocabulary does not have")
        self.fallback = fallback

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

    @classmethod
    def merged(cls, first: "Vocabulary", second: "Vocabulary", max_size: int | None = None) -> "Vocabulary":
        """``first``'s tokens in their order (all of them, whatever ``max_size``), then those of
        ``second`` that ``first`` lacks, in ``second``'s order, up to ``max_size`` entries in all:
        how a task's vocabulary joins a pretrained encoder's (``hbilstm train --init``)."""
        room = len(second) if max_size is None else max(0, max_size - len(first))
        new = [t for t in second.tokens[2:] if t not in first][:room]
        return cls([*first.tokens, *new])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._index

    def id(self, token: str) -> int:
        """The id of ``token`` in the list itself (``<unk>``'s if absent; no fallback)."""
        return self._index.get(token, UNK_ID)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        index = self._index
        if self.fallback is None:
            return [index.get(token, UNK_ID) for token in tokens]
        return [found if (found := index.get(token)) is not None else self._fall_back(token) for token in tokens]

    def _fall_back(self, token: str) -> int:
        found = self.fallback.id(token)
        return UNK_ID if found is None else found

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in ids]
