"""Tokenized splits cached as Arrow tables.

Tokenizing tens of thousands of tweets with spaCy takes seconds; a second run over the same
texts with the same tokenizer settings reads the tokens back from an Arrow table written with
``datasets`` instead. The cache key is a hash of the texts themselves, the tokenizer
settings and the spaCy version, so an edited data file, a changed option or a spaCy upgrade never
reads stale tokens.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from ..cache import limit, touch, trim
from .spacy_rules import spacy_version
from .tokenizer import TokenizerConfig, TweetTokenizer

# Bump when the tokenizer's rules change, so that old cached tokens are not reused.
TOKENIZER_RULES_VERSION = 2  # 2: spaCy's rules applied from a snapshot (hbilstm.data.spacy_rules)


def cache_key(texts: Sequence[str], config: TokenizerConfig) -> str:
    """A hash of the texts, the tokenizer settings, our rules' version and spaCy's version (an
    upgrade of spaCy may change its tokenization rules, and so the tokens)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([TOKENIZER_RULES_VERSION, spacy_version(), config.to_dict()], sort_keys=True).encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


class TokenCache:
    """Tokenizes lists of texts, reading and writing Arrow tables under ``root``.

    ``root=None`` disables caching. ``hits`` and ``misses`` count what each call did.
    """

    def __init__(self, tokenizer: TweetTokenizer, root: Path | None):
        self.tokenizer = tokenizer
        self.root = Path(root) / "tokens" if root is not None else None
        if root is not None:
            limit()  # a bad $HBILSTM_CACHE_LIMIT is reported before any work, not after it
        self.hits = 0
        self.misses = 0

    def tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        if self.root is None:
            self.misses += 1
            return list(self.tokenizer.tokenize_many(texts))
        import datasets

        datasets.disable_progress_bars()
        path = self.root / cache_key(texts, self.tokenizer.config)
        if (path / "dataset_info.json").is_file():
            try:
                tokens = datasets.load_from_disk(str(path))["tokens"]
                if len(tokens) == len(texts):
                    touch(path)  # its last use, for hbilstm cache --older-than
                    self.hits += 1
                    return tokens
            except Exception:  # a damaged cache entry is rebuilt, never trusted
                shutil.rmtree(path, ignore_errors=True)
        self.misses += 1
        tokens = list(self.tokenizer.tokenize_many(texts))
        self._store(path, tokens)
        return tokens

    def _store(self, path: Path, tokens: list[list[str]]) -> None:
        import datasets

        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=".tmp-"))
            table = datasets.Dataset.from_dict(
                {"tokens": tokens},
                features=datasets.Features({"tokens": datasets.Sequence(datasets.Value("string"))}),
            )
            table.save_to_disk(str(tmp))
            os.replace(tmp, path)
            trim(path.parent.parent, path)
        except OSError:
            # An unwritable cache (or one written meanwhile by a parallel run) only costs
            # speed; never fail a run over it.
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
