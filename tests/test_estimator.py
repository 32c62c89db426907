"""hbilstm.HighwayBiLSTMClassifier: fit from texts in memory, scikit-learn's conventions, bad input."""

import gc
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score

import hbilstm
from hbilstm.errors import ConfigError

SMALL = {"epochs": 1, "hidden": 8, "embedding_dim": 12, "threads": 1, "ngram_buckets": 0}


@pytest.fixture(scope="module")
def tweets(data_dir):
    folder = data_dir / "tweeteval-sentiment"

    def split(name, n):
        texts = (folder / f"{name}_text.txt").read_text(encoding="utf-8").splitlines()[:n]
        labels = [int(x) for x in (folder / f"{name}_labels.txt").read_text(encoding="utf-8").split()[:n]]
        return texts, labels

    return split("train", 300), split("val", 100)


def test_fit_predict_score_with_int_labels(tweets):
    (texts, labels), (val_texts, val_labels) = tweets
    clf = hbilstm.HighwayBiLSTMClassifier(layers=3, seed=5, **SMALL)
    assert clf.fit(texts, labels, validation=(val_texts, val_labels)) is clf
    assert list(clf.classes_) == [0, 1, 2]
    probs = clf.predict_proba(val_texts)
    assert probs.shape == (100, 3) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    predicted = clf.predict(val_texts)
    assert set(predicted) <= {0, 1, 2} and predicted.dtype.kind == "i"  # the labels' own type, as scikit-learn
    assert list(predicted) == [[0, 1, 2][i] for i in probs.argmax(1)]
    assert clf.score(val_texts, val_labels) == pytest.approx(np.mean(np.array(val_labels) == predicted))
    run = clf.run_dir_
    assert (run / "model.pt").is_file() and (run.parent / "fit" / "val.jsonl").is_file()
    saved = hbilstm.load(run, backend="torch")
    assert saved.config["model"]["layers"] == 3 and np.allclose(saved.predict_proba(val_texts), probs, atol=1e-6)
    folder = run.parent
    del clf, saved
    gc.collect()
    assert not folder.exists()  # a temporary folder goes with its estimator


def test_string_labels_output_dir_pickle_and_refit(tweets, tmp_path):
    (texts, labels), _ = tweets
    names = [["neg", "neu", "pos"][y] for y in labels]
    clf = hbilstm.HighwayBiLSTMClassifier(output_dir=tmp_path / "model", seed=2, **SMALL).fit(texts, names)
    assert list(clf.classes_) == ["neg", "neu", "pos"] and clf.predict(texts[:3]).dtype.kind == "U"
    assert clf.run_dir_ == tmp_path / "model" / "run"
    again = pickle.loads(pickle.dumps(clf))
    assert np.allclose(again.predict_proba(texts[:20]), clf.predict_proba(texts[:20]), atol=1e-6)
    assert again.get_params() == clf.get_params()
    clf.set_params(layers=4).fit(texts, names)  # fitting again replaces the run
    assert hbilstm.load(clf.run_dir_, backend="torch").config["model"]["layers"] == 4


def test_scikit_learn_parameter_protocol():
    clf = hbilstm.HighwayBiLSTMClassifier(layers=10, lr=0.003, verbose=True)
    assert clf.get_params() == {"config": None, "output_dir": None, "verbose": True, "layers": 10, "lr": 0.003}
    assert clf.layers == 10 and clf.lr == 0.003
    copy = clone(clf)
    assert copy is not clf and copy.get_params() == clf.get_params()
    assert clf.set_params(layers=4, output_dir="runs/x").get_params()["layers"] == 4 and clf.output_dir == "runs/x"
    assert repr(hbilstm.HighwayBiLSTMClassifier(layers=2)) == "HighwayBiLSTMClassifier(layers=2)"
    with pytest.raises(AttributeError, match="no attribute 'hidden'"):
        getattr(clf, "hidden")  # noqa: B009  (an option never given is no attribute)


def test_cross_validation_and_grid_search_take_it(tweets):
    (texts, labels), _ = tweets
    texts, labels = np.array(texts[:200]), np.array(labels[:200])
    clf = hbilstm.HighwayBiLSTMClassifier(**SMALL)
    scores = cross_val_score(clf, texts, labels, cv=2, error_score="raise")
    assert scores.shape == (2,) and all(0.0 <= s <= 1.0 for s in scores)
    search = GridSearchCV(clf, {"layers": [1, 2]}, cv=2, error_score="raise").fit(texts, labels)
    assert search.best_params_["layers"] in (1, 2) and search.best_estimator_.layers == search.best_params_["layers"]
    assert set(search.predict(texts[:5])) <= {0, 1, 2}


def test_bad_input_is_refused_before_training(tweets, tmp_path):
    (texts, labels), _ = tweets
    out = tmp_path / "m"
    make = lambda **kw: hbilstm.HighwayBiLSTMClassifier(output_dir=out, **SMALL, **kw)  # noqa: E731
    with pytest.raises(ValueError, match="300 texts but 299 labels"):
        make().fit(texts, labels[:-1])
    with pytest.raises(ValueError, match="at least two classes"):
        make().fit(texts[:5], [1] * 5)
    with pytest.raises(TypeError, match="not one string"):
        make().fit("one tweet", [1])
    with pytest.raises(ValueError, match=r"texts\[1\] is empty: there is nothing to learn from"):
        make().fit(["good", " ", "bad"], [2, 1, 0])
    with pytest.raises(ValueError, match="validation labels 7 are not among the training labels"):
        make().fit(texts, labels, validation=(texts[:2], [7, 0]))
    with pytest.raises(ConfigError, match="unknown training option 'layerz'"):
        make(layerz=3).fit(texts, labels)
    with pytest.raises(ConfigError, match="leave out data"):
        make(data="tweeteval-irony").fit(texts, labels)
    with pytest.raises(ConfigError, match="layers"):
        make(layers=0).fit(texts, labels)
    assert not (out / "run").exists() and not (out / "fit").exists()
    with pytest.raises(AttributeError, match="not fitted yet"):
        make().predict(["good"])


def test_a_temporary_fit_cannot_be_pickled(tweets):
    (texts, labels), _ = tweets
    clf = hbilstm.HighwayBiLSTMClassifier(**SMALL).fit(texts[:120], labels[:120])
    with pytest.raises(TypeError, match="fit with output_dir"):
        pickle.dumps(clf)
    assert pickle.loads(pickle.dumps(hbilstm.HighwayBiLSTMClassifier(layers=2))).layers == 2  # unfitted: fine
