"""TweetEval's seven tasks by name, each with its official metric (issue 30, item 1): the metrics
against hand-worked examples and against scikit-learn's classification_report, which TweetEval's
evaluation_script.py reads; stance pooled over its five targets; `hbilstm data` lists them all."""

import json

import pytest
from conftest import SHARED
from typer.testing import CliRunner

from hbilstm.cli import app
from hbilstm.data.corpora import STANCE_TARGETS, TWEETEVAL_TASKS, load_corpus
from hbilstm.errors import DataError
from hbilstm.evaluation.metrics import classification_metrics

# (classes, train, val, test, official metric): ../shared/data/README.md
TASKS = {
    "tweeteval-emoji": (20, 45_000, 5_000, 50_000, "macro_f1"),
    "tweeteval-emotion": (4, 3_257, 374, 1_421, "macro_f1"),
    "tweeteval-hate": (2, 9_000, 1_000, 2_970, "macro_f1"),
    "tweeteval-irony": (2, 2_862, 955, 784, "irony_f1"),
    "tweeteval-offensive": (2, 11_916, 1_324, 860, "macro_f1"),
    "tweeteval-sentiment": (3, 47_571, 2_000, 12_284, "macro_recall"),
    "tweeteval-stance": (3, 2_620, 294, 1_249, "stance_f1"),
}


def test_irony_f1_is_the_f1_of_the_irony_class_worked_out_by_hand():
    # irony (1): 2 right, 1 false alarm, 1 missed: precision 2/3, recall 2/3, F1 2/3
    scores = classification_metrics([1, 1, 0, 0, 1], [1, 0, 0, 1, 1], ["non_irony", "irony"])
    assert scores["irony_f1"] == pytest.approx(2 / 3)
    assert "stance_f1" not in scores


def test_stance_f1_is_the_mean_f1_of_against_and_favor_worked_out_by_hand():
    # against (1): 1 right, 1 false alarm, 1 missed: F1 0.5; favor (2): 2 right, 1 false alarm: P 2/3, R 1, F1 0.8
    scores = classification_metrics([1, 1, 2, 2, 0, 0], [1, 2, 2, 2, 0, 1], ["none", "against", "favor"])
    assert scores["stance_f1"] == pytest.approx((0.5 + 0.8) / 2)
    assert "irony_f1" not in scores


def official_by_the_report(task, gold, predicted):
    """What TweetEval's evaluation_script.py computes from scikit-learn's classification_report."""
    from sklearn.metrics import classification_report

    report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    if task == "irony":
        return report["1"]["f1-score"]
    if task == "stance":
        return (report["1"]["f1-score"] + report["2"]["f1-score"]) / 2
    if task == "sentiment":
        return report["macro avg"]["recall"]
    return report["macro avg"]["f1-score"]


@pytest.mark.parametrize("task", ["irony", "stance", "emotion", "hate", "sentiment"])
def test_our_official_scores_equal_the_official_scripts_on_real_predictions(task):
    """Real predictions: a TF-IDF + logistic regression model trained on the task's train split,
    scored on its test split (stance: the five targets pooled, as the official script pools them)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    corpus = load_corpus(f"tweeteval-{task}", SHARED, download=False)
    ids = {name: i for i, name in enumerate(corpus.label_names)}
    train, test = corpus.splits["train"], corpus.splits["test"]
    vectors = TfidfVectorizer(min_df=2).fit(train.texts)
    model = LogisticRegression(max_iter=300).fit(vectors.transform(train.texts), [ids[x] for x in train.labels])
    gold = [ids[x] for x in test.labels]
    predicted = model.predict(vectors.transform(test.texts)).tolist()
    ours = classification_metrics(gold, predicted, corpus.label_names)[corpus.metric]
    assert corpus.metric == TWEETEVAL_TASKS[task]
    assert ours == pytest.approx(official_by_the_report(task, gold, predicted), abs=1e-12)
    assert 0.2 < ours < 0.9  # a real model, neither empty nor perfect


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_loads_by_name_with_its_classes_sizes_and_official_metric(name):
    classes, train, val, test, metric = TASKS[name]
    corpus = load_corpus(name, SHARED, download=False)
    assert len(corpus.label_names) == classes and corpus.metric == metric
    assert {s: len(e) for s, e in corpus.splits.items()} == {"train": train, "val": val, "test": test}


def test_stance_is_the_five_targets_pooled_with_the_target_before_each_text():
    pooled = load_corpus("tweeteval-stance", SHARED, download=False)
    assert pooled.label_names == ["none", "against", "favor"]
    offset = 0
    for target in STANCE_TARGETS:
        alone = load_corpus(f"tweeteval-stance-{target}", SHARED, download=False)
        assert alone.metric == "stance_f1"
        test = alone.splits["test"]
        part = pooled.splits["test"].texts[offset:offset + len(test)]
        assert part == [f"{target}: {text}" for text in test.texts]
        assert pooled.splits["test"].labels[offset:offset + len(test)] == test.labels
        offset += len(test)
    assert offset == len(pooled.splits["test"])
    for split in pooled.splits.values():
        assert len(set(split.ids)) == len(split.ids)  # ids stay unique across targets


def test_an_unknown_task_is_one_line_that_lists_the_known_ones(tmp_path):
    with pytest.raises(DataError) as refused:
        load_corpus("tweeteval-sarcasm", tmp_path, download=False)
    message = str(refused.value)
    assert "\n" not in message and "tweeteval-irony" in message and "tweeteval-stance" in message


def test_the_data_command_lists_every_task_with_its_metric():
    result = CliRunner().invoke(app, ["data", "--data-dir", str(SHARED), "--json"])
    assert result.exit_code == 0, result.output
    listed = {d["name"]: d for d in json.loads(result.stdout)["datasets"]}
    for name, (classes, train, val, test, metric) in TASKS.items():
        assert listed[name]["status"] == "ready", (name, listed[name]["status"])
        assert listed[name]["metric"] == metric and len(listed[name]["classes"]) == classes
        assert listed[name]["rows"] == {"train": train, "val": val, "test": test}
    assert listed["tweeteval-stance-hillary"]["metric"] == "stance_f1"


def test_a_model_trained_on_irony_is_chosen_and_reported_by_its_official_metric(tmp_path):
    run = tmp_path / "irony"
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--data", "tweeteval-irony", "--data-dir", str(SHARED), "--epochs", "1",
                                 "--hidden", "8", "--set", "max_train=300", "--out", str(run), "--no-export",
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads((run / "results.json").read_text())["metric"] == "irony_f1"
    result = runner.invoke(app, ["evaluate", str(run)])
    assert result.exit_code == 0, result.output
    official = [line for line in result.stdout.splitlines() if "(official)" in line]
    assert len(official) == 1 and official[0].startswith("F1 of irony (official)")
