"""What averaging a linear n-gram model's probabilities with hbilstm models' gives (issue 13).

Usage: python benchmarks/fusion.py RUN_DIR [RUN_DIR ...] [--data-dir DIR] [--weights 0.3 0.5]

Fits TF-IDF + LogisticRegression(C=10, balanced) on TweetEval train over word 1-2-grams, over
char_wb 2-5-grams, and over both (the baseline of benchmarks/baselines.py), then scores on
TweetEval test each model alone, each linear model alone, and each run's probabilities averaged
with each linear model's, ``(1 - w) * model + w * linear`` for every weight ``w``. It is the
measurement that led to ``ngram_buckets`` (docs/journal/accuracy.md): it says how much a model gains from
a linear model over character n-grams trained apart from it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import LABELS, evaluation_sets, scores, tfidf_pipeline  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HBILSTM_DATA_DIR", "../shared/data")))
    parser.add_argument("--weights", type=float, nargs="+", default=[0.3, 0.5])
    args = parser.parse_args()
    from hbilstm.api import load
    from hbilstm.data.corpora import load_corpus

    train = load_corpus("tweeteval-sentiment", args.data_dir).split("train")
    texts, truth = evaluation_sets(args.data_dir)["tweeteval-test"]

    def recall(probs: np.ndarray) -> float:
        return 100 * scores(truth, list(probs.argmax(1)))["macro_recall"]

    models = []
    for run in args.runs:
        classifier = load(run, device="cpu")
        models.append(classifier.predict_proba(texts)[:, [classifier.labels.index(label) for label in LABELS]])
    print(f"models alone: {', '.join(f'{recall(p):.2f}' for p in models)}")
    print("| linear model | alone | " + " | ".join(f"averaged, w = {w}" for w in args.weights) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in args.weights) + " |")
    for kinds in (("word",), ("char_wb",), ("word", "char_wb")):
        linear = tfidf_pipeline(
            list(train.texts), [LABELS.index(label) for label in train.labels], kinds
        ).predict_proba(texts)
        cells = []
        for w in args.weights:
            fused = [recall((1 - w) * p + w * linear) for p in models]
            spread = f" ± {statistics.stdev(fused):.2f}" if len(fused) > 1 else ""
            cells.append(f"{statistics.mean(fused):.2f}{spread}")
        print(f"| {' + '.join(kinds)} | {recall(linear):.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
