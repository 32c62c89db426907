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
