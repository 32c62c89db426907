"""Numbers over seeds: means and spreads per configuration, paired tests, and the findings."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

from ..evaluation.metrics import METRIC_NAMES
from .collect import METRICS, Run, carry_rank, swept_keys, value_order


def _mean_std(values: list[float]) -> tuple[float | None, float | None, int]:
    """Mean, sample standard deviation and count of the values that are numbers. One value has
    no spread: its standard deviation is None, not 0."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return None, None, 0
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None), len(values)


def format_score(mean: float | None, std: float | None, n: int, scale: float = 100.0, digits: int = 1,
                 show_n: bool = True) -> str:
    """``61.2 ± 0.4 (n = 3)``; a single value as ``61.2 (n = 1)``, never with a spread of 0;
    ``show_n=False`` leaves the count out where there is a spread. "–" where there is no value."""
    if mean is None:
        return "–"
    text = f"{scale * mean:.{digits}f}"
    if n < 2 or std is None:
        return text + f" (n = {n})"
    text += f" ± {scale * std:.{digits}f}"
    return text + (f" (n = {n})" if show_n else "")


def chance_level(runs: list[Run], metric: str, split: str = "test") -> float | None:
    """What a model that learned nothing scores on ``split``, as a fraction: the best a model that
    predicts the same class for every example can do. For macro-recall that is 1 / classes
    whichever class it predicts; for accuracy the majority class's share of the split (1 / classes
    where the runs saved no class counts); for macro-F1, always predicting the majority class
    (share p) gives 2p / (1 + p) / classes. None where the runs do not say."""
    scores = next((r.results[split] for r in runs if r.status == "finished" and (r.results or {}).get(split)), None)
    classes = len((scores or {}).get("macro_over") or (scores or {}).get("labels") or [])
    if not classes:
        return None
    support = [c.get("support", 0) for c in (scores.get("per_class") or {}).values()]
    majority = max(support) / sum(support) if sum(support) else None
    if metric == "macro_recall":
        return 1 / classes
    if metric == "accuracy":
        return majority if majority is not None else 1 / classes
    if metric == "macro_f1" and majority is not None:
        return 2 * majority / (1 + majority) / classes
    return None


def row_series(summary: dict, key: str) -> list[tuple[str, dict, list[dict]]]:
    """The summary's rows that have ``key`` as series against depth: ``(carry, values of the other
    swept options, rows by depth)``, carries in their usual order, then the values by size."""
    extra = summary.get("swept", [])
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in summary["rows"]:
        if row[f"{key}_mean"] is not None:
            groups[(row["carry"], tuple(row.get(k) for k in extra))].append(row)
    return [(carry, dict(zip(extra, others)), sorted(rows, key=lambda r: r["depth"]))
            for (carry, others), rows in sorted(groups.items(),
                                                key=lambda kv: (carry_rank(kv[0][0]), value_order(kv[0][1])))]


def summarise(runs: list[Run], metric: str, split: str = "test") -> dict:
    """One row per (carry, depth, values of any other swept option): for each metric, the expected
    calibration error (``ece``) and the last-epoch training loss ``<name>_mean``, ``<name>_std``
    (None with fewer than two values) and ``<name>_n`` (the finished runs that have the value)."""
    extra = swept_keys(runs)
    groups: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        groups[(tuple(run.config.get(k) for k in extra), run.carry, run.depth)].append(run)
    rows = []
    for (others, carry, depth), members in sorted(
        groups.items(), key=lambda kv: (value_order(kv[0][0]), carry_rank(kv[0][1]), kv[0][2])
    ):
        done = [r for r in members if r.status == "finished"]
        row = {"carry": carry, "depth": depth, **dict(zip(extra, others)),
               "runs": len(members), "finished": len(done),
               "failed": [f"{r.name}: {r.status}" for r in members if r.status != "finished"]}
        for name in dict.fromkeys((*METRICS, metric, "ece")):  # the study's metric too (irony_f1, stance_f1)
            row[f"{name}_mean"], row[f"{name}_std"], row[f"{name}_n"] = _mean_std([r.score(name, split) for r in done])
        (row["final_train_loss_mean"], row["final_train_loss_std"],
         row["final_train_loss_n"]) = _mean_std([r.final_train_loss for r in done])
        row["parameters"] = done[0].results.get("parameters") if done else None
        row["seconds_mean"], _, _ = _mean_std([r.seconds for r in done])
        rows.append(row)
    return {"metric": metric, "split": split, "swept": extra, "rows": rows}


def paired_tests(runs: list[Run], metric: str, split: str = "test", a: str = "highway", b: str = "plain",
                 alpha: float = 0.05) -> list[dict]:
    """For each depth (and value of any other swept option): ``a`` against ``b`` on the same seeds,
    a paired t-test on ``metric``. Seeds pair because both stacks saw the same batches in the
    same order.

    Each entry holds the carries compared (``a``, ``b``), ``alpha``, ``pairs``, ``df`` (pairs - 1),
    ``mean_difference`` (a - b) with its 95% confidence interval (``ci_low``, ``ci_high``; t
    distribution), ``t``, the two-sided ``p_value``,
    ``p_holm`` (Holm-Bonferroni adjusted over the ``tests`` entries that could be tested),
    ``significant`` (``p_holm`` < ``alpha``) and a ``note`` where no test is possible: one seed
    pair, or differences without spread (all equal), where a t-test is undefined.
    """
    from scipy import stats

    extra = swept_keys(runs)
    done = [r for r in runs if r.status == "finished"]
    index = {(r.carry, r.depth, r.seed, tuple(r.config.get(k) for k in extra)): r for r in done}
    out = []
    for depth in sorted({r.depth for r in done}):
        for others in sorted({tuple(r.config.get(k) for k in extra) for r in done}, key=value_order):
            diffs = [
                index[(a, depth, seed, others)].score(metric, split)
                - index[(b, depth, seed, others)].score(metric, split)
                for seed in sorted({r.seed for r in done})
                if (a, depth, seed, others) in index and (b, depth, seed, others) in index
            ]
            if not diffs:
                continue
            n, mean = len(diffs), statistics.fmean(diffs)
            entry = {"depth": depth, **dict(zip(extra, others)), "a": a, "b": b, "alpha": alpha,
                     "pairs": n, "df": n - 1 if n > 1 else None,
                     "mean_difference": mean, "ci_low": None, "ci_high": None, "t": None, "p_value": None,
                     "note": ""}
            spread = statistics.stdev(diffs) if n > 1 else 0.0
            if n < 2:
                entry["note"] = "one seed pair: no test"
            elif spread < 1e-9:
                entry["note"] = "every seed pair differs by the same amount: no spread to test against"
            else:
                error = spread / math.sqrt(n)
                half = float(stats.t.ppf(0.975, n - 1)) * error
                entry.update(t=mean / error, p_value=float(2 * stats.t.sf(abs(mean / error), n - 1)),
                             ci_low=mean - half, ci_high=mean + half)
            out.append(entry)
    tested = sorted((e for e in out if e["p_value"] is not None), key=lambda e: e["p_value"])
    running = 0.0
    for rank, entry in enumerate(tested):  # Holm: the i-th smallest p times (k - i), kept monotone
        running = max(running, min(1.0, (len(tested) - rank) * entry["p_value"]))
        entry["p_holm"] = running
    for entry in out:
        entry.setdefault("p_holm", None)
        entry["tests"] = len(tested)
        entry["significant"] = entry["p_holm"] is not None and entry["p_holm"] < alpha
    return out


def format_p(p: float | None) -> str:
    """A p-value as text: never "0" (below 0.001 it is "< 0.001"); "–" where there is none."""
    if p is None:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3g}"


def _p_text(p: float) -> str:
    """``= 0.012`` or ``< 0.001``, to follow a "p"."""
    text = format_p(p)
    return text if text.startswith("<") else "= " + text


def _where(values: dict) -> str:
    """The values of the other swept options, `` (gate_bias = -1.0)``; empty where there are none."""
    return " (" + ", ".join(f"{k} = {v}" for k, v in values.items()) + ")" if values else ""


def _depths(labels: list[str]) -> str:
    """``depth 16``, ``depths 8 and 16``, ``depths 2, 8 and 16``."""
    if len(labels) == 1:
        return f"depth {labels[0]}"
    return "depths " + ", ".join(labels[:-1]) + " and " + labels[-1]


def findings(summary: dict, tests: list[dict], chance: float | None) -> list[str]:
    """Sentences a reader can check against the report's tables.

    Each names the configurations and their scores (mean ± sd with n, or the single score with
    n = 1), and each comparison its paired test and Holm-adjusted p-value. ``chance`` is the
    metric's chance level as a fraction (:func:`chance_level`), None where it is not known. A
    difference is called beyond seed noise only where its Holm-adjusted p is below the tests'
    alpha; with one seed pair there is no test, and no such claim.
    """
    metric = summary["metric"]
    name = f"{summary['split']} {METRIC_NAMES.get(metric, metric)}"
    extra = summary["swept"]
    rows = [r for r in summary["rows"] if r[f"{metric}_mean"] is not None]
    if not rows:
        return ["No run has finished yet."]

    def mean(row: dict) -> float:
        return 100 * row[f"{metric}_mean"]

    def score(row: dict) -> str:
        return format_score(row[f"{metric}_mean"], row[f"{metric}_std"], row[f"{metric}_n"])

    lines = []
    level = None if chance is None else 100 * chance
    for carry, values, members in row_series(summary, metric):
        stack = f"The {carry} stack{_where(values)}"
        best = max(members, key=mean)
        deepest = members[-1]
        if len(members) == 1:
            text = f"{stack} scores {score(best)} {name} at depth {best['depth']}, the only depth run"
        elif best is deepest:
            text = f"{stack} scores its best {name}, {score(best)}, at its deepest depth, {best['depth']}"
        else:
            text = (f"{stack} scores its best {name}, {score(best)}, at depth {best['depth']}; at its deepest depth, "
                    f"{deepest['depth']}, it scores {score(deepest)}, {mean(best) - mean(deepest):.1f} points lower")
        if level is not None and mean(best) <= level + 2.0:
            text += (
                f"; chance level is {level:.1f}, and at no depth does it score 2 points above it: it learned nothing"
            )
        elif level is not None and mean(deepest) <= level + 2.0:
            text += (f"; that is within 2 points of chance level ({level:.1f}): at depth {deepest['depth']} "
                     "it no longer learns")
        lines.append(text + ".")

    by_key = {(r["carry"], r["depth"], tuple(r.get(k) for k in extra)): r for r in rows}
    tested, wins, losses = [], [], []
    for t in sorted(tests, key=lambda t: (value_order(tuple(t.get(k) for k in extra)), t["depth"])):
        a, b = t.get("a", "highway"), t.get("b", "plain")
        others = tuple(t.get(k) for k in extra)
        row_a, row_b = by_key.get((a, t["depth"], others)), by_key.get((b, t["depth"], others))
        if row_a is None or row_b is None:
            continue
        label = f"{t['depth']}{_where(dict(zip(extra, others)))}"
        difference = 100 * t["mean_difference"]
        text = f"At depth {label}, {a} scores {score(row_a)} and {b} {score(row_b)}; "
        if t["pairs"] == row_a[f"{metric}_n"] == row_b[f"{metric}_n"]:
            text += f"{a} minus {b} is {difference:+.1f} points"
        else:  # a seed that finished for one carry only is in the means, not in the pairs
            text += f"over the {t['pairs']} seed(s) both finished, {a} minus {b} is {difference:+.1f} points on average"
        if t["p_value"] is not None:
            tested.append(label)
            if t["significant"]:
                (wins if difference > 0 else losses).append(label)
            text += (f" (95% CI {100 * t['ci_low']:+.1f} to {100 * t['ci_high']:+.1f}; paired t-test over {t['pairs']} "
                     f"seed pairs, t({t['df']}) = {t['t']:.2f}, p {_p_text(t['p_value'])}, Holm-adjusted p "
                     f"{_p_text(t['p_holm'])} over {t['tests']} test{'' if t['tests'] == 1 else 's'}): "
                     + ("beyond seed noise" if t["significant"] else "within seed noise"))
        elif t["pairs"] < 2:
            text += (" from a single seed pair (n = 1), which allows no test: there is no p-value, and it cannot be "
                     "told apart from seed noise")
        else:
            text += (f" in each of the {t['pairs']} seed pairs alike: with no spread the paired t-test is undefined, "
                     "so there is no p-value")
        lines.append(text + ".")
    if tests:
        a, b, alpha = tests[0].get("a", "highway"), tests[0].get("b", "plain"), tests[0].get("alpha", 0.05)
        few = min(t["pairs"] for t in tests)
        if tested:
            text = (f"Of the {len(tested)} comparison{'' if len(tested) == 1 else 's'} tested, the {a} stack beats the "
                    f"{b} stack beyond seed noise (Holm-adjusted p < {alpha:g}) at "
                    + (_depths(wins) if wins else "no depth"))
            if losses:
                text += f"; the {b} stack beats the {a} stack at {_depths(losses)}"
            lines.append(text + ".")
        elif few < 2:
            lines.append("With one seed per configuration (n = 1) no difference can be tested against seed noise; "
                         "more seeds (--seeds) would allow paired tests.")
        if 2 <= few < 4:
            lines.append(f"With {few} seed pairs per depth ({few - 1} degree(s) of freedom) these tests have little "
                         "power: a real difference can fail to reach significance, and the intervals are wide.")
    return lines
