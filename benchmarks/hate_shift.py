"""How TweetEval hate's test split differs from its train and val splits (issue 30).

Usage: python benchmarks/hate_shift.py [--data-dir DIR] [--predictions FILE ...] [--top N]

The words are chosen on train alone: the N tokens (hashtags and mentions kept as tokens) in at
least 2% of train tweets whose share of hateful tweets is furthest from train's overall share.
For each, per split: the share of tweets holding it and the share of those that are hateful. A
word that marks hate in train and val but not in test is a shortcut no model selected on val can
be warned against. With ``--predictions`` (one label id per line, TweetEval's layout, e.g. a
benchmark's ``predictions/hate.txt``), also the share of test tweets each file calls hateful and
its macro-F1.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("HBILSTM_DATA_DIR", "data"))
    parser.add_argument("--predictions", nargs="*", default=[])
    parser.add_argument("--top", type=int, default=8)
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


if __name__ == "__main__":
    main()
