"""How TweetEval hate's test split differs from its train and val splits (issue 30).

Usage: python benchmarks/hate_shift.py [--data-dir DIR] [--predictions FILE ...] [--top N] [--tfidf]

The words are chosen on train alone: the N tokens (hashtags and mentions kept as tokens) in at
least 2% of train tweets whose share of hateful tweets is furthest from train's overall share.
For each, per split: the share of tweets holding it and the share of those that are hateful. A
word that marks hate in train and val but not in test is a shortcut no model selected on val can
be warned against. With ``--predictions`` (one label id per line, TweetEval's layout, e.g. a
benchmark's ``predictions/hate.txt``), also the share of test tweets each file calls hateful and
its macro-F1. With ``--tfidf`` (scikit-learn), TF-IDF + logistic regression fitted on train over
word 1-2-grams, and over those with character 2-5-grams, at C 0.1, 1 and 10: val and test
macro-F1 and the share of test called hateful.
"""

from __future__ import annotations

import argparse
import os
import re
from collections import Counter
from pathlib import Path

TOKEN = re.compile(r"[#@]?\w+")


def read(folder: Path, split: str) -> tuple[list[set[str]], list[int]]:
    texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    labels = [int(x) for x in (folder / f"{split}_labels.txt").read_text(encoding="utf-8").split()]
    return [set(TOKEN.findall(t.lower())) for t in texts], labels


def macro_f1(gold: list[int], pred: list[int]) -> float:
    scores = []
    for c in (0, 1):
        tp = sum(g == c and p == c for g, p in zip(gold, pred))
        fp = sum(g != c and p == c for g, p in zip(gold, pred))
        fn = sum(g == c and p != c for g, p in zip(gold, pred))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / 2


def tfidf_rows(folder: Path) -> None:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_union

    def split(name):
        texts = (folder / f"{name}_text.txt").read_text(encoding="utf-8").splitlines()
        return texts, [int(x) for x in (folder / f"{name}_labels.txt").read_text(encoding="utf-8").split()]

    (train, y), (val, y_val), (test, y_test) = split("train"), split("val"), split("test")
    for name in ("word", "word+char"):
        for c in (0.1, 1.0, 10.0):
            words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
            chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
            vectorizer = words if name == "word" else make_union(words, chars)
            model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
            model.fit(vectorizer.fit_transform(train), y)
            pv, pt = (list(model.predict(vectorizer.transform(t))) for t in (val, test))
            print(f"tf-idf {name:<9} C={c:<4}: val macro-F1 {100 * macro_f1(y_val, pv):.1f}, test "
                  f"{100 * macro_f1(y_test, pt):.1f}, calls {np.mean(pt):.2f} of test hateful")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("HBILSTM_DATA_DIR", "data"))
    parser.add_argument("--predictions", nargs="*", default=[])
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--tfidf", action="store_true", help="also fit TF-IDF + logistic regression")
    args = parser.parse_args()
    folder = Path(args.data_dir) / "tweeteval-hate"
    splits = {s: read(folder, s) for s in ("train", "val", "test")}
    tokens, labels = splits["train"]
    base = sum(labels) / len(labels)
    held = Counter(w for t in tokens for w in t)
    hateful = Counter(w for t, y in zip(tokens, labels) if y for w in t)
    common = [w for w, n in held.items() if n >= 0.02 * len(tokens)]
    words = sorted(common, key=lambda w: -abs(hateful[w] / held[w] - base))[:args.top]
    print("share hateful: " + ", ".join(f"{s} {sum(y) / len(y):.2f}" for s, (_, y) in splits.items()))
    print(f"{'word':<16}" + "".join(f"{s + ' share':>13}{s + ' hateful':>15}" for s in splits))
    for word in words:
        cells = []
        for texts, ys in splits.values():
            having = [y for t, y in zip(texts, ys) if word in t]
            rate = f"{sum(having) / len(having):.2f}" if having else "-"
            cells.append(f"{len(having) / len(texts):>13.3f}{rate:>15}")
        print(f"{word:<16}" + "".join(cells))
    gold = splits["test"][1]
    for path in args.predictions:
        pred = [int(x) for x in Path(path).read_text(encoding="utf-8").split()]
        if len(pred) != len(gold):
            raise SystemExit(f"{path}: {len(pred)} predictions for {len(gold)} test tweets")
        print(f"{path}: calls {sum(pred) / len(pred):.2f} of test hateful; macro-F1 {100 * macro_f1(gold, pred):.1f}")
    if args.tfidf:
        tfidf_rows(folder)


if __name__ == "__main__":
    main()
