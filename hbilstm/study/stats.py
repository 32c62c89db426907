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


def paired_tests(runs: list[Run], metric: str, split: str = "test", a: str = "highway", b: str = "plain") -> list[dict]:
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
                (index[(a, depth, seed, others)].score(metric, split), index[(b, depth, seed, others)].score(metric, split))
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
