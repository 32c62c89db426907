from hbilstm.data.pipeline import encode
from hbilstm.data.token_cache import TokenCache
from hbilstm.data.tokenizer import TokenizerConfig, TweetTokenizer
from hbilstm.data.vocab import UNK_ID, Vocabulary


class CountingTokenizer(TweetTokenizer):
    calls = 0

    def tokenize_many(self, texts, batch_size=1000):
        CountingTokenizer.calls += 1
        return super().tokenize_many(texts, batch_size)


def test_second_run_with_same_texts_and_settings_reads_the_arrow_cache(tmp_path):
    texts = ["Soooo good #win", "meh @bob", "http://t.co/x"]
    first = TokenCache(CountingTokenizer(), tmp_path)
    tokens = first.tokenize(texts)
    second = TokenCache(CountingTokenizer(), tmp_path)
    assert second.tokenize(texts) == tokens
    assert (first.misses, second.hits, second.misses) == (1, 1, 0)
    assert CountingTokenizer.calls == 1
    assert any(p.name == "dataset_info.json" for p in (tmp_path / "tokens").rglob("*"))


def test_changed_settings_or_texts_do_not_reuse_the_cache(tmp_path):
    texts = ["Soooo GOOD"]
    assert TokenCache(TweetTokenizer(), tmp_path).tokenize(texts) == [["soo", "good"]]
    raw = TweetTokenizer(TokenizerConfig(lowercase=False, squash_elongations=False))
    assert TokenCache(raw, tmp_path).tokenize(texts) == [["Soooo", "GOOD"]]
    assert TokenCache(TweetTokenizer(), tmp_path).tokenize(["Soooo BAD"]) == [["soo", "bad"]]


def test_a_damaged_cache_entry_is_rebuilt(tmp_path):
    cache = TokenCache(TweetTokenizer(), tmp_path)
    cache.tokenize(["one two"])
    for arrow in (tmp_path / "tokens").rglob("*.arrow"):
        arrow.write_bytes(b"broken")
    again = TokenCache(TweetTokenizer(), tmp_path)
    assert again.tokenize(["one two"]) == [["one", "two"]] and again.misses == 1


def test_encode_truncates_and_never_returns_an_empty_sequence():
    vocab = Vocabulary.build([["a", "b", "c"]])
    assert encode([["a", "b", "c"], [], ["zzz"]], vocab, max_tokens=2) == [
        [vocab.id("a"), vocab.id("b")], [UNK_ID], [UNK_ID]
    ]


def test_another_spacy_version_does_not_reuse_the_cache(tmp_path, monkeypatch):
    import hbilstm.data.token_cache as token_cache

    texts = ["an upgrade may change tokenization rules"]
    TokenCache(TweetTokenizer(), tmp_path).tokenize(texts)
    monkeypatch.setattr(token_cache, "spacy_version", lambda: "99.0.0")
    upgraded = TokenCache(TweetTokenizer(), tmp_path)
    upgraded.tokenize(texts)
    assert (upgraded.hits, upgraded.misses) == (0, 1)
