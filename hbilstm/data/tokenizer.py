"""A Twitter-aware tokenizer built on spaCy's rule-based English tokenizer.

``spacy.blank("en")`` needs no model download. Its rules are adjusted for tweets:

* a hashtag (``#getin``) and a mention (``@user``) stay one token each: ``#`` and ``@`` are
  removed from the prefixes that spaCy would split off, and a token match keeps them whole;
* URLs (``http://…``, ``https://…``, ``www.…``, ``pic.twitter.com/…``) become one placeholder
  token, :data:`URL_TOKEN`;
* emoticons are kept as one token (spaCy's own list, plus a few Twitter favourites);
* an emoji sequence (skin-tone modifiers, zero-width-joiner sequences, flags) is one token and
  is split from the words it touches;
* HTML entities left by the Twitter API (``&amp;``, ``&lt;3``) are decoded first.

Typographic punctuation can be written in the ASCII forms (``…`` -> ``...``, ``’`` -> ``'``, ``“`` ->
``"``, ``—`` -> ``-``) that most training text uses: TweetEval sentiment's train and val splits hold
no ``…`` at all, its test split 1,343 (``ascii_punctuation``).

Lowercasing, squashing of elongations (``soooo`` -> ``soo``), mapping every mention to
``@user`` (as TweetEval does), reading emoji as the emoticon of their sentiment (``😂`` -> ``:)``,
:mod:`hbilstm.data.emoji_sentiment`) and writing the others as the words of their Unicode names
(``🙄`` -> ``face with rolling eyes``) and reading a hashtag as the words it is made of
(``#BuildThatWall`` -> ``#``, ``build``, ``that``, ``wall``; :mod:`hbilstm.data.hashtags`) are
options, stored with a trained model so prediction tokenizes exactly as training did.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Iterator

from .limits import MAX_PIECE_CHARS, MAX_TEXT_CHARS

URL_TOKEN = "<url>"
USER_TOKEN = "@user"
HASHTAG_TOKEN = "#"  # what a split hashtag starts with, before its words

_URL = re.compile(r"(?i)^(?:https?://|www\.|pic\.twitter\.com/)\S+$")
_HASHTAG_OR_MENTION = re.compile(r"^[#@]\w+$")
_PLAIN = re.compile(r"[A-Za-z]+\Z")  # a piece spaCy's English rules never split (unless a special case)
# Three or more of the same letter become two: "soooo" -> "soo", "gooood" -> "good".
_ELONGATION = re.compile(r"([^\W\d_])\1{2,}")

# Emoji: pictographs plus their modifiers. Written as ranges because Python's `re` has no
# \p{Extended_Pictographic}; the blocks cover the emoji in current Unicode releases.
_PICTO = (
    "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u23cf"
    "\u23e9-\u23f3\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u27bf"
    "\u2934\u2935\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55\u3030\u303d\u3297\u3299"
    "\U0001f000-\U0001f1e5\U0001f200-\U0001f3fa\U0001f400-\U0001faff"
)
_MODIFIER = "\U0001f3fb-\U0001f3ff\ufe0f\u20e3\U000e0020-\U000e007f"
_FLAG = "[\U0001f1e6-\U0001f1ff]{2}"
EMOJI_SEQUENCE = (
    f"(?:{_FLAG}|[{_PICTO}][{_MODIFIER}]*(?:\u200d[{_PICTO}][{_MODIFIER}]*)*)"
)
_EMOJI = re.compile(f"(?:{EMOJI_SEQUENCE})+\\Z")
_PICTOGRAPH = re.compile(f"[{_PICTO}]")

# Typographic punctuation and its ASCII form (ascii_punctuation): ellipsis, quotation marks and
# apostrophes (the curly ones, low-9, reversed, primes and guillemets), hyphens and dashes.
ASCII_PUNCTUATION = str.maketrans({
    "\u2026": "...",
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
})

# Emoticons that spaCy's English exceptions lack but tweets use often.
_EXTRA_EMOTICONS = [
    ";P", ";p", ";-P", ";-p", ":-P", "xD", "XD", "xd", "xP", "XP", ":S", ":s", ":-S",
    "D:", ":@", ":$", ":-$", "\\o/", "<\\3", ":')", ";(", ";-(", ":|", "-.-", "-_-", "o.O",
    "O.o", "O_o", "o_O", "T_T", "T.T", ":-D", ";]", "8)", "8-)", "B)", "B-)",
]
# What our changes to spaCy's rules are made of: the saved snapshot of the rules is named by a
# digest of these (and by spaCy's version), so a change here never reads an old snapshot.
# Bump the first entry when build_spacy_tokenizer changes in a way the others do not show.
RULE_CHANGES = ("1", EMOJI_SEQUENCE, _HASHTAG_OR_MENTION.pattern, *_EXTRA_EMOTICONS)


@dataclass(frozen=True)
class TokenizerConfig:
    """How text becomes tokens. Saved with every model.

    Parameters
    ----------
    lowercase: lowercase every token except the URL placeholder (default True).
    squash_elongations: shorten runs of three or more equal letters to two (default True).
    normalize_mentions: map every ``@name`` to ``@user``, as TweetEval's data already is
        (default True), so that raw tweets look like the training data.
    emoji_names: write each emoji as the lowercased words of its Unicode name (``😭`` ->
        ``loudly crying face``, a flag -> ``flag``; skin tones and joiners dropped), so that a
        model reads emoji through words it knows, even when its training text had none
        (default False: each emoji sequence is one token, as models saved before it had).
    emoji_sentiment: write each emoji that the Emoji Sentiment Ranking finds mostly positive as
        ``:)`` and mostly negative as ``:(`` (hbilstm.data.emoji_sentiment), one emoticon per
        such pictograph of a sequence; the other emoji as ``emoji_names`` says (default False).
    split_hashtags: write each hashtag as ``#`` followed by the words it is made of
        (:mod:`hbilstm.data.hashtags`), so that a hashtag never seen in training is read through
        words that were (default False: each hashtag is one token).
    keep_hashtags: with ``split_hashtags``, the hashtag itself (normalised) comes before its words
        instead of ``#`` (``#maga`` -> ``#maga``, ``maga``), so that a model reads both what a
        hashtag it has seen meant in training and the words of one it has not (default False).
    ascii_punctuation: write typographic punctuation in its ASCII form before tokenizing (``…``
        -> ``...``, curly quotes and apostrophes -> ``"`` and ``'``, dashes -> ``-``;
        :data:`ASCII_PUNCTUATION`), so that "don’t" reads as "don't" (default False).

    The last three are left out of :meth:`to_dict` when false, so that the settings stored before
    they existed, and what was derived from them (cached tokens, digests), stay as they were.
    """

    lowercase: bool = True
    squash_elongations: bool = True
    normalize_mentions: bool = True
    emoji_names: bool = False
    emoji_sentiment: bool = False
    split_hashtags: bool = False
    keep_hashtags: bool = False
    ascii_punctuation: bool = False

    def __post_init__(self) -> None:
        if self.keep_hashtags and not self.split_hashtags:
            raise ValueError("keep_hashtags keeps a hashtag beside its words, so it needs split_hashtags: set "
                             "split_hashtags true, or keep_hashtags false too")

    def to_dict(self) -> dict:
        settings = asdict(self)
        for name in ("split_hashtags", "keep_hashtags", "ascii_punctuation"):
            if not settings[name]:
                del settings[name]
        return settings

    @classmethod
    def of(cls, options: Any) -> "TokenizerConfig":
        """The tokenizer settings of a training or pretraining config: its fields of these names."""
        return cls(**{name: getattr(options, name) for name in cls.__dataclass_fields__})

    @classmethod
    def from_dict(cls, data: dict) -> "TokenizerConfig":
        return cls(**{k: bool(data[k]) for k in cls.__dataclass_fields__ if k in data})


def build_spacy_tokenizer():
    """spaCy's English tokenizer (``spacy.blank("en")``) with the changes above. Only read once per
    spaCy version: :class:`TweetTokenizer` applies a snapshot of its rules (hbilstm.data.spacy_rules)."""
    import spacy
    from spacy.util import (
        compile_infix_regex,
        compile_prefix_regex,
        compile_suffix_regex,
    )

    nlp = spacy.blank("en")
    defaults = nlp.Defaults
    # spaCy would split "#" and "@" off as prefixes, breaking hashtags and mentions apart.
    prefixes = [EMOJI_SEQUENCE] + [p for p in defaults.prefixes if p not in ("#", "@")]
    suffixes = [EMOJI_SEQUENCE] + list(defaults.suffixes)
    infixes = [EMOJI_SEQUENCE] + list(defaults.infixes)

    tokenizer = nlp.tokenizer
    tokenizer.prefix_search = compile_prefix_regex(prefixes).search
    tokenizer.suffix_search = compile_suffix_regex(suffixes).search
    tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    tokenizer.token_match = _HASHTAG_OR_MENTION.match
    for emoticon in _EXTRA_EMOTICONS:
        tokenizer.add_special_case(emoticon, [{"ORTH": emoticon}])
    return tokenizer


class TweetTokenizer:
    """Turns tweets into lists of token strings.

    >>> TweetTokenizer().tokenize("Soooo happy #win @bob :) http://t.co/x")
    ['soo', 'happy', '#win', '@user', ':)', '<url>']
    """

    # Normalised forms are remembered: tweets repeat the same tokens endlessly, and the regular
    # expressions below cost more than a dictionary lookup. The memo is cleared when it grows large,
    # and holds no long strings (which seldom repeat), so that its memory stays small.
    MEMO_LIMIT = 500_000
    MEMO_CHARS = 40

    def __init__(self, config: TokenizerConfig | None = None):
        from .spacy_rules import AffixTokenizer, load_rules

        self.config = config or TokenizerConfig()
        self._affixes = AffixTokenizer(load_rules(build_spacy_tokenizer, RULE_CHANGES))
        self._memo: dict[str, str] = {}
        self._pieces: dict[str, list[str]] = {}
        self._emoticons: dict[str, str] = {}
        if self.config.emoji_sentiment:
            from .emoji_sentiment import emoji_emoticons

            self._emoticons = emoji_emoticons()
        self._read_emoji = self.config.emoji_names or self.config.emoji_sentiment
        self._split_hashtags = self.config.split_hashtags
        self._punctuation = ASCII_PUNCTUATION if self.config.ascii_punctuation else None

    def _normalise(self, token: str) -> str:
        try:
            return self._memo[token]
        except KeyError:
            pass
        if len(token) > self.MEMO_CHARS:
            return self._normalise_uncached(token)
        if len(self._memo) >= self.MEMO_LIMIT:
            self._memo.clear()
        result = self._memo[token] = self._normalise_uncached(token)
        return result

    def _normalise_uncached(self, token: str) -> str:
        if _URL.match(token):
            return URL_TOKEN
        config = self.config
        if config.normalize_mentions and token.startswith("@") and len(token) > 1:
            return USER_TOKEN
        if config.squash_elongations:
            token = _ELONGATION.sub(r"\1\1", token)
        if config.lowercase:
            token = token.lower()
        return token

    def tokenize(self, text: str) -> list[str]:
        return next(self.tokenize_many([text]))

    def tokenize_many(self, texts: Iterable[str], batch_size: int = 1000, limit: int | None = None
                      ) -> Iterator[list[str]]:
        """Tokenize a stream of texts lazily, one token list per text, in order.

        spaCy splits a text at whitespace and then tokenizes each piece on its own; so do we, with
        spaCy's rules (:mod:`hbilstm.data.spacy_rules`, which never imports spaCy once its rules are
        saved), and each piece is tokenized once per process and remembered. A piece of ASCII
        letters only, or a whole hashtag or mention, that is not one of spaCy's special cases
        ("gonna", "cannot") is one token under those rules and skips them altogether: most pieces
        of a tweet are such words. The tests check that the tokens are spaCy's, on real tweets.

        Only the first :data:`~hbilstm.data.limits.MAX_TEXT_CHARS` characters of a text are read,
        and a piece longer than :data:`~hbilstm.data.limits.MAX_PIECE_CHARS` is split into pieces of
        that length first (guards of memory and time, far above any tweet). ``limit``: stop reading
        a text once it has given more than ``limit`` tokens (a caller that keeps ``limit`` tokens
        still sees that there were more).
        """
        del batch_size  # kept for callers; pieces are now tokenized one by one, and remembered
        pieces, normalise = self._pieces, self._normalise
        special = self._affixes.specials  # spaCy's special cases ("gonna" -> "gon", "na")
        most = float("inf") if limit is None else limit
        punctuation = self._punctuation
        for text in texts:
            tokens: list[str] = []
            text = html.unescape(text[:MAX_TEXT_CHARS])
            if punctuation is not None:
                text = text.translate(punctuation)
            for piece in text.split():
                if (_PLAIN.match(piece) or _HASHTAG_OR_MENTION.match(piece)) and piece not in special:
                    if self._split_hashtags and piece[0] == "#":
                        tokens.extend(self._hashtag_tokens(piece))
                    else:
                        tokens.append(normalise(piece))
                else:
                    known = pieces.get(piece)
                    tokens.extend(known if known is not None else self._new_piece(piece, most - len(tokens)))
                if len(tokens) > most:
                    break
            yield tokens

    def _new_piece(self, piece: str, room: float) -> list[str]:
        """The tokens of a piece not seen before: remembered when it is short; a piece longer than
        MAX_PIECE_CHARS is tokenized in pieces of that length, until it has given more than ``room``
        tokens."""
        if len(piece) > MAX_PIECE_CHARS:
            tokens: list[str] = []
            for start in range(0, len(piece), MAX_PIECE_CHARS):
                tokens.extend(self._piece_tokens(piece[start:start + MAX_PIECE_CHARS]))
                if len(tokens) > room:
                    break
            return tokens
        tokens = self._piece_tokens(piece)
        if len(piece) <= self.MEMO_CHARS:
            if len(self._pieces) >= self.MEMO_LIMIT:
                self._pieces.clear()
            self._pieces[piece] = tokens
        return tokens

    def _piece_tokens(self, piece: str) -> list[str]:
        """The tokens of one whitespace-free piece, by spaCy's rules (adjusted as above)."""
        tokens = []
        for token in self._affixes(piece):
            if self._read_emoji and _EMOJI.match(token):
                tokens.extend(self._emoji_tokens(token))
            elif self._split_hashtags and token[0] == "#" and _HASHTAG_OR_MENTION.match(token):
                tokens.extend(self._hashtag_tokens(token))
            else:
                tokens.append(self._normalise(token))
        return tokens

    def _hashtag_tokens(self, hashtag: str) -> list[str]:
        """``#`` (or the hashtag, with ``keep_hashtags``) and the words of a hashtag, each normalised
        as any token is (remembered, as pieces are); the hashtag alone when its body has no word
        (``#_``)."""
        known = self._pieces.get(hashtag)
        if known is not None:
            return known
        from .hashtags import hashtag_words

        body = _ELONGATION.sub(r"\1\1", hashtag[1:]) if self.config.squash_elongations else hashtag[1:]
        words = hashtag_words(body)
        head = self._normalise(hashtag) if self.config.keep_hashtags else HASHTAG_TOKEN
        tokens = [head, *map(self._normalise, words)] if words else [self._normalise(hashtag)]
        if len(hashtag) <= self.MEMO_CHARS:
            if len(self._pieces) >= self.MEMO_LIMIT:
                self._pieces.clear()
            self._pieces[hashtag] = tokens
        return tokens

    def _emoji_tokens(self, sequence: str) -> list[str]:
        faces = [self._emoticons[char] for char in _PICTOGRAPH.findall(sequence) if char in self._emoticons]
        if faces:
            return faces
        return emoji_words(sequence) if self.config.emoji_names else [self._normalise(sequence)]


def emoji_words(sequence: str) -> list[str]:
    """The words of the Unicode names of the pictographs in an emoji sequence, lowercased; a flag
    (a pair of regional indicator letters) is ``flag``."""
    if "\U0001f1e6" <= sequence[0] <= "\U0001f1ff":
        return ["flag"] * (len(sequence) // 2)
    words = []
    for char in _PICTOGRAPH.findall(sequence):
        words.extend(unicodedata.name(char, "").lower().replace("-", " ").split())
    return words
