"""The depth-study report, built from the finished runs of a sweep (``hbilstm report DIR``).

Writes into the sweep folder:

* ``results.csv``  one row per run (finished, diverged or failed);
* ``summary.json`` mean and standard deviation over seeds per (carry, depth, other swept options),
  the paired highway-versus-plain tests, the findings and the provenance;
* ``plots/*.png``  test metric against depth, final training loss against depth, training-loss
  curves, transform-gate activity per layer and the learned k per layer;
* ``report.md`` and a self-contained ``report.html`` (plots embedded).
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .fileio import atomic_open, write_json_atomic, write_text_atomic
from .metrics import METRIC_NAMES
from .sweep import OUTCOME_FILE, load_sweep, run_dirs

METRICS = ("accuracy", "macro_f1", "macro_recall")
CARRY_ORDER = ("plain", "highway", "residual", "gated-residual")
# One colour and marker per carry, distinguishable in colour-blind and grey-scale viewing.
STYLE = {
    "plain": ("#d55e00", "o"),
    "highway": ("#0072b2", "s"),
    "residual": ("#009e73", "^"),
    "gated-residual": ("#cc79a7", "D"),
}


@dataclass
class Run:
    name: str
    config: dict
    status: str  # finished | diverged | failed | interrupted
    results: dict | None = None
    history: list[dict] = field(default_factory=list)
    message: str = ""
    manifest: dict | None = None

    @property
    def carry(self) -> str:
        return self.config["carry"]

    @property
    def depth(self) -> int:
        return int(self.config["layers"])

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    def test(self, metric: str) -> float | None:
        if not self.results:
            return None
        split = self.results.get("test") or self.results.get("val")
        return split[metric] if split else None

    @property
    def final_train_loss(self) -> float | None:
        return self.history[-1]["train_loss"] if self.history else None

    @property
    def seconds(self) -> float | None:
        return sum(r["seconds"] + r.get("val_seconds", 0) for r in self.history) if self.history else None


def collect(out: Path) -> list[Run]:
    runs = []
    for folder in run_dirs(out):
        config_path = folder / "config.yaml"
        if not config_path.is_file():
            continue
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        history = [json.loads(line) for line in _lines(folder / "metrics.jsonl")]
        manifest = _json(folder / "manifest.json")
        results = _json(folder / "results.json")
        outcome = _json(folder / OUTCOME_FILE)
        if results is not None:
            status, message = "finished", ""
        elif outcome is not None:
            status, message = outcome["status"], outcome.get("message", "")
        else:
            status, message = "interrupted", "not finished; rerun the sweep to continue it"
        runs.append(Run(folder.name, config, status, results, history, message, manifest))
    return runs


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def swept_keys(runs: list[Run]) -> list[str]:
    """Options other than carry, layers and seed whose values differ between runs."""
    keys = []
    for key in runs[0].config if runs else []:
        if key in ("carry", "layers", "seed"):
            continue
        if len({json.dumps(r.config.get(key)) for r in runs}) > 1:
            keys.append(key)
    return keys


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _carry_rank(carry: str) -> int:
    return CARRY_ORDER.index(carry) if carry in CARRY_ORDER else len(CARRY_ORDER)


def summarise(runs: list[Run], metric: str) -> dict:
    extra = swept_keys(runs)
    groups: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        groups[(tuple(run.config.get(k) for k in extra), run.carry, run.depth)].append(run)
    rows = []
    for (others, carry, depth), members in sorted(groups.items(), key=lambda kv: (json.dumps(kv[0][0]), _carry_rank(kv[0][1]), kv[0][2])):
        done = [r for r in members if r.status == "finished"]
        row = {"carry": carry, "depth": depth, **dict(zip(extra, others)),
               "runs": len(members), "finished": len(done),
               "failed": [f"{r.name}: {r.status}" for r in members if r.status != "finished"]}
        for name in METRICS:
            row[f"{name}_mean"], row[f"{name}_std"] = _mean_std([r.test(name) for r in done])
        row["final_train_loss_mean"], row["final_train_loss_std"] = _mean_std([r.final_train_loss for r in done])
        row["parameters"] = done[0].results.get("parameters") if done else None
        row["seconds_mean"], _ = _mean_std([r.seconds for r in done])
        rows.append(row)
    return {"metric": metric, "swept": extra, "rows": rows}


def paired_tests(runs: list[Run], metric: str, a: str = "highway", b: str = "plain") -> list[dict]:
    """For each depth: ``a`` against ``b`` on the same seeds (and other options), a paired t-test
    on the test metric. Seeds pair because both stacks saw the same batches in the same order."""
    from scipy import stats

    extra = swept_keys(runs)
    done = [r for r in runs if r.status == "finished"]
    index = {(r.carry, r.depth, r.seed, tuple(r.config.get(k) for k in extra)): r for r in done}
    out = []
    for depth in sorted({r.depth for r in done}):
        for others in sorted({tuple(r.config.get(k) for k in extra) for r in done}, key=json.dumps):
            pairs = [
                (index[(a, depth, seed, others)].test(metric), index[(b, depth, seed, others)].test(metric))
                for seed in sorted({r.seed for r in done})
                if (a, depth, seed, others) in index and (b, depth, seed, others) in index
            ]
            if not pairs:
                continue
            diffs = [x - y for x, y in pairs]
            p = None
            if len(pairs) >= 2:
                if statistics.pstdev(diffs) == 0:
                    p = 0.0 if diffs[0] != 0 else 1.0
                else:
                    p = float(stats.ttest_rel([x for x, _ in pairs], [y for _, y in pairs]).pvalue)
            out.append({"depth": depth, **dict(zip(extra, others)), "pairs": len(pairs),
                        "mean_difference": statistics.fmean(diffs), "p_value": p,
                        "significant": p is not None and p < 0.05 and statistics.fmean(diffs) != 0})
    return out


def findings(summary: dict, tests: list[dict], num_classes: int | None) -> list[str]:
    """Plain sentences stating what the numbers say."""
    metric = summary["metric"]
    name = METRIC_NAMES.get(metric, metric)
    rows = [r for r in summary["rows"] if r[f"{metric}_mean"] is not None]
    if not rows:
        return ["No run has finished yet."]
    lines = []
    chance = 100.0 / num_classes if num_classes else None
    by_carry: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_carry[row["carry"]].append(row)
    for carry in sorted(by_carry, key=_carry_rank):
        series = sorted(by_carry[carry], key=lambda r: r["depth"])
        best = max(series, key=lambda r: r[f"{metric}_mean"])
        deepest = series[-1]
        value = 100 * deepest[f"{metric}_mean"]
        text = (f"{carry}: best test {name} {100 * best[f'{metric}_mean']:.1f} at depth {best['depth']}; "
                f"at depth {deepest['depth']} it is {value:.1f}, {100 * (best[f'{metric}_mean'] - deepest[f'{metric}_mean']):.1f} below its best")
        near_chance = chance is not None and metric in ("macro_recall", "accuracy")
        if near_chance and 100 * best[f"{metric}_mean"] <= chance + 2.0:
            text += f" (chance level is {chance:.1f}: no depth learned beyond it)"
        elif near_chance and value <= chance + 2.0:
            text += f" (chance level is {chance:.1f}: at this depth the stack no longer learns)"
        lines.append(text + ".")
    significant = [t for t in tests if t["significant"]]
    if tests:
        deep = max(tests, key=lambda t: t["depth"])
        p = "n/a (one seed)" if deep["p_value"] is None else f"{deep['p_value']:.3g}"
        lines.append(
            f"highway minus plain at depth {deep['depth']}: {100 * deep['mean_difference']:+.1f} points over "
            f"{deep['pairs']} seed(s), paired t-test p = {p}."
        )
        lines.append(
            "highway beats plain beyond seed noise (p < 0.05) at depths: "
            + (", ".join(str(t["depth"]) for t in significant if t["mean_difference"] > 0) or "none")
            + "."
        )
    return lines


# --------------------------------------------------------------------------- plots


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # An opaque white figure with dark ink reads the same in light and dark viewers.
    plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white",
                         "axes.grid": True, "grid.alpha": 0.3, "font.size": 10})
    return plt


def _save(fig, path: Path) -> None:
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110, bbox_inches="tight")


def plot_metric_vs_depth(summary: dict, path: Path, key: str, ylabel: str, scale: float = 100.0) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for carry in sorted({r["carry"] for r in summary["rows"]}, key=_carry_rank):
        rows = sorted((r for r in summary["rows"] if r["carry"] == carry and r[f"{key}_mean"] is not None), key=lambda r: r["depth"])
        if not rows:
            continue
        colour, marker = STYLE.get(carry, ("#333333", "x"))
        ax.errorbar([r["depth"] for r in rows], [scale * r[f"{key}_mean"] for r in rows],
                    yerr=[scale * (r[f"{key}_std"] or 0) for r in rows], label=carry, color=colour,
                    marker=marker, capsize=3, linewidth=1.6)
    ax.set_xscale("log", base=2)
    depths = sorted({r["depth"] for r in summary["rows"]})
    ax.set_xticks(depths, [str(d) for d in depths])
    ax.set_xlabel("depth (Highway BiLSTM layers, log scale)")
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(title="carry")
    _save(fig, path)
    plt.close(fig)


def plot_loss_curves(runs: list[Run], path: Path) -> None:
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    depths = sorted({r.depth for r in runs if r.history})
    if not depths:
        depths = [0]
    cols = min(3, len(depths))
    rows_n = math.ceil(len(depths) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 3.2 * rows_n), squeeze=False, sharey=True,
                             constrained_layout=True)
    for ax, depth in zip(axes.flat, depths):
        for carry in sorted({r.carry for r in runs}, key=_carry_rank):
            curves = [[h["train_loss"] for h in r.history] for r in runs if r.depth == depth and r.carry == carry and r.history]
            if not curves:
                continue
            length = max(len(c) for c in curves)
            mean = [statistics.fmean([c[i] for c in curves if len(c) > i]) for i in range(length)]
            colour, marker = STYLE.get(carry, ("#333333", "x"))
            ax.plot(range(1, length + 1), mean, label=carry, color=colour, marker=marker, markersize=3)
        ax.set_title(f"depth {depth}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in list(axes.flat)[len(depths):]:
        ax.set_visible(False)
    axes[0][0].set_ylabel("training loss (mean over seeds)")
    if axes[0][0].get_legend_handles_labels()[0]:
        axes[0][0].legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)


def _layer_matrix(runs: list[Run], carry: str, key: str) -> tuple[list[int], list[list[float]]]:
    depths = sorted({r.depth for r in runs if r.carry == carry and r.results and r.results.get("layers")})
    matrix = []
    for depth in depths:
        values: list[list[float]] = [[] for _ in range(depth)]
        for run in runs:
            if run.carry == carry and run.depth == depth and run.results and run.results.get("layers"):
                for entry in run.results["layers"]:
                    if key in entry:
                        values[entry["layer"] - 1].append(entry[key])
        matrix.append([statistics.fmean(v) if v else math.nan for v in values])
    return depths, matrix


def plot_layer_heatmap(runs: list[Run], path: Path, carry: str, key: str, title: str, cmap: str, vmin=None, vmax=None) -> bool:
    depths, matrix = _layer_matrix(runs, carry, key)
    if not depths:
        return False
    plt = _plt()
    width = max(depths)
    grid = [[row[i] if i < len(row) else math.nan for i in range(width)] for row in matrix]
    fig, ax = plt.subplots(figsize=(max(4.5, 0.35 * width + 2.5), 0.5 * len(depths) + 1.6))
    image = ax.imshow(grid, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_yticks(range(len(depths)), [str(d) for d in depths])
    ticks = list(range(0, width, max(1, width // 16)))
    ax.set_xticks(ticks, [str(t + 1) for t in ticks])
    ax.set_xlabel("layer (1 = nearest the embeddings)")
    ax.set_ylabel("depth of the stack")
    ax.set_title(title)
    ax.grid(False)
    for y, row in enumerate(grid):
        for x, value in enumerate(row):
            if not math.isnan(value) and width <= 16:
                # dark ink on light cells, light ink on dark ones
                r, g, b, _ = image.cmap(image.norm(value))
                ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
                ax.text(x, y, f"{value:.2f}", ha="center", va="center", fontsize=7, color=ink)
    fig.colorbar(image, ax=ax)
    _save(fig, path)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- the report


def _fmt(mean: float | None, std: float | None, scale: float = 100.0, digits: int = 1) -> str:
    if mean is None:
        return "–"
    return f"{scale * mean:.{digits}f} ± {scale * (std or 0):.{digits}f}"


def _table(summary: dict) -> tuple[list[str], list[list[str]]]:
    extra = summary["swept"]
    header = ["carry", "depth", *extra, "test accuracy", "test macro-F1", "test macro-recall",
              "final train loss", "parameters", "train time (s)", "runs"]
    body = []
    for row in summary["rows"]:
        body.append([
            row["carry"], str(row["depth"]), *(str(row[k]) for k in extra),
            _fmt(row["accuracy_mean"], row["accuracy_std"]), _fmt(row["macro_f1_mean"], row["macro_f1_std"]),
            _fmt(row["macro_recall_mean"], row["macro_recall_std"]),
            _fmt(row["final_train_loss_mean"], row["final_train_loss_std"], 1.0, 3),
            f"{row['parameters']:,}" if row["parameters"] else "–",
            f"{row['seconds_mean']:.0f}" if row["seconds_mean"] is not None else "–",
            f"{row['finished']}/{row['runs']}" + (" (" + "; ".join(row["failed"]) + ")" if row["failed"] else ""),
        ])
    return header, body


def _provenance(runs: list[Run], sweep: dict) -> dict:
    manifest = next((r.manifest for r in runs if r.manifest), None) or {}
    base = sweep.get("base", {})
    fixed = {k: v for k, v in base.items() if k not in sweep.get("axes", {})}
    return {
        "command": " ".join(sweep.get("command", [])),
        "axes": sweep.get("axes", {}),
        "fixed": fixed,
        "data": manifest.get("data", {}),
        "packages": manifest.get("packages", {}),
        "device": manifest.get("device", {}),
        "git": manifest.get("git"),
    }


def write_results_csv(runs: list[Run], path: Path) -> None:
    extra = swept_keys(runs)
    header = ["run", "carry", "depth", "seed", *extra, "status", "test_accuracy", "test_macro_f1",
              "test_macro_recall", "val_metric", "best_epoch", "epochs_run", "final_train_loss",
              "parameters", "seconds", "message"]
    with atomic_open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for r in sorted(runs, key=lambda r: (_carry_rank(r.carry), r.depth, r.seed, r.name)):
            res = r.results or {}
            val_metric = (res.get("val") or {}).get(res.get("metric", ""), "")
            writer.writerow([
                r.name, r.carry, r.depth, r.seed, *(r.config.get(k) for k in extra), r.status,
                *(("" if r.test(m) is None else f"{r.test(m):.6f}") for m in METRICS),
                f"{val_metric:.6f}" if val_metric != "" else "", res.get("best_epoch", ""), len(r.history),
                "" if r.final_train_loss is None else f"{r.final_train_loss:.6f}",
                res.get("parameters", ""), "" if r.seconds is None else f"{r.seconds:.1f}", r.message,
            ])


def build_report(out: str | Path, metric: str | None = None) -> dict[str, Path]:
    """(Re)build every report file in sweep folder ``out`` from its runs; return their paths."""
    out = Path(out)
    sweep = load_sweep(out)
    runs = collect(out)
    finished = [r for r in runs if r.status == "finished"]
    metric = metric or (finished[0].results.get("metric") if finished else None) or "macro_recall"
    num_classes = len(finished[0].results["test"]["labels"]) if finished and finished[0].results.get("test") else None
    summary = summarise(runs, metric)
    tests = paired_tests(runs, metric)
    facts = findings(summary, tests, num_classes)
    provenance = _provenance(runs, sweep)

    plots_dir = out / "plots"
    plots_dir.mkdir(exist_ok=True)
    plots: dict[str, tuple[Path, str]] = {}
    name = METRIC_NAMES.get(metric, metric)
    if summary["rows"]:
        path = plots_dir / "metric_vs_depth.png"
        plot_metric_vs_depth(summary, path, metric, f"test {name} (%, mean ± sd over seeds)")
        plots["metric"] = (path, f"Test {name} against depth")
        path = plots_dir / "train_loss_vs_depth.png"
        plot_metric_vs_depth(summary, path, "final_train_loss", "final training loss (mean ± sd)", scale=1.0)
        plots["loss"] = (path, "Final training loss against depth: does the stack still fit its training set?")
        path = plots_dir / "loss_curves.png"
        plot_loss_curves(runs, path)
        plots["curves"] = (path, "Training-loss curves per depth (mean over seeds)")
    path = plots_dir / "gates_highway.png"
    if plot_layer_heatmap(runs, path, "highway", "gate_mean", "mean transform gate T per layer (highway; 0 = carry, 1 = transform)", "viridis", 0.0, 1.0):
        plots["gates"] = (path, "Transform-gate activity per layer, for every highway depth")
    path = plots_dir / "k_gated_residual.png"
    if plot_layer_heatmap(runs, path, "gated-residual", "g", "learned g(k) = ReLU(k) per layer (gated-residual; 0 = identity)", "magma"):
        plots["k"] = (path, "Learned residual gate per layer, for every gated-residual depth")

    csv_path = out / "results.csv"
    write_results_csv(runs, csv_path)
    summary_path = out / "summary.json"
    write_json_atomic(summary_path, {**summary, "paired_tests": tests, "findings": facts, "provenance": provenance,
                                     "runs": {"total": len(runs), "finished": len(finished)}})
    md_path, html_path = out / "report.md", out / "report.html"
    write_text_atomic(md_path, _markdown(summary, tests, facts, provenance, plots, out, runs))
    write_text_atomic(html_path, _html(summary, tests, facts, provenance, plots, runs))
    return {"results": csv_path, "summary": summary_path, "markdown": md_path, "html": html_path,
            **{f"plot_{k}": p for k, (p, _) in plots.items()}}


def _tests_table(tests: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = ["depth", "seed pairs", "highway − plain (points)", "p (paired t-test)", "beyond seed noise?"]
    body = [[str(t["depth"]), str(t["pairs"]), f"{100 * t['mean_difference']:+.2f}",
             "–" if t["p_value"] is None else f"{t['p_value']:.3g}", "yes" if t["significant"] else "no"]
            for t in tests]
    return header, body


def _md_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
    return "\n".join(lines)


def _settings_lines(provenance: dict) -> list[str]:
    packages = provenance.get("packages", {})
    device = provenance.get("device", {})
    data = provenance.get("data", {})
    fixed = provenance.get("fixed", {})
    keep = ("data", "hidden", "embedding_dim", "epochs", "batch_size", "lr", "dropout", "gate_bias",
            "pooling", "max_tokens", "patience", "class_weights")
    return [
        f"command: `{provenance.get('command', '')}`",
        "swept: " + ", ".join(f"{k} = {v}" for k, v in provenance.get("axes", {}).items()),
        "fixed: " + ", ".join(f"{k} = {fixed[k]}" for k in keep if k in fixed),
        f"data: {data.get('dataset', '?')} ("
        + ", ".join(f"{Path(f['path']).name} {f['sha256'][:12]}" for f in data.get("files", [])[:7]) + ")",
        "software: " + ", ".join(f"{k} {v}" for k, v in packages.items() if v),
        f"device: {device.get('type', '?')} {device.get('name', '')}, {device.get('torch_threads', '?')} torch threads"
        + (f", git {provenance['git']['commit'][:10]}" + (" (dirty)" if provenance['git'].get('dirty') else "") if provenance.get("git") else ""),
    ]


def _markdown(summary, tests, facts, provenance, plots, out: Path, runs) -> str:
    metric = METRIC_NAMES.get(summary["metric"], summary["metric"])
    parts = [f"# Depth study: test {metric} against depth", "", "## Findings", ""]
    parts += [f"- {line}" for line in facts]
    parts += ["", "## Results (mean ± sd over seeds; test split)", "", _md_table(*_table(summary)), ""]
    if tests:
        parts += ["## Highway against plain, paired over seeds", "", _md_table(*_tests_table(tests)), ""]
    for path, caption in plots.values():
        parts += [f"### {caption}", "", f"![{caption}]({path.relative_to(out).as_posix()})", ""]
    parts += ["## Settings", ""] + [f"- {line}" for line in _settings_lines(provenance)] + [""]
    return "\n".join(parts)


def _html_table(header: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _html(summary, tests, facts, provenance, plots, runs) -> str:
    metric = METRIC_NAMES.get(summary["metric"], summary["metric"])
    figures = []
    for path, caption in plots.values():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        figures.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    style = ("body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
             "table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}td,th{border:1px solid #8884;padding:.25rem .5rem;text-align:right}"
             "td:first-child,th:first-child{text-align:left}figure{margin:1.5rem 0}img{max-width:100%;background:#fff;border-radius:4px}"
             "@media (prefers-color-scheme: dark){body{background:#111;color:#ddd}a{color:#8bf}}")
    body = [f"<h1>Depth study: test {html.escape(metric)} against depth</h1>", "<h2>Findings</h2><ul>"]
    body += [f"<li>{html.escape(line)}</li>" for line in facts] + ["</ul>"]
    body += ["<h2>Results (mean ± sd over seeds; test split)</h2>", _html_table(*_table(summary))]
    if tests:
        body += ["<h2>Highway against plain, paired over seeds</h2>", _html_table(*_tests_table(tests))]
    body += figures
    body += ["<h2>Settings</h2><ul>"] + [f"<li>{html.escape(line)}</li>" for line in _settings_lines(provenance)] + ["</ul>"]
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>hbilstm depth study</title><style>{style}</style></head><body>" + "".join(body) + "</body></html>\n")
