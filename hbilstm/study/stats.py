"""Numbers over seeds: means and spreads per configuration, paired tests, and the findings."""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict

from ..evaluation.metrics import METRIC_NAMES
from .collect import METRICS, Run, carry_rank, swept_keys


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarise(runs: list[Run], metric: str, split: str = "test") -> dict:
    extra = swept_keys(runs)
    groups: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        groups[(tuple(run.config.get(k) for k in extra), run.carry, run.depth)].append(run)
    rows = []
    for (others, carry, depth), members in sorted(groups.items(), key=lambda kv: (json.dumps(kv[0][0]), carry_rank(kv[0][1]), kv[0][2])):
        done = [r for r in members if r.status == "finished"]
        row = {"carry": carry, "depth": depth, **dict(zip(extra, others)),
               "runs": len(members), "finished": len(done),
               "failed": [f"{r.name}: {r.status}" for r in members if r.status != "finished"]}
        for name in METRICS:
            row[f"{name}_mean"], row[f"{name}_std"] = _mean_std([r.score(name, split) for r in done])
        row["final_train_loss_mean"], row["final_train_loss_std"] = _mean_std([r.final_train_loss for r in done])
        row["parameters"] = done[0].results.get("parameters") if done else None
        row["seconds_mean"], _ = _mean_std([r.seconds for r in done])
        rows.append(row)
    return {"metric": metric, "split": split, "swept": extra, "rows": rows}


def paired_tests(runs: list[Run], metric: str, split: str = "test", a: str = "highway", b: str = "plain",
                 alpha: float = 0.05) -> list[dict]:
    """For each depth (and value of any other swept option): ``a`` against ``b`` on the same seeds,
    a paired t-test on ``metric``. Seeds pair because both stacks saw the same batches in the
    same order.

    Each entry holds ``pairs``, ``df`` (pairs - 1), ``mean_difference`` (a - b) with its 95%
    confidence interval (``ci_low``, ``ci_high``; t distribution), ``t``, the two-sided ``p_value``,
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
        for others in sorted({tuple(r.config.get(k) for k in extra) for r in done}, key=json.dumps):
            diffs = [
                index[(a, depth, seed, others)].score(metric, split) - index[(b, depth, seed, others)].score(metric, split)
                for seed in sorted({r.seed for r in done})
                if (a, depth, seed, others) in index and (b, depth, seed, others) in index
            ]
            if not diffs:
                continue
            n, mean = len(diffs), statistics.fmean(diffs)
            entry = {"depth": depth, **dict(zip(extra, others)), "pairs": n, "df": n - 1 if n > 1 else None,
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
    for carry in sorted(by_carry, key=carry_rank):
        series = sorted(by_carry[carry], key=lambda r: r["depth"])
        best = max(series, key=lambda r: r[f"{metric}_mean"])
        deepest = series[-1]
        value = 100 * deepest[f"{metric}_mean"]
        text = (f"{carry}: best {summary['split']} {name} {100 * best[f'{metric}_mean']:.1f} at depth {best['depth']}; "
                f"at depth {deepest['depth']} it is {value:.1f}, {100 * (best[f'{metric}_mean'] - deepest[f'{metric}_mean']):.1f} below its best")
        near_chance = chance is not None and metric in ("macro_recall", "accuracy")
        if near_chance and 100 * best[f"{metric}_mean"] <= chance + 2.0:
            text += f" (chance level is {chance:.1f}: no depth learned beyond it)"
        elif near_chance and value <= chance + 2.0:
            text += f" (chance level is {chance:.1f}: at this depth the stack no longer learns)"
        lines.append(text + ".")
    if tests:
        deep = max(tests, key=lambda t: t["depth"])
        text = (f"highway minus plain at depth {deep['depth']}: {100 * deep['mean_difference']:+.1f} points "
                f"over {deep['pairs']} seed pair(s)")
        if deep["p_value"] is None:
            text += f" ({deep['note']})"
        else:
            text += (f", 95% CI {100 * deep['ci_low']:+.1f} to {100 * deep['ci_high']:+.1f}; paired t-test "
                     f"t({deep['df']}) = {deep['t']:.2f}, p = {format_p(deep['p_value'])}, Holm-adjusted over "
                     f"{deep['tests']} test(s) p = {format_p(deep['p_holm'])}")
        lines.append(text + ".")
        lines.append(
            "highway beats plain beyond seed noise (Holm-adjusted p < 0.05) at depths: "
            + (", ".join(str(t["depth"]) for t in tests if t["significant"] and t["mean_difference"] > 0) or "none")
            + "."
        )
        few = min(t["pairs"] for t in tests)
        if few < 4:
            lines.append(f"with {few} seed pair(s) per depth ({few - 1} degree(s) of freedom) these tests have "
                         "little power: a real difference can fail to reach significance, and the intervals are wide.")
    return lines
