"""Calibration a user can see: the expected calibration error, the reliability diagram, and
``--min-confidence`` in predict, serve and the Python API."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import TWEETEVAL
from typer.testing import CliRunner

import hbilstm
from hbilstm.cli import app
from hbilstm.evaluation.metrics import calibration

runner = CliRunner()


def test_the_expected_calibration_error_of_a_hand_worked_case():
    # confidences 0.9 (right), 0.8 (wrong), 0.58 and 0.55 (both right); 15 bins of width 1/15:
    # 0.9 in (13/15, 14/15], 0.8 in (11/15, 12/15], 0.58 and 0.55 in (8/15, 9/15]
    probs = [[0.9, 0.1], [0.8, 0.2], [0.58, 0.42], [0.45, 0.55]]
    labels = [0, 1, 0, 1]
    found = calibration(probs, labels)
    expected = 0.25 * abs(1 - 0.9) + 0.25 * abs(0 - 0.8) + 0.5 * abs(1 - (0.58 + 0.55) / 2)  # 0.4425
    assert found["ece"] == pytest.approx(expected) and expected == pytest.approx(0.4425)
    counts = [b["count"] for b in found["bins"]]
    assert len(counts) == 15 and sum(counts) == 4 and counts[13] == counts[11] == 1 and counts[8] == 2
    assert found["bins"][8]["accuracy"] == 1.0 and found["bins"][8]["confidence"] == pytest.approx(0.565)
    assert found["bins"][0]["confidence"] is None  # an empty bin has no mean
    # perfectly calibrated: confidence 0.75 and three of four right
    assert calibration([[0.75, 0.25]] * 4, [0, 0, 0, 1])["ece"] == pytest.approx(0.0)


def test_evaluate_reports_the_error_with_and_without_temperatures_and_draws_the_diagram(trained_run, tmp_path):
    report, plot = tmp_path / "m.json", tmp_path / "reliability.png"
    result = runner.invoke(app, ["evaluate", str(trained_run), "--json", str(report), "--plot", str(plot),
                                 "--threads", "1"])
    assert result.exit_code == 0, result.output
    scores = json.loads(report.read_text())
    results = json.loads((trained_run / "results.json").read_text())
    assert scores["macro_recall"] == results["test"]["macro_recall"]  # the same predictions as training's
    assert scores["ece"] == pytest.approx(results["test"]["ece"], abs=1e-6)
    assert len(scores["temperatures"]) >= 1 and scores["ece_before_temperatures"] is not None
    assert scores["ece"] != scores["ece_before_temperatures"]  # the temperatures change the probabilities
    assert sum(b["count"] for b in scores["calibration"]["after"]) == scores["n"]
    assert "expected calibration error (15 bins): " in result.stdout and "without its temperatures" in result.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_min_confidence_labels_the_unsure_rows_uncertain_and_keeps_their_probabilities(trained_run, tmp_path):
    tweets = tmp_path / "t.txt"
    tweets.write_text("\n".join((TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").splitlines()[:300]) + "\n")
    plain, marked = tmp_path / "plain.csv", tmp_path / "marked.csv"
    assert runner.invoke(app, ["predict", str(trained_run), str(tweets), "-o", str(plain)]).exit_code == 0
    with open(plain, newline="", encoding="utf-8") as handle:
        first = list(csv.DictReader(handle))
    p = round(sorted(float(row["confidence"]) for row in first)[150], 3)  # about half the rows below
    result = runner.invoke(
        app, ["predict", str(trained_run), str(tweets), "-o", str(marked), "--min-confidence", str(p)]
    )
    assert result.exit_code == 0, result.output
    with open(marked, newline="", encoding="utf-8") as handle:
        rows = [first, list(csv.DictReader(handle))]
    unsure = [b for a, b in zip(*rows) if float(a["confidence"]) < p]
    assert 100 < len(unsure) < 200
    for a, b in zip(*rows):
        assert [a[k] for k in a if k != "label"] == [b[k] for k in b if k != "label"]  # probabilities kept
        assert b["label"] == ("uncertain" if float(a["confidence"]) < p else a["label"])
    assert f"warning: {len(unsure)} of 300 row(s) had a top probability below {p:g} and are labelled 'uncertain'" \
        in result.stderr
    clf = hbilstm.load(trained_run, device="cpu")
    texts = [row["text"] for row in rows[0]]
    assert clf.predict(texts, min_confidence=p) == [row["label"] for row in rows[1]]
    with pytest.raises(hbilstm.errors.ConfigError, match="between 0 and 1"):
        clf.predict(texts[:2], min_confidence=2)
