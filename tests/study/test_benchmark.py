"""hbilstm benchmark tweeteval (issue 30, item 2): over two tasks cut to a few hundred training
tweets (with decision offsets), the leaderboard files, the prediction files in the layout TweetEval's scorer reads (and
scoring what the leaderboard says), a rerun that trains nothing again, and bad task names."""

import csv
import json

import pytest
from conftest import SHARED
from typer.testing import CliRunner

from hbilstm.cli import app
from hbilstm.data.corpora import STANCE_TARGETS
from hbilstm.study.tweeteval import PUBLISHED, TASKS, WITHOUT_OFFSETS, leaderboard_rows, parse_tasks, val_mean

runner = CliRunner()
TINY = ["--set", "epochs=1", "--set", "hidden=8", "--set", "max_train=200", "--set", "ngram_buckets=4096"]


def official_from_files(task, prediction_files):
    from sklearn.metrics import classification_report

    folders = [f"tweeteval-stance-{t}" for t in STANCE_TARGETS] if task == "stance" else [f"tweeteval-{task}"]
    gold = [int(x) for f in folders for x in (SHARED / f / "test_labels.txt").read_text().split()]
    predicted = [int(x) for path in prediction_files for x in path.read_text().split()]
    assert len(predicted) == len(gold)  # every test tweet once, in the order of the test files
    report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    if task == "stance":
        return 100 * (report["1"]["f1-score"] + report["2"]["f1-score"]) / 2
    return 100 * report["1"]["f1-score"]


def test_a_benchmark_over_two_tasks_writes_the_leaderboard_and_the_scorers_files_and_resumes(tmp_path):
    out = tmp_path / "bench"
    command = ["benchmark", "tweeteval", "-o", str(out), "--tasks", "irony,stance", "--seeds", "2",
               "--data-dir", str(SHARED), *TINY, "--set", "decision_offsets=true"]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    for name in ("leaderboard.md", "leaderboard.html", "leaderboard.csv", "leaderboard.png"):
        assert (out / name).stat().st_size > 0
    rows = {row["system"]: row for row in csv.DictReader((out / "leaderboard.csv").open())}
    assert set(rows) == {*PUBLISHED, "hbilstm", WITHOUT_OFFSETS} and rows["LSTM"]["all_te"] == "56.5000"
    ours = rows["hbilstm"]
    assert ours["all_te"] == "" and ours["emoji"] == ""  # five tasks not run: no ALL(TE)
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert len(runs) == 4
    for task in ("irony", "stance"):
        seed_one = json.loads((out / "runs" / f"s1-data=tweeteval-{task}" / "results.json").read_text())
        seed_two = json.loads((out / "runs" / f"s2-data=tweeteval-{task}" / "results.json").read_text())
        metric = seed_one["metric"]
        assert metric == {"irony": "irony_f1", "stance": "stance_f1"}[task]
        mean = 100 * (seed_one["test"][metric] + seed_two["test"][metric]) / 2
        assert float(ours[task]) == pytest.approx(mean, abs=1e-3)
        # the same models without their offsets: the row before ours, from what each run recorded
        without = 50 * sum(seed["decision_offsets"]["test_without"] for seed in (seed_one, seed_two))
        assert float(rows[WITHOUT_OFFSETS][task]) == pytest.approx(without, abs=1e-3)
        files = ([out / "predictions" / "stance" / f"{t}.txt" for t in STANCE_TARGETS] if task == "stance"
                 else [out / "predictions" / f"{task}.txt"])
        # the files hold the first seed's predictions: the scorer gives its score
        assert official_from_files(task, files) == pytest.approx(100 * seed_one["test"][metric], abs=1e-6)
    page = (out / "leaderboard.md").read_text()
    assert "| irony | F1 of irony | 1, 2 |" in page and "Time on the machine" in page
    # val, where recipes are chosen: each run's score there before its offsets were fitted
    val = {task: 50 * sum(json.loads((out / "runs" / f"s{seed}-data=tweeteval-{task}" / "results.json").read_text())
                          ["decision_offsets"]["val_without"] for seed in (1, 2)) for task in ("irony", "stance")}
    assert f"over the 2 task(s) of each task's mean (official metric, without decision offsets): " \
           f"**{(val['irony'] + val['stance']) / 2:.2f}**" in page
    (stance_line,) = [line for line in page.splitlines() if line.startswith("| stance |")]
    assert stance_line.endswith(f"| {val['stance']:.2f} |")

    models = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/model.pt")}
    again = runner.invoke(app, command)
    assert again.exit_code == 0, again.output
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/model.pt")} == models  # nothing retrained
    sessions = json.loads((out / "benchmark.json").read_text())["sessions"]
    assert len(sessions) == 2 and all(s["seconds"] > 0 and s["machine"] for s in sessions)


def test_an_unknown_task_or_benchmark_is_one_line_and_exit_2(tmp_path):
    result = runner.invoke(app, ["benchmark", "tweeteval", "-o", str(tmp_path / "b"), "--tasks", "irony,sarcasm"])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "sarcasm" in result.stderr
    assert all(task in result.stderr for task in TASKS)
    result = runner.invoke(app, ["benchmark", "glue", "-o", str(tmp_path / "b")])
    assert result.exit_code == 2 and "tweeteval" in result.stderr
    assert not (tmp_path / "b").exists()


def test_all_te_is_the_mean_of_the_seven_task_means():
    scores = {task: {"scores": [40.0 + i, 42.0 + i]} for i, task in enumerate(TASKS)}
    ours = leaderboard_rows(scores)[-1]
    assert ours["system"] == "hbilstm"
    assert ours["cells"]["irony"] == (44.0, pytest.approx(1.4142, abs=1e-4))
    assert ours["all"] == pytest.approx(sum(41.0 + i for i in range(7)) / 7)
    assert parse_tasks("tweeteval-irony, emoji") == ["irony", "emoji"] and parse_tasks(None) == list(TASKS)
    assert WITHOUT_OFFSETS not in [row["system"] for row in leaderboard_rows(scores)]  # no run had offsets


def test_the_val_mean_needs_every_run_scored_on_val():
    scores = {"irony": {"scores": [60.0, 62.0], "val": [64.0, 66.0]}, "stance": {"scores": [61.0], "val": [70.0]}}
    assert val_mean(scores) == pytest.approx((65.0 + 70.0) / 2)
    scores["stance"]["val"] = []
    assert val_mean(scores) is None and val_mean({}) is None


def test_models_with_decision_offsets_are_shown_without_them_too_when_every_run_recorded_it():
    scores = {task: {"scores": [50.0 + i], "without": [49.0 + i]} for i, task in enumerate(TASKS)}
    *_, without, ours = leaderboard_rows(scores)
    assert (without["system"], ours["system"]) == (WITHOUT_OFFSETS, "hbilstm")
    assert without["all"] == pytest.approx(ours["all"] - 1.0) and without["cells"]["emoji"] == (49.0, None)
    scores["emoji"]["without"] = []  # one task trained without them: no such row, rather than a mixed one
    assert leaderboard_rows(scores)[-2]["system"] == "BERTweet"


def test_a_depth_sweep_on_a_task_with_a_class_wise_metric_writes_its_report(tmp_path):
    """compare on irony, whose official metric is the F1 of one class, reports by that metric."""
    out = tmp_path / "irony"
    result = runner.invoke(app, ["compare", "-o", str(out), "--data", "tweeteval-irony", "--data-dir", str(SHARED),
                                 "--depths", "1", "--carry", "plain,highway", "--seeds", "2", *TINY])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metric"] == "irony_f1"
    assert all(row["irony_f1_n"] == 2 and row["irony_f1_mean"] is not None for row in summary["rows"])
    assert "F1 of irony" in (out / "report.md").read_text()
    with open(out / "results.csv", newline="") as handle:  # each run's own official score, in a column
        rows = list(csv.DictReader(handle))
    for row in rows:
        saved = json.loads((out / "runs" / row["run"] / "results.json").read_text())["test"]
        assert float(row["test_irony_f1"]) == pytest.approx(saved["irony_f1"], abs=1e-6)
