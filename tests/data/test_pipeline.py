"""A corpus cut into the splits a run trains and validates on."""

import json

from hbilstm.data.corpora import load_corpus
from hbilstm.data.pipeline import training_splits


def test_max_train_keeps_the_same_random_sample_whatever_the_seed(data_dir):
    corpus = load_corpus("tweeteval-sentiment", data_dir)
    full = training_splits(corpus, 0.1, seed=1)["train"]
    a = training_splits(corpus, 0.1, seed=1, max_train=100)["train"]
    b = training_splits(corpus, 0.1, seed=2, max_train=100)["train"]
    assert len(a) == 100 and a.ids == b.ids
    assert set(a.ids) < set(full.ids) and a.ids != full.ids[:100]  # a random sample, kept in file order
    assert a.ids == sorted(a.ids, key=full.ids.index)


def test_an_unsplit_file_holds_out_val_by_seed_and_has_no_test(data_dir, tmp_path):
    lines = (data_dir / "tweeteval-sentiment" / "train_text.txt").read_text().splitlines()[:100]
    source = tmp_path / "t.jsonl"
    source.write_text("".join(json.dumps({"id": f"r{i}", "text": line, "label": "x"}) + "\n"
                              for i, line in enumerate(lines)))
    corpus = load_corpus(str(source))
    one, again, other = (training_splits(corpus, 0.1, seed=s) for s in (7, 7, 8))
    assert set(one) == {"train", "val"}
    assert one["val"].ids == again["val"].ids and one["val"].ids != other["val"].ids
    assert not set(one["val"].ids) & set(one["train"].ids)
    assert len(one["val"]) + len(one["train"]) == len(corpus.splits["all"])
    assert len(one["val"]) == round(0.1 * len(corpus.splits["all"]))
