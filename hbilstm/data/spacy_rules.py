"""spaCy's rule-based tokenizer, run from a snapshot of its rules without importing spaCy.

Importing spaCy costs about a second on a small machine (its package imports its command line,
and thinc imports torch), and building its English tokenizer a few tenths more: most of the
time ``hbilstm predict`` needs for a small file. The rules themselves are plain data: three
regular expressions (prefixes, suffixes, infixes), the URL pattern and the special cases
("don't" -> "do", "n't"). So the first time a process needs them, they are read from spaCy (with
our changes for tweets, :func:`hbilstm.data.tokenizer.build_spacy_tokenizer`) and saved as JSON
in the cache folder, under a name holding spaCy's version and a digest of our changes; later
processes read that file instead. :class:`AffixTokenizer` then applies the rules to one
whitespace-free piece of text the way spaCy's ``Tokenizer`` does (``spacy/tokenizer.pyx``):

1. a piece that is a special case becomes its tokens;
2. otherwise prefixes and suffixes are split off, one of each per round, until none is left, the
   rest matches the token pattern, or the rest (or the rest without the new affix) is a special
   case;
3. what remains is a special case, one token (token or URL pattern), or is cut at its infixes;
4. finally, special cases that the affix rules split apart ("'s" -> "'", "s", or an emoticon that
   holds punctuation) are joined again where their pieces occur, longest first.

The tests compare the result with spaCy's on every distinct piece of the tweets in the data.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
from pathlib import Path
from typing import Callable, Iterable

from ..cache import touch
from ..fileio import atomic_open, default_cache_dir

SNAPSHOT_FORMAT = 1
_PATTERNS = ("prefix", "suffix", "infix", "url", "token")


def spacy_version() -> str:
    """The installed spaCy's version, read from its package metadata (no import)."""
    try:
        return importlib.metadata.version("spacy")
    except importlib.metadata.PackageNotFoundError:
        return "none"


def snapshot_from_spacy(tokenizer) -> dict:
    """The rules of a spaCy ``Tokenizer`` as plain data (patterns, their flags, special cases)."""
    functions = {"prefix": tokenizer.prefix_search, "suffix": tokenizer.suffix_search,
                 "infix": tokenizer.infix_finditer, "url": tokenizer.url_match, "token": tokenizer.token_match}
    snapshot: dict = {"format": SNAPSHOT_FORMAT, "spacy": spacy_version()}
    for name, function in functions.items():
        pattern = getattr(function, "__self__", None)
        if function is not None and not isinstance(pattern, re.Pattern):
            raise TypeError(f"the tokenizer's {name} rule is not a compiled regular expression")
        snapshot[name] = None if function is None else [pattern.pattern, pattern.flags]
    snapshot["specials"] = {text: [piece[65] if 65 in piece else piece["ORTH"] for piece in pieces]
                            for text, pieces in tokenizer.rules.items()}  # 65: spaCy's ORTH attribute
    return snapshot


def load_rules(build: Callable[[], object], changes: Iterable[str], cache_dir: Path | None = None) -> dict:
    """The snapshot of the rules of ``build()`` (a spaCy tokenizer), read from the cache when an
    earlier process saved it for this spaCy version and these ``changes`` (strings that describe
    our changes to spaCy's rules: a new value gives a new file). A cache that cannot be read or
    written only costs time: the rules then come from spaCy."""
    digest = hashlib.sha256(json.dumps([SNAPSHOT_FORMAT, *changes]).encode("utf-8")).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = root / "tokenizer" / f"spacy-{spacy_version()}-{digest}.json"
    try:
        snapshot = json.loads(path.read_text(encoding="utf-8"))
        if _well_formed(snapshot):
            touch(path)  # its last use, for hbilstm cache --older-than
            return snapshot
    except (OSError, ValueError):
        pass
    snapshot = snapshot_from_spacy(build())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "w", encoding="utf-8") as handle:
            json.dump(snapshot, handle, ensure_ascii=False)
    except OSError:
        pass
    return snapshot


def _well_formed(snapshot) -> bool:
    """Whether a snapshot read back from a file has the shape :func:`snapshot_from_spacy` gives."""
    if not isinstance(snapshot, dict) or snapshot.get("format") != SNAPSHOT_FORMAT:
        return False
    for name in _PATTERNS:
        entry = snapshot.get(name, 0)
        if entry is not None and not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                                      and isinstance(entry[1], int)):
            return False
    specials = snapshot.get("specials")
    return isinstance(specials, dict) and all(
        isinstance(pieces, list) and pieces and all(isinstance(p, str) for p in pieces) for pieces in specials.values())


class AffixTokenizer:
    """Splits one whitespace-free piece of text into tokens by a rules snapshot, as spaCy would.

    ``AffixTokenizer(snapshot)("(don't!")`` -> ``["(", "do", "n't", "!"]``.

    Suffixes are searched for in the last :attr:`SUFFIX_WINDOW` characters of what remains, not in
    all of it: spaCy's search over the whole piece costs time in the square of its length (ten
    seconds for 10,000 "!"), and no suffix rule matches anything near that long except a run of
    one character, which then comes off in window-sized tokens instead of as one. (Tweets'
    pieces are far shorter: :mod:`hbilstm.data.limits` cuts longer ones to 128 characters.)
    """

    SUFFIX_WINDOW = 100

    def __init__(self, snapshot: dict):
        def compiled(name):
            entry = snapshot[name]
            return None if entry is None else re.compile(entry[0], entry[1])

        prefix, suffix, infix, url, token = (compiled(name) for name in _PATTERNS)
        never = re.compile(r"(?!)")
        self._prefix = (prefix or never).search
        self._suffix = (suffix or never).search
        self._infixes = (infix or never).finditer
        self._url = (url or never).match
        self._token = (token or never).match
        self.specials: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in snapshot["specials"].items()}
        # Special cases that the affix rules would split: after splitting, their pieces are joined
        # again (spaCy's phrase matcher over the tokens). Indexed by their first piece.
        self._rejoin: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for text in sorted(self.specials):
            if any(c.isspace() for c in text):
                continue  # cannot occur inside a whitespace-free piece
            if self._affix_length(self._prefix, text) or self._affix_length(self._suffix, text) \
                    or any(True for _ in self._infixes(text)):
                pieces = tuple(self._split(text, specials=False))
                self._rejoin.setdefault(pieces[0], []).append((pieces, text))

    @staticmethod
    def _affix_length(search, text: str) -> int:
        match = search(text)
        return 0 if match is None else match.end() - match.start()

    def __call__(self, piece: str) -> list[str]:
        if piece in self.specials:
            return list(self.specials[piece])
        tokens = self._split(piece, specials=True)
        return self._join_specials(tokens) if self._rejoin else tokens

    def _split(self, text: str, specials: bool) -> list[str]:
        special = self.specials if specials else {}
        prefixes: list[str] = []
        suffixes: list[str] = []
        last = -1
        while text and len(text) != last:
            if self._token(text) or text in special:
                break
            last = len(text)
            front = self._affix_length(self._prefix, text)
            if front and text[front:] and text[front:] in special:
                prefixes.append(text[:front])
                text = text[front:]
                break
            back = self._affix_length(self._suffix, text[max(front, len(text) - self.SUFFIX_WINDOW):])
            if back and text[:-back] and text[:-back] in special:
                suffixes.append(text[-back:])
                text = text[:-back]
                break
            if front:
                prefixes.append(text[:front])
            if back:
                suffixes.append(text[-back:])
            text = text[front:len(text) - back]
        tokens = prefixes
        if text:
            if text in special:
                tokens.extend(special[text])
            elif self._token(text) or self._url(text):
                tokens.append(text)
            else:
                tokens.extend(self._cut_at_infixes(text))
        tokens.extend(reversed(suffixes))
        return tokens

    def _cut_at_infixes(self, text: str) -> list[str]:
        out: list[str] = []
        start = 0
        for match in self._infixes(text):
            begin, end = match.span()
            if begin == 0:
                continue  # an infix at the very start is not cut off
            if begin != start:
                out.append(text[start:begin])
            if begin != end:
                out.append(text[begin:end])
            start = end
        if start < len(text):
            out.append(text[start:])
        return out

    def _join_specials(self, tokens: list[str]) -> list[str]:
        found = []
        for i, token in enumerate(tokens):
            for pieces, text in self._rejoin.get(token, ()):
                if tuple(tokens[i:i + len(pieces)]) == pieces:
                    found.append((len(pieces), i, text))
        if not found:
            return tokens
        # As spaCy: longest first (of equal length, the earlier first); a match is kept when its
        # first and last pieces are not already part of a kept one.
        taken: set[int] = set()
        kept = []
        for length, start, text in sorted(found, key=lambda match: (-match[0], match[1])):
            if start not in taken and start + length - 1 not in taken:
                kept.append((start, length, text))
            taken.update(range(start, start + length))
        out: list[str] = []
        position = 0
        for start, length, text in sorted(kept):
            out.extend(tokens[position:start])
            out.extend(self.specials[text])
            position = start + length
        out.extend(tokens[position:])
        return out

