"""The depth-study report, built from the finished runs of a sweep (``hbilstm report DIR``).

Writes into the sweep folder:

* ``results.csv``  one row per run (finished, diverged or failed);
* ``summary.json`` mean and standard deviation over seeds per (carry, depth, other swept options),
  the paired highway-versus-plain tests, the findings and the provenance;
* ``plots/*.png``  test metric against depth, last-epoch training objective against depth,
  training-objective curves, transform-gate activity per layer and the learned k per layer;
* ``report.md`` and a self-contained ``report.html`` (plots embedded), with a section on the
  layer analyses of ``hbilstm analyze`` found in ``analysis/`` (see :mod:`hbilstm.study.analyses`).
"""

from __future__ import annotations

from pathlib import Path

from ..evaluation.metrics import METRIC_NAMES
from ..fileio import write_json_atomic, write_text_atomic
from .analyses import find_analyses
from .collect import collect, scored_split
from .plots import plot_layer_heatmap, plot_loss_curves, plot_metric_vs_depth
from .render import html_page, markdown, provenance_of, write_results_csv
from .stats import chance_level, findings, paired_tests, summarise
from .sweep import load_sweep


def build_report(out: str | Path, metric: str | None = None) -> dict[str, Path]:
    """(Re)build every report file in sweep folder ``out`` from its runs; return their paths."""
    out = Path(out)
    sweep = load_sweep(out)
    runs = collect(out)
    finished = [r for r in runs if r.status == "finished"]
    metric = metric or (finished[0].results.get("metric") if finished else None) or "macro_recall"
    split = scored_split(runs)
    chance = chance_level(runs, metric, split)
    summary = summarise(runs, metric, split)
    tests = paired_tests(runs, metric, split)
    facts = findings(summary, tests, chance)
    provenance = provenance_of(runs, sweep)

    plots_dir = out / "plots"
    plots_dir.mkdir(exist_ok=True)
    plots: dict[str, tuple[Path, str]] = {}
    name = METRIC_NAMES.get(metric, metric)
    if summary["rows"]:
        single = all(row["finished"] <= 1 for row in summary["rows"])
        spread = "one seed each: no spread" if single else "mean ± sd over seeds"
        path = plots_dir / "metric_vs_depth.png"
        plot_metric_vs_depth(summary, path, metric, f"{split} {name} (%, {spread})", chance=chance)
        plots["metric"] = (path, f"{split.capitalize()} {name} against depth"
                                 + (f" (dashed: chance level, {100 * chance:.1f})" if chance is not None else ""))
        path = plots_dir / "train_loss_vs_depth.png"
        plot_metric_vs_depth(summary, path, "final_train_loss", f"last-epoch training objective ({spread})", scale=1.0)
        plots["loss"] = (path, "Training objective in the last epoch against depth (class-weighted cross-entropy, "
                               "averaged over the epoch's batches with dropout on): a stack that cannot fit its "
                               "training data stays near ln(classes)")
        path = plots_dir / "loss_curves.png"
        plot_loss_curves(runs, path)
        plots["curves"] = (path, "Training objective per epoch, per depth (mean over seeds; class-weighted, dropout "
                                 "on)")
    path = plots_dir / "gates_highway.png"
    if plot_layer_heatmap(runs, path, "highway", "gate_mean", "mean transform gate T per layer (highway; 0 = carry, 1 "
                                                              "= transform)", "viridis", 0.0, 1.0):
        plots["gates"] = (path, "Transform-gate activity per layer, for every highway depth")
    path = plots_dir / "k_gated_residual.png"
    if plot_layer_heatmap(runs, path, "gated-residual", "g", "learned g(k) = ReLU(k) per layer (gated-residual; 0 = "
                                                             "identity)", "magma"):
        plots["k"] = (path, "Learned residual gate per layer, for every gated-residual depth")

    csv_path = out / "results.csv"
    write_results_csv(runs, csv_path)
    summary_path = out / "summary.json"
    write_json_atomic(summary_path, {**summary, "paired_tests": tests, "findings": facts, "provenance": provenance,
                                     "runs": {"total": len(runs), "finished": len(finished)}})
    md_path, html_path = out / "report.md", out / "report.html"
    analyses = find_analyses(out)
    write_text_atomic(md_path, markdown(summary, tests, facts, provenance, plots, out, runs, analyses))
    write_text_atomic(html_path, html_page(summary, tests, facts, provenance, plots, runs, analyses, out))
    return {"results": csv_path, "summary": summary_path, "markdown": md_path, "html": html_path,
            **{f"plot_{k}": p for k, (p, _) in plots.items()}}
