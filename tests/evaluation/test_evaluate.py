"""Scoring a trained model: never training rows as test; other datasets and label sets."""

import csv
import json

import pytest
from conftest import TWEETEVAL

from hbilstm.config import TrainConfig
from hbilstm.errors import DataError
from hbilstm.evaluation.evaluate import evaluate
from hbilstm.training import train


def labelled_csv(path, split, start, n):
    """``n`` real TweetEval tweets of ``split`` from line ``start`` as a text,label CSV."""
    names = TWEETEVAL.joinpath("mapping.txt").read_text().split()[1::2]
    texts = TWEETEVAL.joinpath(f"{split}_text.txt").read_text(encoding="utf-8").split("\n")[start:start + n]
    labels = TWEETEVAL.joinpath(f"{split}_labels.txt").read_text().split("\n")[start:start + n]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([t, names[int(label)]] for t, label in zip(texts, labels))
    return path


def test_a_model_trained_on_one_file_is_never_scored_on_its_training_rows(tmp_path):
    source = labelled_csv(tmp_path / "tweets.csv", "train", 0, 200)
    run = tmp_path / "run"
    train(TrainConfig(data=str(source), layers=1, hidden=8, embedding_dim=12, epochs=1, min_freq=1, seed=4), run)
    # 90% of the file trained the model: there is no test split to score
    with pytest.raises(DataError, match="has no test split"):
        evaluate(run)
    val = evaluate(run, split="val")
    saved = json.loads((run / "results.json").read_text())
    assert saved["test"] is None
    assert val["n"] == saved["val"]["n"] == 20 and val["macro_recall"] == saved["val"]["macro_recall"]
    assert "held out for validation" in val["split_note"]
    trained = evaluate(run, split="train")
    assert trained["n"] == 180 and trained["split_note"] == "the examples the model was trained on"


def test_another_dataset_s_single_file_is_scored_whole(trained_run, tmp_path):
    source = labelled_csv(tmp_path / "other.csv", "test", 500, 30)
    report = evaluate(trained_run, data=str(source))
    assert (report["split"], report["n"], report["split_note"]) == ("all", 30, "the whole file")
    with pytest.raises(DataError, match="leave out --split"):
        evaluate(trained_run, data=str(source), split="test")


def test_a_three_class_model_scored_on_the_binary_set_matches_labels_by_name(trained_run, data_dir):
    three = evaluate(trained_run, data_dir=str(data_dir))
    binary = evaluate(trained_run, data="tweeteval-sentiment-binary", data_dir=str(data_dir))
    assert binary["labels"] == three["labels"] == ["negative", "neutral", "positive"]
    neg, neu, pos = three["confusion"]
    # the same tweets, predicted the same way; the neutral ones are gone
    assert binary["confusion"] == [neg, [0, 0, 0], pos]
    assert binary["n"] == sum(neg) + sum(pos)
    assert binary["macro_over"] == ["negative", "positive"]
    recall = [neg[0] / sum(neg), pos[2] / sum(pos)]
    assert binary["macro_recall"] == pytest.approx(sum(recall) / 2)
