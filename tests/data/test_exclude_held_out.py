"""``exclude_held_out``: a model that other tasks start from (``benchmark --init-from``) trains
without the tweets of its train split whose text is in another TweetEval task's val or test split,
as the pretraining pool does; its own val and test, and its own duplicates, are left as they are."""

from conftest import SHARED

from hbilstm.data.corpora import Corpus, load_corpus
from hbilstm.data.pipeline import Encoder, prepare_training_data
from hbilstm.data.readers import Examples
from hbilstm.data.tokenizer import TokenizerConfig
from hbilstm.data.unlabelled import POOL_TASKS, normalised, other_tasks_held_out


def test_train_tweets_in_the_excluded_texts_are_dropped_and_val_and_test_stay():
    def split(*texts):
        return Examples(list(texts), ["a", "b"] * (len(texts) // 2), [str(i) for i in range(len(texts))])

    splits = {"train": split("Hello @bob http://t.co/x", "keep me", "also kept", "GONE!!"),
              "val": split("hello @ann", "gone"), "test": split("keep me", "x y")}
    corpus = Corpus("toy", ["a", "b"], metric="accuracy", splits=splits)
    encoder = Encoder(TokenizerConfig(), None, 32)
    exclude = {normalised("hello @someone"), normalised("gone")}
    data = prepare_training_data(corpus, encoder, 1, 100, 0.1, 0, exclude=exclude)
    assert data.excluded == 2 and data.train.row_ids == ["1", "2"]  # the mention and the URL do not count
    assert "hello" not in data.vocab and "gone" not in data.vocab and "keep" in data.vocab  # the vocabulary neither
    assert len(data.val) == 2 and len(data.test) == 2
    assert prepare_training_data(corpus, encoder, 1, 100, 0.1, 0).excluded == 0


def test_on_the_real_tasks_only_other_tasks_held_out_tweets_go():
    loaded = {name: load_corpus(name, SHARED) for name in POOL_TASKS}

    def keys(names, splits=("val", "test")):
        return {normalised(t) for n in names for s in splits for t in loaded[n].splits[s].texts}

    emoji = other_tasks_held_out("tweeteval-emoji", SHARED)
    assert emoji == keys([n for n in POOL_TASKS if n != "tweeteval-emoji"])
    train = [normalised(t) for t in loaded["tweeteval-emoji"].splits["train"].texts]
    dropped = [t for t in train if t in emoji]
    assert len(dropped) > 0  # emoji's train shares tweets with other tasks' val and test (16 on 2026-12-06)
    sentiment_test, own = keys(["tweeteval-sentiment"], ("test",)), keys(["tweeteval-emoji"])
    assert sum(t in sentiment_test for t in train) > 0  # sentiment's test among them
    # its own val and test are not the others': its duplicates of them stay
    assert sum(t in own and t not in emoji for t in train) > 0
    # sentiment's train shares none, so a sentiment run loses nothing by it
    sentiment = other_tasks_held_out("tweeteval-sentiment", SHARED)
    assert not any(normalised(t) in sentiment for t in loaded["tweeteval-sentiment"].splits["train"].texts)
    # a stance target: the other targets are other tasks; the five together: none of them is
    assert other_tasks_held_out("tweeteval-stance", SHARED) == keys(
        [n for n in POOL_TASKS if not n.startswith("tweeteval-stance-")])
    assert keys(["tweeteval-stance-atheism"]) <= other_tasks_held_out("tweeteval-stance-hillary", SHARED)
