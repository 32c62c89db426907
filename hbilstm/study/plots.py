"""The report's plots, written as PNG files (matplotlib, no screen needed)."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from ..fileio import atomic_open
from .collect import Run, carry_rank, series_label, swept_keys, value_order
from .stats import row_series

# One colour and marker per carry, distinguishable in colour-blind and grey-scale viewing.
STYLE = {
    "plain": ("#d55e00", "o"),
    "highway": ("#0072b2", "s"),
    "residual": ("#009e73", "^"),
    "gated-residual": ("#cc79a7", "D"),
}
# With another option swept (say gate_bias), each of its values gets a colour of its own; the marker
# still tells the carry.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442")


def _style(carry: str, index: int, several: bool) -> tuple[str, str]:
    colour, marker = STYLE.get(carry, ("#333333", "x"))
    return (PALETTE[index % len(PALETTE)] if several else colour), marker


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


def plot_metric_vs_depth(summary: dict, path: Path, key: str, ylabel: str, scale: float = 100.0,
                         chance: float | None = None) -> None:
    """``key`` (mean ± sd per row of ``summary``) against depth, one line per carry. With a
    ``chance`` level (a fraction, scaled like the values) the y axis reaches down to it, never a
    zoomed range that hides how far above chance the scores are, and a dashed line marks it."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    extent: list[float] = []
    for index, (carry, values, rows) in enumerate(row_series(summary, key)):
        label = series_label(carry, values)
        colour, marker = _style(carry, index, bool(summary.get("swept")))
        means = [scale * r[f"{key}_mean"] for r in rows]
        errors = [scale * (r[f"{key}_std"] or 0) for r in rows]
        extent += [m - e for m, e in zip(means, errors)] + [m + e for m, e in zip(means, errors)]
        ax.errorbar([r["depth"] for r in rows], means, yerr=errors, label=label, color=colour,
                    marker=marker, capsize=3, linewidth=1.6)
    if chance is not None:
        level = scale * chance
        ax.axhline(level, color="#555555", linestyle="--", linewidth=1.2, label="chance", zorder=1)
        low, high = min([level, *extent]), max([level, *extent])
        margin = 0.05 * (high - low) or 1.0  # keeps the chance line off the frame
        ax.set_ylim(low - margin, high + margin)
        # at the left, where the shallow stacks (which usually learn) are: above the line, off the points
        ax.annotate(f"chance {level:.1f}", xy=(0.0, level), xycoords=("axes fraction", "data"),
                    xytext=(4, 3), textcoords="offset points", ha="left", va="bottom", fontsize=8, color="#555555")
    ax.set_xscale("log", base=2)
    depths = sorted({r["depth"] for r in summary["rows"]})
    ax.set_xticks(depths, [str(d) for d in depths])
    ax.set_xlabel("depth (Highway BiLSTM layers, log scale)")
    ax.set_ylabel(ylabel)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        order = sorted(range(len(labels)), key=lambda i: labels[i] == "chance")  # the carries first
        ax.legend([handles[i] for i in order], [labels[i] for i in order], title="carry", fontsize=8)
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
    extra = swept_keys(runs)
    series = sorted({(r.carry, tuple(r.config.get(k) for k in extra)) for r in runs},
                    key=lambda s: (carry_rank(s[0]), value_order(s[1])))
    for ax, depth in zip(axes.flat, depths):
        for index, (carry, others) in enumerate(series):
            curves = [
                [h["train_loss"] for h in r.history]
                for r in runs
                if r.depth == depth and r.carry == carry and r.history
                and tuple(r.config.get(k) for k in extra) == others
            ]
            if not curves:
                continue
            length = max(len(c) for c in curves)
            mean = [statistics.fmean([c[i] for c in curves if len(c) > i]) for i in range(length)]
            colour, marker = _style(carry, index, bool(extra))
            ax.plot(range(1, length + 1), mean, label=series_label(carry, dict(zip(extra, others))), color=colour,
                    marker=marker, markersize=3)
        ax.set_title(f"depth {depth}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in list(axes.flat)[len(depths):]:
        ax.set_visible(False)
    axes[0][0].set_ylabel("training objective (mean over seeds)")
    if axes[0][0].get_legend_handles_labels()[0]:
        axes[0][0].legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)


def layer_rows(runs: list[Run], carry: str, key: str) -> tuple[list[str], list[list[float]]]:
    """The heatmap's rows: one per depth (and value of every other swept option), labelled ``16`` or
    ``16, gate_bias = -1.0``, each the per-layer mean of ``key`` over the seeds."""
    extra = swept_keys(runs)
    having = [r for r in runs if r.carry == carry and r.results and r.results.get("layers")]
    groups = sorted({(r.depth, tuple(r.config.get(k) for k in extra)) for r in having},
                    key=lambda g: (value_order(g[1]), g[0]))
    labels, matrix = [], []
    for depth, others in groups:
        values: list[list[float]] = [[] for _ in range(depth)]
        for run in having:
            if run.depth == depth and tuple(run.config.get(k) for k in extra) == others:
                for entry in run.results["layers"]:
                    if key in entry:
                        values[entry["layer"] - 1].append(entry[key])
        labels.append(", ".join([str(depth), *(f"{k} = {v}" for k, v in zip(extra, others))]))
        matrix.append([statistics.fmean(v) if v else math.nan for v in values])
    return labels, matrix


def plot_layer_heatmap(
    runs: list[Run], path: Path, carry: str, key: str, title: str, cmap: str, vmin=None, vmax=None
) -> bool:
    labels, matrix = layer_rows(runs, carry, key)
    if not labels:
        return False
    plt = _plt()
    width = max(len(row) for row in matrix)
    grid = [[row[i] if i < len(row) else math.nan for i in range(width)] for row in matrix]
    fig, ax = plt.subplots(figsize=(max(4.5, 0.35 * width + 2.5), 0.5 * len(labels) + 1.6))
    image = ax.imshow(grid, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_yticks(range(len(labels)), labels)
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
