"""ascii_punctuation: typographic punctuation read in the ASCII forms the training text uses."""

import numpy as np
import pytest
from conftest import TWEETEVAL, tiny_model_both_ways

from hbilstm.data.tokenizer import ASCII_PUNCTUATION, TokenizerConfig, TweetTokenizer

TYPOGRAPHIC = {chr(code) for code in ASCII_PUNCTUATION}


@pytest.fixture(scope="module")
def ascii_tok():
    return TweetTokenizer(TokenizerConfig(ascii_punctuation=True))


def test_typographic_text_reads_as_its_ascii_twin(ascii_tok):
    curly = "I don’t know… “great” — she said ‘no’ #newyorkcity… I supp… 2–3 «ok» &hellip;"
    straight = "I don't know... \"great\" - she said 'no' #newyorkcity... I supp... 2-3 \"ok\" ..."
    assert ascii_tok.tokenize(curly) == ascii_tok.tokenize(straight)
    assert ascii_tok.tokenize("don’t stop…") == ["do", "n't", "stop", "..."]
    # off (the default), each mark stays what it was
    assert TweetTokenizer().tokenize("don’t stop…") == ["do", "n’t", "stop", "…"]


def test_ascii_text_and_emoji_are_untouched_on_real_tweets(ascii_tok):
    plain = TweetTokenizer()
    lines = (TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").splitlines()[:3000]
    ascii_only = [line for line in lines if not TYPOGRAPHIC & set(line)]
    assert len(ascii_only) > 2000 and sum(not line.isascii() for line in ascii_only) > 100  # emoji among them
    assert list(ascii_tok.tokenize_many(ascii_only)) == list(plain.tokenize_many(ascii_only))


def test_no_typographic_mark_survives_in_test_tweets_that_have_them(ascii_tok):
    lines = (TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").splitlines()
    marked = [line for line in lines if TYPOGRAPHIC & set(line)]
    assert len(marked) > 1000  # TweetEval's test split: 1,331 tweets end in "…" alone
    tokens = {token for line in ascii_tok.tokenize_many(marked) for token in line}
    assert not {char for token in tokens for char in token} & TYPOGRAPHIC
    assert "..." in tokens and "…" not in tokens


def test_the_setting_is_stored_only_when_on_and_reaches_the_tokenizer():
    from hbilstm.config import TrainConfig
    from hbilstm.pretraining.config import PretrainConfig

    assert "ascii_punctuation" not in TokenizerConfig().to_dict()  # older models' settings read the same
    on = TokenizerConfig(ascii_punctuation=True)
    assert on.to_dict()["ascii_punctuation"] is True and TokenizerConfig.from_dict(on.to_dict()) == on
    for kind in (TrainConfig, PretrainConfig):
        assert TokenizerConfig.of(kind(ascii_punctuation=True)).ascii_punctuation is True
        assert TokenizerConfig.of(kind()).ascii_punctuation is False


@pytest.mark.slow
def test_a_model_trained_with_it_predicts_with_it(tmp_path, data_dir):
    eager, graph = tiny_model_both_ways(tmp_path / "run", data_dir, ascii_punctuation=True)
    assert eager.config["tokenizer"]["ascii_punctuation"] is True and graph.backend == "onnx"
    assert not {char for token in eager.model.vocab.tokens for char in token} & TYPOGRAPHIC
    curly = ["I don’t like it…", "“best” day — ever", "it’s fine"]
    straight = ["I don't like it...", "\"best\" day - ever", "it's fine"]
    for clf in (eager, graph):
        assert np.allclose(clf.predict_proba(curly), clf.predict_proba(straight), atol=1e-6)
    assert np.allclose(graph.predict_proba(curly), eager.predict_proba(curly), atol=1e-4)
