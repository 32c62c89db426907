import pytest
from conftest import SEMEVAL, SHARED, SST, TWEETEVAL, make_tweeteval_slice

from hbilstm.data import hub
from hbilstm.data.corpora import load_corpus, resolve_data_dir
from hbilstm.errors import DataError


def test_named_tweeteval_and_its_binary_form():
    full = load_corpus("tweeteval-sentiment", SHARED)
    assert full.label_names == ["negative", "neutral", "positive"]
    assert full.metric == "macro_recall"
    assert {s: len(e) for s, e in full.splits.items()} == {"train": 47571, "val": 2000, "test": 12284}
    binary = load_corpus("tweeteval-sentiment-binary", SHARED)
    assert binary.label_names == ["negative", "positive"]
    test_counts = {n: full.splits["test"].labels.count(n) for n in full.label_names}
    assert len(binary.splits["test"]) == test_counts["negative"] + test_counts["positive"]
    assert "neutral" not in binary.splits["train"].labels


def test_named_sst():
    sst2 = load_corpus("sst2", SHARED)
    assert (sst2.metric, len(sst2.splits["test"])) == ("accuracy", 1821)
    sst5 = load_corpus("sst5", SHARED)
    assert len(sst5.label_names) == 5 and len(sst5.splits["train"]) == 8544


def test_data_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HBILSTM_DATA_DIR", str(tmp_path))
    assert resolve_data_dir() == tmp_path
    assert resolve_data_dir("elsewhere").name == "elsewhere"


def test_paths_to_folders_and_files():
    assert set(load_corpus(str(TWEETEVAL)).splits) == {"train", "val", "test"}
    assert len(load_corpus(str(SST)).label_names) == 5
    single = load_corpus(str(SEMEVAL / "twitter-2016dev-A.txt"))
    assert single.unsplit and len(single.splits["all"]) == 1999
    with pytest.raises(DataError, match="has no .test. split"):
        single.split("test")  # an unsplit file is never passed off as a test split


def test_semeval_folder_uses_semeval_2016_splits_without_overlap():
    corpus = load_corpus(str(SEMEVAL))
    ids = {s: set(e.ids) for s, e in corpus.splits.items()}
    assert not (ids["train"] & ids["test"]) and not (ids["train"] & ids["val"]) and not (ids["val"] & ids["test"])
    assert len(corpus.splits["test"]) == len(ids["test"])  # no id twice
    assert corpus.files[-1].name == "twitter-2016test-A.txt"


def test_table_folder_with_train_val_test(tmp_path):
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.csv").write_text("text,label\ngood,pos\nbad,neg\n")
    corpus = load_corpus(str(tmp_path))
    assert set(corpus.splits) == {"train", "val", "test"}
    assert corpus.label_names == ["neg", "pos"]


def test_unknown_name_and_missing_path():
    with pytest.raises(DataError, match="neither a dataset name"):
        load_corpus("tweeteval-sentimnet")


def test_missing_tweeteval_is_fetched_from_the_hub_and_saved(tmp_path, monkeypatch):
    import datasets

    real = load_corpus(str(make_tweeteval_slice(tmp_path / "src", 30, 10, 10)))

    def fake_load_dataset(name, config):
        assert (name, config) == ("cardiffnlp/tweet_eval", "sentiment")
        features = datasets.Features({
            "text": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["negative", "neutral", "positive"]),
        })
        def split(s):
            e = real.splits[s]
            return datasets.Dataset.from_dict(
                {"text": e.texts, "label": [real.label_names.index(x) for x in e.labels]}, features=features)
        return datasets.DatasetDict({"train": split("train"), "validation": split("val"), "test": split("test")})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr(hub, "hub_unreachable", lambda: None)  # as if online
    fetched = load_corpus("tweeteval-sentiment", tmp_path / "data")
    assert (tmp_path / "data" / "tweeteval-sentiment" / "val_text.txt").is_file()
    for split in ("train", "val", "test"):
        assert fetched.splits[split].texts == real.splits[split].texts
        assert fetched.splits[split].labels == real.splits[split].labels


def test_offline_fetch_says_which_files_to_put_where(tmp_path, monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'cardiffnlp/tweet_eval' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    monkeypatch.setattr(hub, "hub_unreachable", lambda: None)  # the probe passes, the download fails
    with pytest.raises(DataError) as info:
        load_corpus("tweeteval-sentiment", tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "tweeteval-sentiment") in message
    assert "train_text.txt" in message and "mapping.txt" in message
    assert not (tmp_path / "tweeteval-sentiment").exists()  # nothing half-written left behind
