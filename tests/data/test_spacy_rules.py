"""spaCy's tokenizer rules applied without spaCy (hbilstm.data.spacy_rules)."""

from __future__ import annotations

import html
import json
import os
import random
import subprocess
import sys

import pytest
from conftest import SEMEVAL, TWEETEVAL

from hbilstm.data.spacy_rules import AffixTokenizer, load_rules, snapshot_from_spacy
from hbilstm.data.tokenizer import RULE_CHANGES, build_spacy_tokenizer


@pytest.fixture(scope="module")
def spacy_tokenizer():
    return build_spacy_tokenizer()


@pytest.fixture(scope="module")
def affixes(spacy_tokenizer):
    return AffixTokenizer(snapshot_from_spacy(spacy_tokenizer))


def _spacy_tokens(tokenizer, piece: str) -> list[str]:
    return [token.text for token in tokenizer(piece)]


def test_every_piece_of_real_tweets_and_texts_splits_as_spacy_splits_it(spacy_tokenizer, affixes):
    pieces: set[str] = set()
    for path, limit in ((TWEETEVAL / "test_text.txt", None), (TWEETEVAL / "val_text.txt", None),
                        (TWEETEVAL / "train_text.txt", 15_000), (SEMEVAL / "sms-2013test-A.tsv", None),
                        (SEMEVAL / "livejournal-2014test-A.tsv", None)):
        text = "\n".join(path.read_text(encoding="utf-8").splitlines()[:limit])
        pieces.update(text.split())
        pieces.update(html.unescape(text).split())
    pieces.update(s for s in spacy_tokenizer.rules if not any(c.isspace() for c in s))  # every special case
    assert len(pieces) > 60_000
    differ = [p for p in sorted(pieces) if affixes(p) != _spacy_tokens(spacy_tokenizer, p)]
    assert differ == []
    # the check exercises every step: prefixes, suffixes, infixes, URLs and special cases rejoined
    assert affixes("(don't!") == ["(", "do", "n't", "!"]
    assert affixes("well-known,") == ["well", "-", "known", ","]
    assert affixes("he's") == ["he", "'s"]


def test_random_pieces_of_punctuation_letters_emoji_and_special_cases_split_as_spacy_splits_them(
        spacy_tokenizer, affixes):
    rng = random.Random(7)
    specials = sorted(s for s in spacy_tokenizer.rules if not any(c.isspace() for c in s))
    alphabet = list("aZ09.,;:!?'\"()[]<>-_/\\@#$%&*+=~|…“”‘’°€") + [
        "😂", "🏽", "\u200d", "❤", "\ufe0f", "🇺🇸", "é", "\u0301", "中", "'s", "n't", "http://t.co/a", "www.a.b",
        ":)", ":-(", "<3", "...", "--", "U.S.", "e.g.", "can't", "gonna"]
    differ = []
    for _ in range(30_000):
        piece = "".join(rng.choice(alphabet) if rng.random() < 0.8 else rng.choice(specials)
                        for _ in range(rng.randint(1, 8)))
        if affixes(piece) != _spacy_tokens(spacy_tokenizer, piece):
            differ.append(piece)
    assert differ == []


def test_the_snapshot_is_saved_once_and_read_back_without_building(tmp_path):
    built = []

    def build():
        built.append(1)
        return build_spacy_tokenizer()

    first = load_rules(build, RULE_CHANGES, cache_dir=tmp_path)
    [saved] = (tmp_path / "tokenizer").iterdir()
    assert built == [1] and saved.name.startswith("spacy-")

    def refuse():
        raise AssertionError("the saved snapshot should have been read")

    assert load_rules(refuse, RULE_CHANGES, cache_dir=tmp_path) == first
    # other changes to the rules name another file
    load_rules(build, (*RULE_CHANGES, "another rule"), cache_dir=tmp_path)
    assert built == [1, 1] and len(list((tmp_path / "tokenizer").iterdir())) == 2
    # a damaged file, or one of another shape, is rebuilt, not trusted
    saved.write_text('{"format": 1, "prefix": ', encoding="utf-8")
    assert load_rules(build, RULE_CHANGES, cache_dir=tmp_path) == first
    assert built == [1, 1, 1] and json.loads(saved.read_text(encoding="utf-8")) == first
    saved.write_text(json.dumps({**first, "specials": {"don't": "do n't"}}), encoding="utf-8")
    assert load_rules(build, RULE_CHANGES, cache_dir=tmp_path) == first
    assert built == [1, 1, 1, 1]


def test_an_unwritable_cache_still_gives_the_rules(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    snapshot = load_rules(build_spacy_tokenizer, RULE_CHANGES, cache_dir=blocked)
    assert "n't" in snapshot["specials"]["don't"]


def test_a_process_with_saved_rules_tokenizes_without_importing_spacy_or_torch(tmp_path):
    env = {**os.environ, "HBILSTM_CACHE_DIR": str(tmp_path)}
    code = ("import sys\nfrom hbilstm.data.tokenizer import TweetTokenizer\n"
            "print(TweetTokenizer().tokenize(\"Can't wait :) (e.g. #win) @bob http://t.co/x\"))\n"
            "print(sorted(m for m in ('spacy', 'torch', 'thinc') if m in sys.modules))\n")
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            for _ in range(2)]
    first, second = (run.stdout.splitlines() for run in runs)
    assert first[0] == second[0] == str(["ca", "n't", "wait", ":)", "(", "e.g.", "#win", ")", "@user", "<url>"])
    assert first[1] != "[]"  # the first process read the rules from spaCy
    assert second[1] == "[]"  # the second read them from the cache


def test_other_rule_sets_split_as_spacy_splits_them_too():
    """Rules unlike English's: an infix at a piece's start (not cut off), an empty infix match,
    a missing URL rule, a special case made only of affixes."""
    import re

    import spacy
    from spacy.tokenizer import Tokenizer

    nlp = spacy.blank("xx")
    rules = {"--": [{"ORTH": "-"}, {"ORTH": "-"}], "x-y": [{"ORTH": "x-y"}], "^^": [{"ORTH": "^^"}]}
    tokenizer = Tokenizer(nlp.vocab, rules=rules, prefix_search=re.compile(r"^[\^(]").search,
                          suffix_search=re.compile(r"[)!]$").search,
                          infix_finditer=re.compile(r"-|(?<=[0-9])(?=[a-z])").finditer)
    affixes = AffixTokenizer(snapshot_from_spacy(tokenizer))
    pieces = ["-a-b", "a-b-", "(x-y)!", "12ab", "^^", "(^^)", "--", "(--)", "a--b", "x-y-z", "(((", "!!!", "-"]
    for piece in pieces:
        assert affixes(piece) == _spacy_tokens(tokenizer, piece), piece
    assert affixes("-a-b") == ["-a", "-", "b"]
