"""The report's wording, built from hand-made sweep folders (no training): the fixed settings,
n = 1 without a spread, the chance level on the depth plot, and findings one can check."""

from __future__ import annotations

import itertools
import json
import re
import statistics
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from hbilstm.config import TrainConfig
from hbilstm.study import plots
from hbilstm.study.collect import Run
from hbilstm.study.report import build_report
from hbilstm.study.stats import format_p
from hbilstm.study.sweep import RUNS_DIR, SWEEP_FILE, run_name

LABELS = ["negative", "neutral", "positive"]
SUPPORT = {"negative": 30, "neutral": 50, "positive": 20}  # the majority class holds half the split


def split_scores(value: float, per_class: bool = True) -> dict:
    """A results.json split in which every summary metric equals ``value``."""
    scores = {"n": sum(SUPPORT.values()), "accuracy": value, "macro_f1": value, "macro_recall": value,
              "macro_precision": value, "macro_over": LABELS, "labels": LABELS}
    if per_class:
        scores["per_class"] = {name: {"precision": value, "recall": value, "f1": value, "support": n}
                               for name, n in SUPPORT.items()}
    return scores


def make_study(out: Path, scores: dict[tuple[str, int], list[float]], per_class: bool = True,
               **options) -> Path:
    """A compare folder: sweep.json and one finished run directory per (carry, depth, seed), the
    seeds numbered from 1 in the order of ``scores[(carry, depth)]``, and the report built from
    them. ``options`` are the settings every run shares; one given as a list is swept (one run per
    value)."""
    swept = {k: v for k, v in options.items() if isinstance(v, list)}
    fixed = {k: v for k, v in options.items() if not isinstance(v, list)}
    seeds = max(len(v) for v in scores.values())
    axes = {"carry": sorted({c for c, _ in scores}), "layers": sorted({d for _, d in scores}),
            "seed": list(range(1, seeds + 1)), **swept}
    base = TrainConfig(**fixed)
    combos = [dict(zip(swept, values)) for values in itertools.product(*swept.values())]
    for (carry, depth), values in scores.items():
        for seed, value in enumerate(values, start=1):
            for combo in combos:
                changes = {"carry": carry, "layers": depth, "seed": seed, **combo}
                folder = out / RUNS_DIR / run_name(changes)
                folder.mkdir(parents=True)
                config = base.replace(**changes).to_dict()
                (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
                history = [
                    {"epoch": e, "train_loss": 1.1 - 0.1 * e, "seconds": 2.0, "val_seconds": 0.5} for e in (1, 2)
                ]
                (folder / "metrics.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history), encoding="utf-8")
                results = {"metric": "macro_recall", "best_epoch": 2, "epochs_run": 2, "parameters": 1000 * depth,
                           "val": split_scores(value, per_class), "test": split_scores(value, per_class)}
                (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    (out / SWEEP_FILE).write_text(json.dumps({"axes": axes, "base": base.to_dict(),
                                              "commands": [["hbilstm", "compare", "--out", str(out)]]}),
                                  encoding="utf-8")
    build_report(out)
    return out


def fixed_settings(report: str) -> dict[str, str]:
    (line,) = [line for line in report.splitlines() if line.startswith("- fixed: ")]
    return dict(item.split(" = ", 1) for item in line.removeprefix("- fixed: ").split(", "))


def test_fixed_settings_name_every_option_the_runs_share(tmp_path):
    out = make_study(tmp_path / "s", {("plain", 1): [0.5], ("highway", 1): [0.55]}, max_train=16000,
                     weight_decay=0.02, clip=0.5, min_freq=1, gate_bias=[-1.0, -3.0], threads=1, data_dir="/data")
    fixed = fixed_settings((out / "report.md").read_text(encoding="utf-8"))
    assert fixed["max_train"] == "16000"
    assert fixed["weight_decay"] == "0.02" and fixed["clip"] == "0.5" and fixed["min_freq"] == "1"
    # not listed: the axes (gate_bias swept beside carry, layers and seed), and what does not change
    # what a run learns: where and how fast it trained, where the data was read from, where it logged
    not_settings = {"carry", "layers", "seed", "gate_bias", "device", "threads", "data_dir", "log_to"}
    assert set(fixed) == {f.name for f in fields(TrainConfig)} - not_settings
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["provenance"]["fixed"]["max_train"] == 16000


def test_one_seed_shows_n_1_and_no_spread(tmp_path):
    out = make_study(tmp_path / "s", {("plain", 1): [0.50], ("highway", 1): [0.55],
                                      ("plain", 4): [0.40], ("highway", 4): [0.56]})
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    texts = {"report.md": (out / "report.md").read_text(encoding="utf-8"),
             "report.html": (out / "report.html").read_text(encoding="utf-8"),
             "findings": "\n".join(summary["findings"])}
    for name, text in texts.items():
        assert "± 0.0" not in text, name
        assert "n = 1" in text, name
    assert "| highway | 4 | 1 | 56.0 (n = 1) |" in texts["report.md"]
    assert all(row["macro_recall_n"] == 1 and row["macro_recall_std"] is None for row in summary["rows"])


def test_several_seeds_show_mean_sd_and_n(tmp_path):
    out = make_study(tmp_path / "s", {("plain", 1): [0.50, 0.52], ("highway", 1): [0.55, 0.58]})
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| highway | 1 | 2 | 56.5 ± 2.1 |" in report
    assert "mean ± sd over n = 2 seeds" in report
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert any("56.5 ± 2.1 (n = 2)" in line for line in summary["findings"])


@pytest.fixture
def saved_figures(monkeypatch):
    """What each plot looked like when it was saved: {file name: (y limits, y label, lines, texts)}."""
    seen = {}
    original = plots._save

    def spy(fig, path):
        ax = fig.axes[0]
        seen[path.name] = (ax.get_ylim(), ax.get_ylabel(), list(ax.get_lines()), [t.get_text() for t in ax.texts])
        original(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    return seen


@pytest.mark.parametrize("metric, per_class, chance", [
    ("macro_recall", True, 100 / 3),   # 1 / classes
    ("accuracy", True, 50.0),          # the majority class's share of the test split
    ("accuracy", False, 100 / 3),      # no class counts saved: 1 / classes
])
def test_depth_plot_shows_chance_and_starts_there(tmp_path, saved_figures, metric, per_class, chance):
    out = make_study(tmp_path / "s", {("plain", 1): [0.55, 0.56], ("highway", 1): [0.56, 0.57],
                                      ("plain", 2): [0.55, 0.555], ("highway", 2): [0.57, 0.575]}, per_class=per_class)
    build_report(out, metric)
    (low, high), label, lines, texts = saved_figures["metric_vs_depth.png"]
    (line,) = [line for line in lines if line.get_label() == "chance"]
    assert line.get_linestyle() == "--"
    assert all(y == pytest.approx(chance) for y in line.get_ydata())
    # the axis reaches down to chance, or says that it is zoomed
    assert low <= chance or "zoomed" in (label + " ".join(texts)).lower()
    assert high >= 57.5


def finding(facts: list[str], start: str) -> str:
    (line,) = [f for f in facts if f.startswith(start)]
    return line


def test_findings_name_configurations_numbers_and_test(tmp_path):
    highway = [0.610, 0.615, 0.622]
    plain = [0.333, 0.333, 0.334]
    out = make_study(tmp_path / "s", {("plain", 1): [0.50, 0.51, 0.52], ("highway", 1): [0.51, 0.50, 0.53],
                                      ("plain", 16): plain, ("highway", 16): highway})
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    facts = summary["findings"]
    for line in facts:  # full sentences
        assert line[0].isupper() and line.endswith("."), line
    test = next(t for t in summary["paired_tests"] if t["depth"] == 16)
    h = f"{100 * statistics.fmean(highway):.1f} ± {100 * statistics.stdev(highway):.1f} (n = 3)"
    p = f"{100 * statistics.fmean(plain):.1f} ± {100 * statistics.stdev(plain):.1f} (n = 3)"
    deep = finding(facts, "At depth 16,")
    assert f"highway scores {h} and plain {p}" in deep
    assert f"{100 * test['mean_difference']:+.1f} points" in deep
    holm = format_p(test["p_holm"])
    assert "paired t-test" in deep and f"Holm-adjusted p {holm if holm.startswith('<') else '= ' + holm}" in deep
    assert test["significant"] and "beyond seed noise" in deep and "within" not in deep
    shallow = finding(facts, "At depth 1,")
    assert not next(t for t in summary["paired_tests"] if t["depth"] == 1)["significant"]
    assert "within seed noise" in shallow
    # the numbers are the table's
    report = (out / "report.md").read_text(encoding="utf-8")
    assert re.search(rf"\| highway \| 16 \| 3 \| [^|]+ \| [^|]+ \| {re.escape(h.removesuffix(' (n = 3)'))} \|", report)
    for line in facts:
        assert f"- {line}" in report


def test_findings_with_one_seed_claim_no_significance(tmp_path):
    out = make_study(tmp_path / "s", {("plain", 16): [0.333], ("highway", 16): [0.612]})
    facts = json.loads((out / "summary.json").read_text(encoding="utf-8"))["findings"]
    deep = finding(facts, "At depth 16,")
    assert "highway scores 61.2 (n = 1) and plain 33.3 (n = 1)" in deep and "+27.9 points" in deep
    assert "no test" in deep
    text = " ".join(facts)
    assert "p = " not in text and "p < " not in text and "beats" not in text and "significant" not in text


def test_findings_with_another_swept_option_name_it_as_the_tables_do(tmp_path):
    out = make_study(tmp_path / "s", {("plain", 2): [0.50, 0.52, 0.49], ("highway", 2): [0.55, 0.58, 0.56]},
                     gate_bias=[-1.0, -3.0])
    facts = json.loads((out / "summary.json").read_text(encoding="utf-8"))["findings"]
    report = (out / "report.md").read_text(encoding="utf-8")
    for bias in ("-1.0", "-3.0"):
        assert finding(facts, f"At depth 2 (gate_bias = {bias}),")
        assert re.search(rf"^\| 2 \| {re.escape(bias)} \| 3 \| \+6\.00 \|", report, re.MULTILINE)  # the tests table
    assert "at depths 2 (gate_bias = -3.0) and 2 (gate_bias = -1.0)." in " ".join(facts)  # by size


def test_runs_that_differ_only_in_how_they_were_executed_share_a_row():
    from hbilstm.study.collect import Run, swept_keys

    def run(seed, threads, device, data_dir, **extra):
        config = {**TrainConfig(threads=threads, device=device, data_dir=data_dir, **extra).to_dict(), "seed": seed}
        return Run(f"r{seed}", config, "finished")

    resumed = [run(1, 0, "auto", "/a"), run(2, 1, "cpu", "/b"), run(3, 2, "cuda", "/c")]
    assert swept_keys(resumed) == []
    assert swept_keys([*resumed, run(4, 0, "auto", "/a", hidden=16)]) == ["hidden"]


def test_runs_written_before_an_option_existed_take_its_default(tmp_path):
    from hbilstm.study.collect import collect

    out = make_study(tmp_path / "s", {("plain", 1): [0.5, 0.52], ("highway", 1): [0.55, 0.56]})
    old = out / RUNS_DIR / run_name({"carry": "plain", "layers": 1, "seed": 1}) / "config.yaml"
    config = yaml.safe_load(old.read_text())
    del config["lexicon"], config["embedding_noise"]  # as a run of an older hbilstm wrote it
    old.write_text(yaml.safe_dump(config))
    runs = collect(out)
    assert {r.config["lexicon"] for r in runs} == {"none"}
    build_report(out)
    assert "lexicon" not in (out / "report.md").read_text().split("## Results")[1].split("\n")[2]


def test_a_swept_option_gets_its_own_line_in_every_plot_and_its_values_sort_by_size(tmp_path, monkeypatch):
    legends = {}
    original = plots._save

    def spy(fig, path):
        legends[path.name] = fig.axes[0].get_legend_handles_labels()[1]
        original(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    out = make_study(tmp_path / "s", {("highway", 2): [0.55, 0.56], ("highway", 16): [0.56, 0.57]},
                     gate_bias=[2.0, -1.0, -3.0])
    # every bias was one line averaged together once, and the report's table came in the order -1, -3, 2
    series = ["highway, gate_bias = -3.0", "highway, gate_bias = -1.0", "highway, gate_bias = 2.0"]
    assert [label for label in legends["metric_vs_depth.png"] if label != "chance"] == series
    assert legends["train_loss_vs_depth.png"] == series
    assert legends["loss_curves.png"] == series
    rows = re.findall(r"^\| highway \| (\d+) \| (-?\d\.0) \|", (out / "report.md").read_text(encoding="utf-8"),
                      re.MULTILINE)
    assert rows == [("2", "-3.0"), ("16", "-3.0"), ("2", "-1.0"), ("16", "-1.0"), ("2", "2.0"), ("16", "2.0")]
    runs = [Run(f"r{i}", {"carry": "highway", "layers": 2, "seed": 1, "gate_bias": bias}, "finished",
                {"layers": [{"layer": 1, "gate_mean": t}, {"layer": 2, "gate_mean": t + 0.1}]})
            for i, (bias, t) in enumerate(((2.0, 0.8), (-2.0, 0.1)))]
    assert plots.layer_rows(runs, "highway", "gate_mean") == (
        ["2, gate_bias = -2.0", "2, gate_bias = 2.0"], [[0.1, pytest.approx(0.2)], [0.8, pytest.approx(0.9)]])
