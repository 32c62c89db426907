import pytest

from hbilstm.data.tokenizer import URL_TOKEN, TokenizerConfig, TweetTokenizer


@pytest.fixture(scope="module")
def tok():
    return TweetTokenizer()


@pytest.fixture(scope="module")
def raw():
    return TweetTokenizer(TokenizerConfig(lowercase=False, squash_elongations=False, normalize_mentions=False))


def test_hashtag_is_one_token_even_before_punctuation(tok):
    assert tok.tokenize("Won the match #getin. Go #Team2024!") == [
        "won", "the", "match", "#getin", ".", "go", "#team2024", "!"
    ]


def test_mention_is_one_token_and_normalised(tok, raw):
    assert tok.tokenize("(@bob_99: hi @user)") == ["(", "@user", ":", "hi", "@user", ")"]
    assert raw.tokenize("(@bob_99: hi)") == ["(", "@bob_99", ":", "hi", ")"]


def test_urls_become_one_placeholder(tok):
    text = "see http://t.co/Xzl4LFhs and https://example.com/a?b=1&c=2, www.site.org/x pic.twitter.com/abc"
    assert tok.tokenize(text) == ["see", URL_TOKEN, "and", URL_TOKEN, ",", URL_TOKEN, URL_TOKEN]


@pytest.mark.parametrize("emoticon", [":)", ":-(", "<3", ";P", ":D", "xD", "^_^", "-_-", ":'(", ":/", "=)"])
def test_emoticons_are_kept_whole(raw, emoticon):
    assert raw.tokenize(f"so {emoticon} ok") == ["so", emoticon, "ok"]


def test_emoji_are_split_from_words_and_kept_whole(raw):
    # a plain emoji, a skin-tone sequence, a flag, a zero-width-joiner family and a variation selector
    text = "great👏#win I love it😀😀 👍🏽 🇺🇸 👨\u200d👩\u200d👧 ❤️"
    assert raw.tokenize(text) == [
        "great", "👏", "#win", "I", "love", "it", "😀", "😀", "👍🏽", "🇺🇸", "👨\u200d👩\u200d👧", "❤️"
    ]


def test_html_entities_are_decoded(tok):
    assert tok.tokenize("you &amp; me &lt;3") == ["you", "&", "me", "<3"]


def test_lowercase_and_elongation_options(tok, raw):
    assert tok.tokenize("Soooo GOOOOD #Sooooo") == ["soo", "good", "#soo"]
    assert raw.tokenize("Soooo GOOOOD") == ["Soooo", "GOOOOD"]
    squash_only = TweetTokenizer(TokenizerConfig(lowercase=False))
    assert squash_only.tokenize("Soooo") == ["Soo"]


def test_whitespace_only_and_empty_give_no_tokens(tok):
    assert tok.tokenize("") == []
    assert tok.tokenize(" \t \n ") == []


def test_tokenize_many_keeps_order_and_count(tok):
    texts = ["a b", "", "c", "#d e"]
    assert list(tok.tokenize_many(texts)) == [["a", "b"], [], ["c"], ["#d", "e"]]


def test_config_round_trip():
    config = TokenizerConfig(lowercase=False, squash_elongations=True, normalize_mentions=False)
    assert TokenizerConfig.from_dict(config.to_dict()) == config
