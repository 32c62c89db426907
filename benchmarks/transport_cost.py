"""What the GPU path of `hbilstm predict` costs its parent per row, and what its workers weigh.

On a GPU the workers only tokenize and encode, and the parent scores. This measures, for N
tweets encoded once here, the parent's share of that path in each transport: unpickling what the
workers send (lists of ints against flat arrays, :class:`~hbilstm.data.padding.Ragged`) and
padding it into batches. Then it starts one encode-only worker as `hbilstm predict` would and
reads its resident memory after a piece of work. Runs on a CPU; GPU-free.

    python benchmarks/transport_cost.py runs/default --tweets ../shared/data/tweeteval-sentiment/test_text.txt
"""

from __future__ import annotations

import argparse
import pickle
import subprocess
import sys
import time
from pathlib import Path

import torch

from hbilstm.checkpoint import load_model
from hbilstm.data.batching import iter_batches
from hbilstm.data.padding import Ragged, longest_first
from hbilstm.data.pipeline import encode_texts
from hbilstm.data.tokenizer import TweetTokenizer

REPO = Path(__file__).resolve().parents[1]
WORKER_RSS = """
import multiprocessing, sys, torch
from pathlib import Path
from hbilstm.checkpoint import load_model
from hbilstm.predict.workers import ChunkScorer
texts = Path(sys.argv[2]).read_text(encoding="utf-8").split("\\n")[:8192]
scorer = ChunkScorer(load_model(sys.argv[1], "cpu"), 512, workers=1)
scorer.workers_score = False  # as on a GPU: the worker only encodes
scorer.chunks = scorer.local_chunks  # the next chunk goes to the worker
try:
    scorer.submit(texts).get()
    (child,) = multiprocessing.active_children()
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{child.pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    torch_loaded = "libtorch" in Path(f"/proc/{child.pid}/maps").read_text()
    print(f"an encode-only worker after {len(texts):,} tweets: {rss / 1024:,.0f} MiB resident; "
          f"torch loaded: {torch_loaded}")
finally:
    scorer.close()
"""


def seconds(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--tweets", default=str(REPO.parent / "shared/data/tweeteval-sentiment/test_text.txt"))
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(1)
    loaded = load_model(args.model, "cpu")
    lines = Path(args.tweets).read_text(encoding="utf-8").rstrip("\n").split("\n")
    texts = [lines[i % len(lines)] for i in range(args.n)]
    encoded = encode_texts(TweetTokenizer(loaded.tokenizer), loaded.vocab, loaded.max_tokens, texts,
                           loaded.ngram_buckets)
    per_row = sum(map(len, encoded.ids)) / args.n, sum(map(len, encoded.ngrams or [])) / args.n
    print(f"{args.n:,} tweets; per tweet {per_row[0]:.1f} token ids and {per_row[1]:.1f} n-gram ids")
    print("| transport | worker: convert (s) | message (MiB) | parent: unpickle (s) | parent: pad batches (s) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    order = longest_first([len(s) for s in encoded.ids], args.batch_size)

    def pad_all(ids, grams):
        for _ in iter_batches(ids, None, order, ngrams=grams):
            pass

    as_lists = pickle.dumps((encoded.ids, encoded.ngrams), protocol=pickle.HIGHEST_PROTOCOL)
    unpickle = seconds(lambda: pickle.loads(as_lists))
    print(f"| lists of ints | 0 | {len(as_lists) / 2**20:,.0f} | {unpickle:.3f} | "
          f"{seconds(lambda: pad_all(encoded.ids, encoded.ngrams)):.3f} |")
    flat: list = []
    convert = seconds(lambda: flat.extend([Ragged.from_lists(encoded.ids), Ragged.from_lists(encoded.ngrams)]))
    as_flat = pickle.dumps(tuple(flat), protocol=pickle.HIGHEST_PROTOCOL)
    unpickle = seconds(lambda: pickle.loads(as_flat))
    print(f"| flat arrays (Ragged) | {convert:.3f} | {len(as_flat) / 2**20:,.0f} | {unpickle:.3f} | "
          f"{seconds(lambda: pad_all(*flat)):.3f} |")

    # The worker is measured from a `python -c` parent: spawn re-imports a parent's main *file*
    # in every worker, and this file imports torch, which `hbilstm predict`'s main module does not.
    done = subprocess.run([sys.executable, "-c", WORKER_RSS, args.model, args.tweets], capture_output=True, text=True,
                          cwd=REPO)
    print(done.stdout.strip() or done.stderr.strip().splitlines()[-1])

if __name__ == "__main__":
    main()
