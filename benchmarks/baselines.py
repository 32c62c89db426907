"""Baselines for issue 13, on the splits every hbilstm model is scored on.

Usage: python benchmarks/baselines.py [--data-dir DIR] [--model RUN_DIR ...] [--json FILE]

Rows:

* ``tfidf-lr``: scikit-learn, TF-IDF over word 1-2-grams and char_wb 2-5-grams (sublinear tf),
  ``LogisticRegression(C=10, class_weight="balanced")``, trained on TweetEval train;
* ``vader``: VADER's compound score (``vaderSentiment``, if installed), positive above 0.05,
  negative below -0.05, neutral between: no training;
* one row per ``--model``: an hbilstm model scored by the same code.

Columns: TweetEval test (macro-recall, accuracy, macro-F1) and, with no retraining, SemEval-2017
4A's out-of-domain test files: SMS-2013, LiveJournal-2014 and Twitter-2014 sarcasm (macro-recall).
The last line counts how many tweets of each set are also in TweetEval's training split: the
sarcasm set is almost all there (TweetEval's train holds SemEval's earlier test sets), so a score
on it measures memory, not transfer.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

from hbilstm.data.corpora import load_corpus
from hbilstm.evaluation.metrics import classification_metrics

LABELS = ["negative", "neutral", "positive"]
OUT_OF_DOMAIN = {
    "sms-2013": "semeval2017-task4a/sms-2013test-A.tsv",
    "livejournal-2014": "semeval2017-task4a/livejournal-2014test-A.tsv",
    "sarcasm-2014": "semeval2017-task4a/twitter-2014sarcasm-A.txt",
}


def evaluation_sets(data_dir: Path) -> dict[str, tuple[list[str], list[int]]]:
    sets = {}
    test = load_corpus("tweeteval-sentiment", data_dir).split("test")
    sets["tweeteval-test"] = test
    for name, path in OUT_OF_DOMAIN.items():
        sets[name] = load_corpus(str(data_dir / path)).split("all")
    return {name: (list(ex.texts), [LABELS.index(label) for label in ex.labels]) for name, ex in sets.items()}


def scores(truth: list[int], predicted: list[int]) -> dict:
    m = classification_metrics(truth, predicted, LABELS)
    return {"macro_recall": m["macro_recall"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "n": len(truth)}


NGRAMS = {"word": ("word", (1, 2)), "char_wb": ("char_wb", (2, 5))}


def tfidf_pipeline(train_texts, train_labels, kinds=("word", "char_wb")):
    """TF-IDF over the n-grams of ``kinds`` (word 1-2-grams, char_wb 2-5-grams), then
    LogisticRegression(C=10, balanced), fitted on the given texts."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    features = make_union(*(TfidfVectorizer(analyzer=NGRAMS[k][0], ngram_range=NGRAMS[k][1], min_df=2,
                                            sublinear_tf=True, lowercase=True) for k in kinds))
    model = make_pipeline(features, LogisticRegression(C=10, class_weight="balanced", max_iter=2000))
    return model.fit(train_texts, train_labels)


def tfidf_lr(train_texts, train_labels):
    model = tfidf_pipeline(train_texts, train_labels)
    return lambda texts: list(model.predict(texts))


def vader():
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        return None
    analyzer = SentimentIntensityAnalyzer()

    def predict(texts):
        out = []
        for text in texts:
            compound = analyzer.polarity_scores(text)["compound"]
            out.append(2 if compound > 0.05 else 0 if compound < -0.05 else 1)
        return out

    return predict


def hbilstm_model(path: str):
    from hbilstm.api import load

    classifier = load(path, device="cpu")

    def predict(texts):
        names = [classifier.labels[i] for i in classifier.predict_proba(texts).argmax(axis=1)]
        return [LABELS.index(name) for name in names]

    return predict


def _key(text: str) -> str:
    """A tweet's text with case, mentions and everything but letters and digits dropped."""
    return re.sub(r"\W+", "", re.sub(r"@\w+", "", text.lower()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HBILSTM_DATA_DIR", "../shared/data")))
    parser.add_argument("--model", action="append", default=[], help="an hbilstm run or model folder (repeatable)")
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args()
    sets = evaluation_sets(args.data_dir)
    train = load_corpus("tweeteval-sentiment", args.data_dir).split("train")
    systems = []
    started = time.perf_counter()
    systems.append(("tfidf-lr", tfidf_lr(list(train.texts), [LABELS.index(label) for label in train.labels]),
                    time.perf_counter() - started))
    vader_predict = vader()
    if vader_predict is not None:
        systems.append(("vader", vader_predict, 0.0))
    for path in args.model:
        systems.append((f"hbilstm {path}", hbilstm_model(path), float("nan")))

    table = {}
    for name, predict, train_seconds in systems:
        table[name] = {"train_seconds": train_seconds}
        for set_name, (texts, truth) in sets.items():
            table[name][set_name] = scores(truth, predict(texts))
    header = [
        "system",
        "test macro-recall",
        "test accuracy",
        "test macro-F1",
        *(f"{s} macro-recall" for s in OUT_OF_DOMAIN),
        "train (s)",
    ]
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |")
    for name, row in table.items():
        test = row["tweeteval-test"]
        cells = [name, *(f"{100 * test[k]:.1f}" for k in ("macro_recall", "accuracy", "macro_f1")),
                 *(f"{100 * row[s]['macro_recall']:.1f}" for s in OUT_OF_DOMAIN),
                 "-" if row["train_seconds"] != row["train_seconds"] else f"{row['train_seconds']:.0f}"]
        print("| " + " | ".join(cells) + " |")
    print("sizes: " + ", ".join(f"{s} {len(sets[s][1]):,}" for s in sets))
    seen = {_key(text) for text in train.texts}
    print("found in TweetEval train (same text, mentions and punctuation aside): " + ", ".join(
        f"{s} {sum(_key(t) in seen for t in sets[s][0]):,} of {len(sets[s][0]):,}" for s in sets))
    if args.json:
        args.json.write_text(json.dumps(table, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
