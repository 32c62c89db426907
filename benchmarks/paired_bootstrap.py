"""How much of a difference between two recipes the tweets of one split could make by themselves.

Usage: python benchmarks/paired_bootstrap.py --a RUN [RUN ...] --b RUN [RUN ...]
           [--splits val,test] [--draws 2000] [--seed 0] [--data-dir DIR] [--data NAME]

A and B are run directories of two recipes, one per seed, paired in the order given (the same
seed at the same place). Each split's tweets are drawn again with replacement, the same draw for
every run, and the mean over the pairs of B's macro-recall minus A's computed on each draw
(TweetEval sentiment's official metric; any data set's labels will do). Per split it prints the
difference on the split itself, the spread (sd) of the drawn differences, their 2.5 and 97.5
percentiles, and the share of draws where B is below A. A recipe choice made by a margin smaller
than the spread is one the split cannot tell from the luck of its tweets (the journal's
twenty-sixth round: 0.42 on val's 2,000 tweets against 0.16 on test's 12,284).

Each run is scored here (its saved model, on CPU), so runs need nothing beyond model.pt.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import numpy as np


def macro_recall_counts(truth: np.ndarray, predicted: np.ndarray, classes: int, weights: np.ndarray) -> float:
    """Macro-recall where tweet i counts ``weights[i]`` times (a bootstrap draw as counts)."""
    recalls = []
    for c in range(classes):
        total = weights[truth == c].sum()
        if total:
            recalls.append(weights[(truth == c) & (predicted == c)].sum() / total)
    return float(np.mean(recalls))


def paired_draws(truth: np.ndarray, a: list[np.ndarray], b: list[np.ndarray], classes: int,
                 draws: int, rng: np.random.Generator) -> np.ndarray:
    """The mean over pairs of B's macro-recall minus A's, on ``draws`` resamples of the tweets."""
    n = len(truth)
    out = np.empty(draws)
    for d in range(draws):
        weights = np.bincount(rng.integers(0, n, n), minlength=n)
        out[d] = statistics.mean(macro_recall_counts(truth, pb, classes, weights)
                                 - macro_recall_counts(truth, pa, classes, weights) for pa, pb in zip(a, b))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", nargs="+", required=True, metavar="RUN", help="the first recipe's runs")
    parser.add_argument("--b", nargs="+", required=True, metavar="RUN", help="the second's, the same seeds in order")
    parser.add_argument("--splits", default="val,test")
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default="tweeteval-sentiment")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HBILSTM_DATA_DIR", "../shared/data")))
    args = parser.parse_args()
    if len(args.a) != len(args.b):
        parser.error(f"--a has {len(args.a)} runs and --b {len(args.b)}: they pair seed by seed")

    from hbilstm.api import load
    from hbilstm.data.corpora import load_corpus

    corpus = load_corpus(args.data, args.data_dir)
    models = {run: load(run, device="cpu") for run in args.a + args.b}
    print("| split | n | B minus A | spread (sd) | 2.5% | 97.5% | draws with B below A |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for split in args.splits.split(","):
        examples = corpus.split(split)
        labels = list(models[args.a[0]].labels)
        truth = np.array([labels.index(label) for label in examples.labels])
        predicted = {run: model.predict_proba(list(examples.texts)).argmax(axis=1) for run, model in models.items()}
        a, b = [predicted[r] for r in args.a], [predicted[r] for r in args.b]
        ones = np.ones(len(truth), dtype=np.int64)
        observed = statistics.mean(macro_recall_counts(truth, pb, len(labels), ones)
                                   - macro_recall_counts(truth, pa, len(labels), ones) for pa, pb in zip(a, b))
        drawn = paired_draws(truth, a, b, len(labels), args.draws, np.random.default_rng(args.seed))
        low, high = np.percentile(drawn, [2.5, 97.5])
        print(f"| {split} | {len(truth):,} | {100 * observed:+.2f} | {100 * drawn.std(ddof=1):.2f} | "
              f"{100 * low:+.2f} | {100 * high:+.2f} | {100 * (drawn < 0).mean():.0f}% |")


if __name__ == "__main__":
    main()
