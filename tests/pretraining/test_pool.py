"""The pretraining pool: train splits and files in, every val and test tweet out, emoji as labels."""

import pytest
from _pretrain_data import pretrain_data  # noqa: F401  (a fixture)
from conftest import SHARED

from hbilstm.data.corpora import load_corpus
from hbilstm.data.unlabelled import POOL_TASKS, build_pool, emoji_label, normalised, read_texts, unlabelled_texts
from hbilstm.errors import DataError

EMOJI = ["❤", "😂", "🇺🇸"]


def test_normalised_keys_ignore_case_mentions_urls_and_punctuation():
    assert normalised("@Bob LOVE this!!! https://t.co/x") == normalised("@user love   this")
    assert normalised("Love this") != normalised("Love that")
    assert normalised("😂😂") == "😂😂"  # no word: the text itself, not an empty key


def test_emoji_label_takes_one_emoji_out_and_names_it():
    assert emoji_label("so funny 😂😂 lol", EMOJI) == (1, "so funny lol")
    assert emoji_label("love you ❤️", EMOJI) == (0, "love you")  # with the presentation selector
    assert emoji_label("usa 🇺🇸", EMOJI) == (2, "usa")
    assert emoji_label("two kinds ❤ 😂", EMOJI) == (None, "two kinds ❤ 😂")  # ambiguous: no label
    assert emoji_label("none here", EMOJI) == (None, "none here")
    assert emoji_label("😂", EMOJI) == (None, "😂")  # nothing left to read


def test_pool_drops_val_and_test_tweets_and_repeats(pretrain_data, tmp_path, monkeypatch):  # noqa: F811
    test_tweet = load_corpus("tweeteval-sentiment", pretrain_data).splits["test"].texts[0]
    extra = tmp_path / "mine.txt"
    extra.write_text(f"a fresh tweet 😂\n{test_tweet.upper()}\na fresh tweet 😂\n\n", encoding="utf-8")
    read = []
    monkeypatch.setattr("hbilstm.data.unlabelled.load_corpus",
                        lambda name, *args, **kw: (read.append(name), load_corpus(name, *args, **kw))[1])
    pool = build_pool(pretrain_data, [extra])
    assert read and len(read) == len(set(read))  # each dataset's files read once
    assert pool.sources == {"tweeteval-sentiment train": 400, "tweeteval-emoji train": 400, str(extra): 3}
    assert "a fresh tweet 😂" in pool.texts and pool.repeated >= 1
    assert test_tweet not in pool.texts and test_tweet.upper() not in pool.texts
    # the emoji task's own examples, and the file's tweet with its emoji taken out
    assert len(pool.emoji_labels) == len(pool.emoji_texts) > 390  # less those dropped
    i = pool.emoji_texts.index("a fresh tweet")
    assert pool.emoji[pool.emoji_labels[i]] == "😂"


def test_unlabelled_tweeteval_is_the_other_tasks_train_splits_less_val_and_test(pretrain_data, tmp_path,  # noqa: F811
                                                                                monkeypatch):
    sentiment, emoji = (load_corpus(f"tweeteval-{t}", pretrain_data) for t in ("sentiment", "emoji"))
    read = []
    monkeypatch.setattr("hbilstm.data.unlabelled.load_corpus",
                        lambda name, *args, **kw: (read.append(name), load_corpus(name, *args, **kw))[1])
    texts, dropped = unlabelled_texts(["tweeteval"], sentiment, pretrain_data)
    assert len(read) == len(set(read))  # each task's files read once, for its train split and its val and test
    assert len(texts) + dropped == 400 and set(texts) <= set(emoji.splits["train"].texts)  # not sentiment's own
    assert set(unlabelled_texts(["tweeteval"], emoji, pretrain_data)[0]) <= set(sentiment.splits["train"].texts)
    extra = tmp_path / "mine.txt"
    extra.write_text(f"a fresh tweet\n{emoji.splits['val'].texts[0]}\n", encoding="utf-8")
    assert unlabelled_texts([extra], sentiment, pretrain_data) == (["a fresh tweet"], 1)  # another task's val
    assert unlabelled_texts([], sentiment, pretrain_data) == ([], 0)
    with pytest.raises(DataError, match="no such file"):
        unlabelled_texts(["tweeteval.txt"], sentiment, pretrain_data)


@pytest.mark.skipif(not (SHARED / "tweeteval-emoji").is_dir(), reason="needs every TweetEval task")
def test_the_real_pool_holds_no_val_or_test_tweet_of_any_task():
    pool = build_pool(SHARED)
    held = set()
    for name in POOL_TASKS:
        corpus = load_corpus(name, SHARED, download=False)
        for split in ("val", "test"):
            held.update(normalised(t) for t in corpus.splits[split].texts)
    assert not [t for t in pool.texts if normalised(t) in held]
    assert not [t for t in pool.emoji_texts if normalised(t) in held]
    assert pool.held_out > 0  # some train tweets were there (the data's README counts them)
    assert len(pool.emoji) == 20 and len(pool.emoji_texts) > 45_000 - pool.held_out


def test_read_texts_refuses_what_is_not_a_file_of_tweets(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_texts(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="is a folder"):
        read_texts(tmp_path)
    table = tmp_path / "t.csv"
    table.write_text("id,body\n1,hello\n", encoding="utf-8")
    with pytest.raises(DataError, match="text"):
        read_texts(table)
    assert read_texts(table, text_column="body") == ["hello"]
    blank = tmp_path / "blank.txt"  # a file that adds nothing is most likely the wrong file
    blank.write_text("\n  \n\n", encoding="utf-8")
    with pytest.raises(DataError, match="blank.txt: no tweets in it"):
        read_texts(blank)
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="empty.jsonl: no tweets in it"):
        read_texts(tmp_path / "empty.jsonl")
