"""Benchmark 4: tokenization throughput of hbilstm's Twitter-aware tokenizer against spaCy's
plain English tokenizer (``spacy.blank("en").tokenizer``) on the same tweets.

    python benchmarks/tokenize_throughput.py [--repeat 4]

The tweets are TweetEval's test split, passed ``--repeat`` times (a large file repeats its
common tokens the same way). Each tokenizer is built fresh, so the first pass is cold.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import spacy

from hbilstm.data.tokenizer import TweetTokenizer

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TWEETS = REPO.parent / "shared" / "data" / "tweeteval-sentiment" / "test_text.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tweets", default=str(DEFAULT_TWEETS))
    parser.add_argument("--repeat", type=int, default=4)
    args = parser.parse_args()
    tweets = Path(args.tweets).read_text(encoding="utf-8").rstrip("\n").split("\n") * args.repeat

    plain = spacy.blank("en").tokenizer
    start = time.perf_counter()
    plain_tokens = sum(len(doc) for doc in plain.pipe(tweets, batch_size=1000))
    plain_seconds = time.perf_counter() - start

    ours = TweetTokenizer()
    start = time.perf_counter()
    our_tokens = sum(len(tokens) for tokens in ours.tokenize_many(tweets))
    our_seconds = time.perf_counter() - start

    print(f"{len(tweets):,} tweets (TweetEval test x {args.repeat}), spaCy {spacy.__version__}")
    print("| tokenizer | tweets/s | tokens/s | tokens |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| spaCy blank('en') | {len(tweets) / plain_seconds:,.0f} | {plain_tokens / plain_seconds:,.0f} | "
          f"{plain_tokens:,} |")
    print(f"| hbilstm TweetTokenizer | {len(tweets) / our_seconds:,.0f} | {our_tokens / our_seconds:,.0f} | "
          f"{our_tokens:,} |")


if __name__ == "__main__":
    main()
