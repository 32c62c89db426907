"""Hashtags read as words (hbilstm.data.hashtags, the tokenizer's ``split_hashtags``): the search on
hand-made costs, the cuts at case, digits and underscores, the real counts on real hashtags, and a
model that keeps the setting from training to prediction."""

import math

import numpy as np
import pytest
from conftest import tiny_model_both_ways

from hbilstm.data.hashtags import LONGEST_WORD, hashtag_words, split_words, word_costs
from hbilstm.data.tokenizer import HASHTAG_TOKEN, TokenizerConfig, TweetTokenizer


def test_the_search_takes_the_cheapest_sequence_of_words():
    # "nowhere" as one word costs 3, as "now" + "here" 2 + 2 = 4: one word wins; at 5 it loses.
    assert split_words("nowhere", {"now": 2.0, "here": 2.0, "nowhere": 3.0}) == ["nowhere"]
    assert split_words("nowhere", {"now": 2.0, "here": 2.0, "nowhere": 5.0}) == ["now", "here"]
    # pieces keep their case; the costs are looked up lowercased
    assert split_words("NowHere", {"now": 2.0, "here": 2.0}) == ["Now", "Here"]


def test_letters_no_count_knows_stay_one_word_and_known_words_around_them_are_cut_out():
    # an unknown word costs ten times more per letter, so four unknown letters are one word, not four
    assert split_words("xqzv", {}) == ["xqzv"]
    assert split_words("xqzvlove", {"love": 5.0}) == ["xqzv", "love"]
    # a run longer than any word is still split, into pieces of at most LONGEST_WORD letters
    assert all(len(w) <= LONGEST_WORD for w in split_words("q" * 60, {}))
    assert "".join(split_words("q" * 60, {})) == "q" * 60


def test_a_body_is_cut_at_case_changes_digits_and_underscores_before_the_search():
    costs = {}  # no counts: only the cuts split anything
    assert hashtag_words("NeverTrump", costs) == ["Never", "Trump"]
    assert hashtag_words("SemST", costs) == ["Sem", "ST"]
    assert hashtag_words("HTMLParser", costs) == ["HTML", "Parser"]
    assert hashtag_words("Trump2016", costs) == ["Trump", "2016"]
    assert hashtag_words("no_way__back", costs) == ["no", "way", "back"]
    assert hashtag_words("café_olé", costs) == ["café", "olé"]  # not ASCII: cut at underscores only
    assert hashtag_words("_", costs) == []


def test_the_counts_split_real_hashtags_as_a_reader_would():
    costs = word_costs()
    assert len(costs) > 300_000 and costs["the"] < costs["wall"] < costs["supremacists"]
    assert all(math.isfinite(c) and c > 0 for c in list(costs.values())[:1000])
    assert hashtag_words("buildthatwall") == ["build", "that", "wall"]
    assert hashtag_words("feminismiscancer") == ["feminism", "is", "cancer"]
    assert hashtag_words("climatechange") == ["climate", "change"]
    assert hashtag_words("2016election") == ["2016", "election"]
    assert hashtag_words("sarcasm") == ["sarcasm"]


def test_the_tokenizer_writes_a_hashtag_as_its_marker_and_words_when_asked():
    split = TweetTokenizer(TokenizerConfig(split_hashtags=True))
    assert split.tokenize("Soooo true #BuildThatWall! now #maga @bob") == [
        "soo", "true", HASHTAG_TOKEN, "build", "that", "wall", "!", "now", HASHTAG_TOKEN, "maga", "@user"]
    assert split.tokenize("#Sooooohappy x #_") == [HASHTAG_TOKEN, "soo", "happy", "x", "#_"]
    raw = TweetTokenizer(TokenizerConfig(lowercase=False, squash_elongations=False, split_hashtags=True))
    assert raw.tokenize("#NeverTrump.") == [HASHTAG_TOKEN, "Never", "Trump", "."]
    assert TweetTokenizer().tokenize("#BuildThatWall!") == ["#buildthatwall", "!"]  # off by default
    # the second reading of a hashtag is the remembered one, and the same
    assert split.tokenize("#BuildThatWall") == split.tokenize("#BuildThatWall") == [
        HASHTAG_TOKEN, "build", "that", "wall"]


def test_keep_hashtags_puts_the_hashtag_itself_before_its_words():
    both = TweetTokenizer(TokenizerConfig(split_hashtags=True, keep_hashtags=True))
    assert both.tokenize("#BuildThatWall! now #maga #_") == [
        "#buildthatwall", "build", "that", "wall", "!", "now", "#maga", "maga", "#_"]
    with pytest.raises(ValueError, match="needs split_hashtags"):
        TokenizerConfig(keep_hashtags=True)
    from hbilstm.config import TrainConfig
    from hbilstm.errors import ConfigError
    from hbilstm.pretraining.config import PretrainConfig

    for kind in (TrainConfig, PretrainConfig):
        with pytest.raises(ConfigError, match="set split_hashtags true, or keep_hashtags false too"):
            kind(keep_hashtags=True)


def test_the_settings_are_stored_only_when_on_so_older_settings_read_the_same():
    assert not {"split_hashtags", "keep_hashtags"} & set(TokenizerConfig().to_dict())
    for on in (TokenizerConfig(split_hashtags=True), TokenizerConfig(split_hashtags=True, keep_hashtags=True)):
        assert on.to_dict()["split_hashtags"] is True
        assert TokenizerConfig.from_dict(on.to_dict()) == on
    assert "keep_hashtags" not in TokenizerConfig(split_hashtags=True).to_dict()
    assert TokenizerConfig.from_dict(TokenizerConfig().to_dict()) == TokenizerConfig()


def _plain_hashtags(tokens) -> list[str]:
    return [t for t in tokens if t.startswith("#") and t[1:].isascii() and t[1:].isalpha()]


@pytest.mark.slow
def test_a_model_trained_with_split_hashtags_predicts_with_them(tmp_path, data_dir, trained_run):
    import hbilstm

    eager, graph = tiny_model_both_ways(tmp_path / "run", data_dir, split_hashtags=True)
    assert eager.config["tokenizer"]["split_hashtags"] is True and graph.backend == "onnx"
    # the vocabulary was built from split hashtags: the marker, and none of the hashtags whole that
    # the same slice gives a model trained without the setting
    vocab = eager.model.vocab.tokens
    assert HASHTAG_TOKEN in vocab and not _plain_hashtags(vocab)
    assert _plain_hashtags(hbilstm.load(trained_run, backend="torch", device="cpu").model.vocab.tokens)
    texts = ["#NeverTrump again", "never trump again", "#love it #happy", "love it happy"]
    assert np.allclose(graph.predict_proba(texts), eager.predict_proba(texts), atol=1e-4)
    tokenizer = TweetTokenizer(eager.model.tokenizer)
    assert tokenizer.tokenize(texts[0]) == [HASHTAG_TOKEN, "never", "trump", "again"]
