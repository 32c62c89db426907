"""What the vocabulary misses on TweetEval test, and whether cheap fixes of it change the scores.

Usage: python benchmarks/vocabulary_gaps.py RUN_DIR [RUN_DIR ...] [--data-dir DIR]

For the first run's vocabulary: the share of val and test tokens it lacks, by kind (words,
hashtags, emoji, numbers, other), and the emoji in each split. Then, for every run, its test
macro-recall as trained, with emoji written as the words of their names (the tokenizer's
``emoji_names``), with an unknown ``#hashtag`` looked up as its word, and with both: each
variant changes only how test text is encoded, never the weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import LABELS  # noqa: E402


def kind(token: str) -> str:
    if token.startswith("#") and len(token) > 1:
        return "hashtag"
    if any(c.isdigit() for c in token):
        return "number"
    if token.isalpha() and token.isascii():
        return "word"
    if not token.isascii() and not any(c.isalpha() for c in token):
        return "emoji or symbol"
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HBILSTM_DATA_DIR", "../shared/data")))
    args = parser.parse_args()
    from hbilstm.checkpoint import load_model
    from hbilstm.data.pipeline import encode, encode_ngrams
    from hbilstm.data.tokenizer import _PICTOGRAPH, TweetTokenizer
    from hbilstm.evaluation.metrics import classification_metrics
    from hbilstm.inference import predict_probs

    folder = args.data_dir / "tweeteval-sentiment"
    texts = {s: (folder / f"{s}_text.txt").read_text(encoding="utf-8").splitlines() for s in ("train", "val", "test")}
    labels = [int(x) for x in (folder / "test_labels.txt").read_text().split()]

    first = load_model(args.runs[0])
    tokenizer = TweetTokenizer(first.tokenizer)
    print("| split | tokens | not in the vocabulary | words | hashtags | emoji or symbols | numbers | other | "
          "emoji characters |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for split in ("val", "test"):
        tokens = [t for line in tokenizer.tokenize_many(texts[split]) for t in line]
        missing = Counter(kind(t) for t in tokens if t not in first.vocab)
        total = sum(missing.values())
        emoji = sum(len(_PICTOGRAPH.findall(line)) for line in texts[split])
        print(f"| {split} | {len(tokens):,} | {100 * total / len(tokens):.2f}% | "
              + " | ".join(f"{missing[k]:,}" for k in ("word", "hashtag", "emoji or symbol", "number", "other"))
              + f" | {emoji:,} |")
    print(f"\nemoji characters in train: {sum(len(_PICTOGRAPH.findall(line)) for line in texts['train']):,}\n")

    print("| run | as trained | emoji as words | unknown hashtag as its word | both |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for run in args.runs:
        loaded = load_model(run)
        vocab = loaded.vocab
        cells = []
        for names in (False, True):
            config = dataclasses.replace(loaded.tokenizer, emoji_names=names)
            lists = list(TweetTokenizer(config).tokenize_many(texts["test"]))
            for fallback in (False, True):
                if fallback:
                    lists = [[t[1:] if t not in vocab and t.startswith("#") and t[1:] in vocab else t for t in line]
                             for line in lists]
                probs = predict_probs(loaded.model, encode(lists, vocab, loaded.max_tokens), batch_size=512,
                                      ngrams=encode_ngrams(lists, loaded.ngram_buckets, loaded.max_tokens))
                scores = classification_metrics(labels, probs.argmax(-1).tolist(), LABELS)
                cells.append(f"{100 * scores['macro_recall']:.2f}")
        as_trained, hashtags, emoji, both = cells
        print(f"| {run} | {as_trained} | {emoji} | {hashtags} | {both} |")


if __name__ == "__main__":
    main()
