"""The depth study: a tiny sweep on real tweets produces every report file; reruns skip."""

import csv
import json

import pytest
from typer.testing import CliRunner

from hbilstm.cli import app
from hbilstm.cli.compare import parse_extra_options
from hbilstm.config import TrainConfig
from hbilstm.errors import ConfigError
from hbilstm.study.sweep import plan

runner = CliRunner()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("compare") / "study"
    args = ["compare", "--depths", "1,3", "--carry", "plain,highway", "--seeds", "1", "--out", str(out),
            "--data-dir", str(data_dir), "--epochs", "2", "--hidden", "8", "--embedding-dim", "16",
            "--min-freq", "1", "--batch-size", "32"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, args, result


def test_every_report_file_is_written(sweep):
    out, _, _ = sweep
    for name in ("results.csv", "summary.json", "report.md", "report.html", "sweep.json"):
        assert (out / name).is_file(), name
    names = sorted(p.name for p in (out / "runs").iterdir())
    assert names == ["highway-L1-s1", "highway-L3-s1", "plain-L1-s1", "plain-L3-s1"]


def test_every_configuration_appears_in_the_tables(sweep):
    out, _, _ = sweep
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((r["carry"], r["depth"], r["status"]) for r in rows) == [
        ("highway", "1", "finished"),
        ("highway", "3", "finished"),
        ("plain", "1", "finished"),
        ("plain", "3", "finished"),
    ]
    for row in rows:  # the table holds each run's own numbers
        saved = json.loads((out / "runs" / row["run"] / "results.json").read_text())["test"]
        assert float(row["test_macro_recall"]) == pytest.approx(saved["macro_recall"], abs=1e-6)
        assert 0 < float(row["test_ece"]) == pytest.approx(saved["ece"], abs=1e-6)  # each run's calibration error
    summary = json.loads((out / "summary.json").read_text())
    assert all(r["ece_mean"] is not None for r in summary["rows"])
    assert sorted((r["carry"], r["depth"]) for r in summary["rows"]) == [
        ("highway", 1),
        ("highway", 3),
        ("plain", 1),
        ("plain", 3),
    ]
    assert [t["depth"] for t in summary["paired_tests"]] == [1, 3]
    assert summary["findings"] and summary["provenance"]["data"]["dataset"] == "tweeteval-sentiment"
    report = (out / "report.md").read_text()
    for carry, depth in (("plain", "1"), ("plain", "3"), ("highway", "1"), ("highway", "3")):
        assert f"| {carry} | {depth} |" in report
    assert "## Findings" in report and "## Settings" in report


def test_plots_are_valid_images_and_embedded_in_the_html(sweep):
    import matplotlib.image

    out, _, _ = sweep
    plots = sorted((out / "plots").glob("*.png"))
    assert {p.name for p in plots} >= {
        "metric_vs_depth.png",
        "train_loss_vs_depth.png",
        "loss_curves.png",
        "gates_highway.png",
    }
    for plot in plots:
        image = matplotlib.image.imread(plot)
        assert image.shape[0] > 100 and image.shape[1] > 100
        assert plot.name in (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(plots)
    assert "<img" in page and 'src="plots/' not in page  # self-contained


def test_gate_telemetry_is_what_the_saved_model_does_on_val(sweep):
    import torch

    from hbilstm.checkpoint import load_checkpoint
    from hbilstm.config import load_config
    from hbilstm.data.corpora import load_corpus
    from hbilstm.inference import layer_statistics
    from hbilstm.training.parts import build

    out, _, _ = sweep
    run = out / "runs" / "highway-L3-s1"
    layers = json.loads((run / "results.json").read_text())["layers"]
    assert [e["layer"] for e in layers] == [1, 2, 3]
    config = load_config(run / "config.yaml")
    parts = build(config, load_corpus(config.data, config.data_dir), torch.device("cpu"), None, lambda line: None)
    parts.model.load_state_dict(load_checkpoint(run / "model.pt")["state_dict"])
    again = layer_statistics(parts.model, parts.data.val.ids)
    for saved, recomputed in zip(layers, again):
        assert saved["gate_mean"] == pytest.approx(recomputed["gate_mean"], abs=1e-6)
        assert saved["output_norm"] == pytest.approx(recomputed["output_norm"], rel=1e-5)


def test_rerun_skips_finished_runs(sweep):
    out, args, _ = sweep
    before = {p.name: p.stat().st_mtime_ns for p in (out / "runs").rglob("model.pt")}
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    after = {p.name: p.stat().st_mtime_ns for p in (out / "runs").rglob("model.pt")}
    assert before == after
    assert "test macro-recall" not in result.stderr  # no run trained again


def test_report_command_rebuilds_from_runs(sweep):
    out, _, _ = sweep
    (out / "report.md").unlink()
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "report.md").is_file() and "4 of 4 runs finished" in result.stderr


def test_any_option_can_be_swept_or_fixed():
    options = parse_extra_options(["--gate-bias", "-1,-2,-3", "--hidden", "64", "--epochs=5"])
    assert options == {"gate_bias": [-1, -2, -3], "hidden": [64], "epochs": [5]}
    runs = plan(TrainConfig(hidden=64), {"carry": ["highway"], "layers": [2], "seed": [1], "gate_bias": [-1.0, -3.0]},
                __import__("pathlib").Path("/tmp/x"))
    assert [r.name for r in runs] == ["highway-L2-s1-gate_bias=-1.0", "highway-L2-s1-gate_bias=-3.0"]
    assert [r.config.gate_bias for r in runs] == [-1.0, -3.0]
    with pytest.raises(ConfigError, match="unknown option 'colour'"):
        plan(TrainConfig(), {"colour": [1, 2]}, __import__("pathlib").Path("/tmp/x"))
    with pytest.raises(ConfigError, match="layers must be at least 1"):
        plan(TrainConfig(), {"layers": [0, 2]}, __import__("pathlib").Path("/tmp/x"))


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path, data_dir):
    out = tmp_path / "s"
    result = runner.invoke(
        app,
        [
            "compare",
            "--depths",
            "1",
            "--carry",
            "plain,highway",
            "--seeds",
            "1",
            "--out",
            str(out),
            "--data-dir",
            str(data_dir),
            "--epochs",
            "1",
            "--hidden",
            "4",
            "--lr",
            "1e30",
            "--clip",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    with open(out / "results.csv", newline="") as handle:
        statuses = {r["run"]: r["status"] for r in csv.DictReader(handle)}
    assert statuses == {"plain-L1-s1": "diverged", "highway-L1-s1": "diverged"}
    assert "diverged" in (out / "report.md").read_text()


def test_data_that_cannot_be_read_is_one_error_before_any_run(tmp_path, data_dir):
    table = tmp_path / "tweets.csv"
    table.write_text("tweet,label\nso good,positive\n", encoding="utf-8")
    broken = tmp_path / "data"
    (broken / "tweeteval-irony").mkdir(parents=True)
    (broken / "tweeteval-irony" / "train_text.txt").write_text("so good\n", encoding="utf-8")
    # each run once failed alone, recorded, and the sweep exited 0 with a report of failures
    for args, message in (
            (["compare", "--depths", "1", "--carry", "plain", "--seeds", "1", "--data", str(table)],
             f"error: {table}: no column 'text' (columns: tweet, label)"),
            (["benchmark", "tweeteval", "--tasks", "irony", "--seeds", "1", "--data-dir", str(broken)],
             f"error: {broken / 'tweeteval-irony'} lacks train_labels.txt")):
        out = tmp_path / args[0]
        result = runner.invoke(app, [*args, "-o", str(out), "--set", "epochs=1", "--set", "hidden=4"])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(message) and len(result.stderr.splitlines()) == 1, result.stderr
        assert not (out / "runs").exists()


def test_jobs_run_in_parallel_processes_and_give_the_serial_results(tmp_path, data_dir):
    import torch

    from hbilstm.checkpoint import load_checkpoint

    threads = torch.get_num_threads()
    # one torch thread in every run, serial or not, so that sums are added in the same order
    common = ["--depths", "1", "--carry", "plain,highway", "--seeds", "1", "--data-dir", str(data_dir),
              "--epochs", "1", "--hidden", "4", "--embedding-dim", "8", "--min-freq", "1", "--threads", "1"]
    for jobs, name in (("1", "serial"), ("2", "parallel")):
        result = runner.invoke(app, ["compare", *common, "--jobs", jobs, "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    for run in ("plain-L1-s1", "highway-L1-s1"):
        a = json.loads((tmp_path / "serial" / "runs" / run / "results.json").read_text())["test"]
        b = json.loads((tmp_path / "parallel" / "runs" / run / "results.json").read_text())["test"]
        assert a["n"] == b["n"] == 150 and a == b
        weights = [
            load_checkpoint(tmp_path / name / "runs" / run / "model.pt")["state_dict"]
            for name in ("serial", "parallel")
        ]
        assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert torch.get_num_threads() == threads  # the serial runs gave the thread count back


def test_a_sweep_on_data_without_a_test_split_reports_val_scores_as_val(tmp_path, data_dir):
    folder = data_dir / "tweeteval-sentiment"
    rows = list(zip((folder / "train_text.txt").read_text().splitlines()[:200],
                    (folder / "train_labels.txt").read_text().splitlines()[:200]))
    single = tmp_path / "tweets.csv"  # one file: training holds out 10% for validation, no test split
    with open(single, "w", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])
    out = tmp_path / "study"
    result = runner.invoke(app, ["compare", "--depths", "1", "--carry", "highway", "--seeds", "1", "--out", str(out),
                                 "--data", str(single), "--epochs", "1", "--hidden", "4", "--embedding-dim", "8",
                                 "--min-freq", "1"])
    assert result.exit_code == 0, result.output
    assert "highway-L1-s1: val macro-recall" in result.stderr
    assert json.loads((out / "summary.json").read_text())["split"] == "val"
    report = (out / "report.md").read_text()
    assert "validation split: the runs' data has no test split" in report
    assert "| val macro-recall |" in report and "test macro-recall" not in report
    with open(out / "results.csv", newline="") as handle:
        row = next(csv.DictReader(handle))
    assert row["test_macro_recall"] == "" and row["val_metric"] != ""


def test_rerun_with_another_fixed_option_is_refused_and_changes_nothing(sweep):
    out, args, _ = sweep
    before = (out / "sweep.json").read_text()
    models = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("model.pt")}
    changed = [a if a != "8" else "12" for a in args]  # --hidden 8 -> --hidden 12
    assert changed != args
    result = runner.invoke(app, changed)
    assert result.exit_code == 2, result.output
    assert "runs/plain-L1-s1 was trained with hidden 8, this sweep asks 12" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (out / "sweep.json").read_text() == before
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("model.pt")} == models


def test_a_study_extended_in_the_same_folder_keeps_every_depth_and_command(tmp_path, data_dir):
    out = tmp_path / "study"
    common = ["compare", "--carry", "highway", "--seeds", "1", "--output", str(out), "--data-dir", str(data_dir),
              "--epochs", "1", "--hidden", "4", "--embedding-dim", "8", "--min-freq", "1"]
    for depths in ("2", "1"):
        result = runner.invoke(app, [*common, "--depths", depths])
        assert result.exit_code == 0, result.output
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["axes"]["layers"] == [1, 2] and len(sweep["commands"]) == 2
    report = (out / "report.md").read_text()
    assert "swept: carry = ['highway'], layers = [1, 2], seed = [1]" in report and "; then `hbilstm" in report
    assert "| highway | 1 |" in report and "| highway | 2 |" in report
