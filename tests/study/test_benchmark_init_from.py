"""``hbilstm benchmark --init-from TASK`` (issue 30): each other task's run starts from the model of
TASK's run of the same seed, and never before that run has finished; a run whose source failed is
recorded as failed, not trained from nothing."""

import json

from conftest import SHARED
from typer.testing import CliRunner

from hbilstm.cli import app
from hbilstm.config import TrainConfig
from hbilstm.study.sweep import OUTCOME_FILE, PlannedRun, take_next
from hbilstm.study.tweeteval import plan_benchmark

runner = CliRunner()
TINY = ["--set", "epochs=1", "--set", "hidden=8", "--set", "max_train=200", "--set", "ngram_buckets=4096"]


def test_each_task_starts_from_the_source_run_of_its_seed_and_a_rerun_trains_nothing(tmp_path):
    # irony as the source (a small task: sentiment's would work the same, only slower);
    # two jobs: stance would start beside irony, and fail for want of its model, if it did not wait
    out = tmp_path / "bench"
    command = ["benchmark", "tweeteval", "-o", str(out), "--tasks", "stance", "--seeds", "1", "--jobs", "2",
               "--init-from", "irony", "--data-dir", str(SHARED), *TINY]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    source = (out / "runs" / "s1-data=tweeteval-irony").resolve()
    stance = out / "runs" / "s1-data=tweeteval-stance"
    assert (source / "results.json").is_file()  # irony was trained though --tasks left it out
    assert "exclude_held_out: true" in (source / "config.yaml").read_text()
    assert "exclude_held_out: false" in (stance / "config.yaml").read_text()
    started = json.loads((stance / "manifest.json").read_text())["embeddings"]["init"]
    assert started["encoder"] == str(source / "model.pt") and started["weights"] > 0
    assert started["classifiers"] is False  # other labels: its own classifiers
    assert started["words_pretrained"] > 0
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["axes"]["data"] == ["tweeteval-irony", "tweeteval-stance"]
    page = (out / "leaderboard.md").read_text()
    assert "| irony | F1 of irony | 1 |" in page and "| stance | F1 of against and favor | 1 |" in page

    models = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/model.pt")}
    again = runner.invoke(app, command)
    assert again.exit_code == 0, again.output
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/model.pt")} == models


def test_a_run_whose_source_failed_is_recorded_as_failed_and_retried_with_it(tmp_path):
    out = tmp_path / "bench"
    failed = out / "runs" / "s1-data=tweeteval-sentiment"
    failed.mkdir(parents=True)
    (failed / OUTCOME_FILE).write_text(json.dumps({"status": "diverged", "message": "loss became nan"}))
    result = runner.invoke(app, ["benchmark", "tweeteval", "-o", str(out), "--tasks", "irony", "--seeds", "1",
                                 "--init-from", "sentiment", "--data-dir", str(SHARED), *TINY])
    assert result.exit_code == 0, result.output
    outcome = json.loads((out / "runs" / "s1-data=tweeteval-irony" / OUTCOME_FILE).read_text())
    assert outcome["status"] == "failed"
    assert outcome["message"] == ("not trained: s1-data=tweeteval-sentiment, the run it starts from, "
                                  "did not finish (failed)")
    assert not (out / "runs" / "s1-data=tweeteval-irony" / "model.pt").exists()


def test_the_plan_puts_the_source_first_in_each_seed_and_points_the_others_at_it(tmp_path):
    base = TrainConfig(data_dir=str(SHARED))
    runs = plan_benchmark(base, ["irony", "stance"], 2, tmp_path, "sentiment")
    assert [r.name for r in runs] == [
        "s1-data=tweeteval-sentiment", "s1-data=tweeteval-irony", "s1-data=tweeteval-stance",
        "s2-data=tweeteval-sentiment", "s2-data=tweeteval-irony", "s2-data=tweeteval-stance"]
    for run in runs:
        if run.config.data == "tweeteval-sentiment":  # without the others' val and test tweets
            assert run.after is None and run.config.init is None and run.config.exclude_held_out
        else:
            assert run.after.name == f"s{run.config.seed}-data=tweeteval-sentiment"
            assert not run.config.exclude_held_out
            assert run.config.init == str(run.after.run_dir.resolve())
    assert all(r.after is None for r in plan_benchmark(base, ["irony"], 1, tmp_path / "plain"))


def test_a_run_waits_while_its_source_waits_or_trains(tmp_path):
    def run(name, after=None):
        return PlannedRun(name, TrainConfig(), tmp_path / name, after)

    source = run("source")
    other, plain = run("other", source), run("plain")
    heard, outcomes = [], []

    def notify(event, planned, info):
        heard.append((event, planned.name))

    waiting = [other, plain]
    assert take_next(waiting, {"source"}, outcomes, notify) is plain  # its source is training: the next one
    assert take_next(waiting, {"source"}, outcomes, notify) is None  # only the one that waits is left
    assert waiting == [other] and not outcomes
    (tmp_path / "source").mkdir()
    (tmp_path / "source" / "results.json").write_text("{}")  # finished
    assert take_next(waiting, set(), outcomes, notify) is other and waiting == [] and not heard
    waiting = [run("after-new", run("never-trained")), plain]
    assert take_next(waiting, set(), outcomes, notify) is plain  # the first could never start: recorded
    assert [o["status"] for o in outcomes] == ["failed"] and heard == [("done", "after-new")]
    assert "did not finish (new)" in outcomes[0]["message"]


def test_bad_init_from_is_one_line_and_exit_2(tmp_path):
    for extra, words in ((["--init-from", "sarcasm"], "unknown TweetEval task 'sarcasm'"),
                         (["--init-from", "irony,stance"], "--init-from takes one task"),
                         (["--init-from", "sentiment", "--set", "init=/some/model"], "give one or the other")):
        result = runner.invoke(app, ["benchmark", "tweeteval", "-o", str(tmp_path / "b"), "--tasks", "irony",
                                     "--data-dir", str(SHARED), *extra])
        assert result.exit_code == 2, result.output
        assert words in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()
