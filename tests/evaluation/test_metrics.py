"""Classification metrics: macro averages over the classes the gold data holds."""

import pytest

from hbilstm.evaluation.metrics import classification_metrics

LABELS = ["negative", "neutral", "positive"]


def test_macro_scores_average_the_classes_present_in_the_gold_data():
    # A 3-class model scored on binary data: a perfect answer is 100, not 66.7.
    perfect = classification_metrics([0, 0, 2, 2], [0, 0, 2, 2], LABELS)
    assert perfect["macro_recall"] == perfect["macro_f1"] == perfect["macro_precision"] == 1.0
    assert perfect["macro_over"] == ["negative", "positive"]
    # predicting the absent class is still an error of the present one
    one_wrong = classification_metrics([0, 0, 2, 2], [1, 0, 2, 2], LABELS)
    assert one_wrong["macro_recall"] == pytest.approx((0.5 + 1.0) / 2)
    assert one_wrong["accuracy"] == 0.75
    # every class is still listed per class, the absent one with support 0
    assert one_wrong["per_class"]["neutral"]["support"] == 0 and one_wrong["confusion"][1] == [0, 0, 0]


def test_all_classes_present_is_the_ordinary_macro_average():
    scores = classification_metrics([0, 1, 2, 1], [0, 2, 2, 1], LABELS)
    assert scores["macro_recall"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert scores["macro_over"] == LABELS


@pytest.mark.parametrize("metric, names", [
    ("accuracy", ["a", "b", "c"]), ("macro_recall", ["negative", "neutral", "positive"]),
    ("macro_f1", ["a", "b", "c", "d"]), ("irony_f1", ["non_irony", "irony"]),
    ("stance_f1", ["none", "against", "favor"]),
])
def test_the_metric_from_a_confusion_matrix_is_the_one_classification_metrics_gives(metric, names):
    import numpy as np

    from hbilstm.evaluation.metrics import official_from_confusion

    rng = np.random.default_rng(len(names))
    k = len(names)
    y_true = rng.integers(0, k, 300)
    if metric.startswith("macro"):
        y_true[y_true == k - 1] = 1  # the last class never occurs: averaged over the others
    y_pred = rng.integers(0, k, 300)
    y_pred[y_true == 0] = 0  # some classes better predicted than others
    confusion = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    expected = classification_metrics(y_true.tolist(), y_pred.tolist(), names)[metric]
    assert official_from_confusion(confusion, metric, names) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="unknown metric"):
        official_from_confusion(confusion, "f2", names)
