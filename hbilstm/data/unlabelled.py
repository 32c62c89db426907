"""Tweets for pretraining: unlabelled texts, emoji as distant labels, and no val or test tweet
(and, by :func:`unlabelled_texts`, the unlabelled tweets a distillation or a virtual adversarial
training run reads, with the same check).

The pool a pretraining run reads is the texts of any files a user gives (``.txt``, ``.csv``,
``.tsv``, ``.jsonl``, ``.parquet``, the readers ``hbilstm predict`` uses) and the **train** splits
of named datasets (by default every TweetEval task found in the data directory). From it:

* every tweet whose normalised text (:func:`normalised`) occurs in a val or test split of any
  TweetEval task found in the data directory (and of any other named dataset given to check) is
  dropped, so that nothing scored later was seen while pretraining, and repeated tweets are kept
  once;
* the emoji task's examples (DeepMoji's distant supervision, Felbo et al., 2017): TweetEval's
  emoji train split as it is (its emoji already taken out of the text), and every other pool
  tweet that holds exactly one of the emoji task's 20 emoji, that emoji taken out of its text and
  made its label.

Data code only: nothing here knows of the model.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import DataError
from .corpora import STANCE_TARGETS, TWEETEVAL_TASKS, Corpus, load_corpus
from .readers import read_tweeteval_mapping
from .rows import TABLE_FORMATS, iter_records, table_format

EMOJI_TASK = "tweeteval-emoji"
# Every TweetEval task as single folders (stance: one per target), whose train splits make the default pool.
POOL_TASKS = tuple(
    [f"tweeteval-{t}" for t in TWEETEVAL_TASKS if t != "stance"]
    + [f"tweeteval-stance-{target}" for target in STANCE_TARGETS]
)
READABLE = (*TABLE_FORMATS, ".parquet")
ALL_TWEETEVAL = "tweeteval"  # as an unlabelled entry: every TweetEval task's train split (unlabelled_texts)
_MENTION = re.compile(r"@\w+")
_URL = re.compile(r"https?://\S+|www\.\S+")
_WORDS = re.compile(r"\w+")
_VARIATION = "\ufe0f"  # emoji presentation selector: ❤️ is ❤ followed by it


def normalised(text: str) -> str:
    """The key by which two tweets count as the same: NFKC, lowercase, every ``@name`` as
    ``@user`` and every URL dropped, then only the words (letters and digits), one space apart.
    A tweet with no word keys on its lowercased, stripped text."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _URL.sub(" ", _MENTION.sub("@user", text))
    words = _WORDS.findall(text)
    return " ".join(words) if words else text.strip()


def read_texts(path: str | Path, text_column: str = "text") -> list[str]:
    """The texts of one file of tweets (a ``.txt`` line, or the ``text_column`` of a table), in
    order, blank ones left out; DataError for a missing file, a missing column, a bad row or a
    file without a tweet (a file a user names that adds nothing is most likely the wrong one)."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder; give files of tweets ({', '.join(READABLE)})")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with open(path, "rb") as stream:
            if path.suffix.lower() == ".parquet":
                from .parquet import iter_parquet_records

                records = iter_parquet_records(stream, str(path), required=(text_column,))
            else:
                fmt = table_format(path)
                records = iter_records(stream, fmt, str(path), required=(text_column,) if fmt != "txt" else ("text",))
            column = text_column if path.suffix.lower() != ".txt" else "text"
            texts = [text for r in records if isinstance(text := r.fields.get(column), str) and text.strip()]
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not texts:
        raise DataError(f"{path}: no tweets in it (every line or row is blank); leave it out or give a file of tweets")
    return texts


def emoji_of_task(data_dir: Path) -> list[str]:
    """The emoji task's 20 emoji, in label order (its mapping.txt's second column)."""
    folder = Path(data_dir) / EMOJI_TASK
    if not (folder / "mapping.txt").is_file():
        raise DataError(f"{folder}: no mapping.txt; the emoji objective needs TweetEval's emoji task there")
    rows = [line.split("\t") for line in (folder / "mapping.txt").read_text(encoding="utf-8").splitlines() if line]
    return [row[1].strip() for row in rows]


def emoji_label(text: str, emoji: Sequence[str]) -> tuple[int | None, str]:
    """``(label, text without it)`` when ``text`` holds exactly one of ``emoji`` (any number of
    times, with or without the presentation selector), else ``(None, text)``. An emoji whose
    characters are part of another (a flag inside a longer sequence) counts only on its own."""
    bare = text.replace(_VARIATION, "")
    present = [i for i, e in enumerate(emoji) if e and e in bare]
    if len(present) != 1:
        return None, text
    stripped = " ".join(bare.replace(emoji[present[0]], " ").split())
    return (present[0], stripped) if stripped else (None, text)


@dataclass
class Pool:
    """What a pretraining run reads: ``texts`` for the language model, ``emoji_texts`` and
    ``emoji_labels`` for the emoji objective (``emoji``: the label names), and what was dropped."""

    texts: list[str]
    emoji_texts: list[str] = field(default_factory=list)
    emoji_labels: list[int] = field(default_factory=list)
    emoji: list[str] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)  # tweets read from each source
    held_out: int = 0  # tweets dropped because a val or test split holds them
    repeated: int = 0  # tweets dropped as repeats of one already in the pool
    checked_against: list[str] = field(default_factory=list)  # the datasets whose val and test splits were checked


def _local_corpus(name: str, data_dir: Path, loaded: dict[str, Corpus | None]) -> Corpus | None:
    """Dataset ``name`` from the data directory (never downloaded), None when it is not there;
    kept in ``loaded`` so that its files are read once for its train split and its held-out ones."""
    if name not in loaded:
        try:
            loaded[name] = load_corpus(name, data_dir, download=False)
        except DataError:
            loaded[name] = None
    return loaded[name]


def held_out_keys(data_dir: Path, names: Iterable[str], loaded: dict[str, Corpus | None]
                  ) -> tuple[set[str], list[str]]:
    """The normalised texts of every val and test split of the datasets ``names`` that the data
    directory holds, and which of them it held (``loaded``: datasets read so far, by name)."""
    keys: set[str] = set()
    found = []
    for name in names:
        corpus = _local_corpus(name, data_dir, loaded)
        if corpus is None:
            continue  # not there: nothing of it can be scored here either
        found.append(name)
        for split in ("val", "test"):
            if split in corpus.splits:
                keys.update(normalised(t) for t in corpus.splits[split].texts)
    return keys, found


def other_tasks_held_out(corpus_name: str, data_dir: str | Path) -> set[str]:
    """The normalised texts of every val and test split of the TweetEval tasks in ``data_dir``
    but ``corpus_name``'s own (``tweeteval-stance``'s: its five targets'; a variant such as
    ``tweeteval-sentiment-binary``: its task's): what a model that other tasks start from must
    not train on (``exclude_held_out``)."""
    names = [n for n in POOL_TASKS
             if n != corpus_name and not n.startswith(f"{corpus_name}-") and not corpus_name.startswith(f"{n}-")]
    return held_out_keys(Path(data_dir), names, {})[0]


def build_pool(data_dir: Path, files: Sequence[str | Path] = (), tasks: Sequence[str] = POOL_TASKS,
               text_column: str = "text", emoji: bool = True, check: Sequence[str] = ()) -> Pool:
    """The pool of the module's docstring: the train splits of ``tasks`` (those the data
    directory holds) and the texts of ``files``; val and test tweets of every TweetEval task and
    of ``check`` dropped; emoji examples when ``emoji``."""
    data_dir = Path(data_dir)
    loaded: dict[str, Corpus | None] = {}
    held, checked = held_out_keys(data_dir, dict.fromkeys([*POOL_TASKS, *tasks, *check]), loaded)
    emoji_names = emoji_of_task(data_dir) if emoji else []
    pool = Pool([], emoji=emoji_names, checked_against=checked)
    seen: set[str] = set()

    def add(texts: list[str], source: str, labels: list[int] | None = None) -> None:
        pool.sources[source] = len(texts)
        for i, text in enumerate(texts):
            key = normalised(text)
            if key in held:
                pool.held_out += 1
                continue
            if key in seen:
                pool.repeated += 1
                continue
            seen.add(key)
            pool.texts.append(text)
            if not emoji:
                continue
            if labels is not None:
                pool.emoji_texts.append(text)
                pool.emoji_labels.append(labels[i])
            else:
                label, stripped = emoji_label(text, emoji_names)
                if label is not None:
                    pool.emoji_texts.append(stripped)
                    pool.emoji_labels.append(label)

    for name in tasks:
        corpus = _local_corpus(name, data_dir, loaded)
        train = corpus.splits.get("train") if corpus is not None else None
        if train is None:
            continue
        labels = None
        if name == EMOJI_TASK and emoji:
            index = {label: i for i, label in enumerate(read_tweeteval_mapping(data_dir / EMOJI_TASK))}
            labels = [index[label] for label in train.labels]
        add(list(train.texts), f"{name} train", labels)
    for path in files:
        add(read_texts(path, text_column), str(path))
    if not pool.texts:
        raise DataError("no tweets to pretrain on: give files of tweets, or a data directory holding TweetEval "
                        f"(looked in {data_dir} for {', '.join(tasks) or 'no dataset'})")
    return pool


def file_list(files: str | None) -> list[str]:
    """The paths of a comma-separated option (``unlabelled``), blanks left out."""
    return [f.strip() for f in (files or "").split(",") if f.strip()]


def unlabelled_texts(entries: Sequence[str | Path], corpus: Corpus, data_dir: Path) -> tuple[list[str], int]:
    """The tweets of ``entries``, less those in a val or test split of ``corpus`` or of any
    TweetEval task in the data directory; and how many were dropped. An entry is a file of
    tweets, or ``tweeteval`` (:data:`ALL_TWEETEVAL`): the train splits of every TweetEval task
    the data directory holds, but ``corpus``'s own."""
    if not entries:
        return [], 0
    data_dir = Path(data_dir)
    loaded: dict[str, Corpus | None] = {}
    texts = []
    for entry in entries:
        if str(entry) != ALL_TWEETEVAL:
            texts += read_texts(entry)
            continue
        for name in POOL_TASKS:
            if name == corpus.name or name.startswith(f"{corpus.name}-"):  # tweeteval-stance holds its targets
                continue
            other = _local_corpus(name, data_dir, loaded)
            train = other.splits.get("train") if other is not None else None
            texts += list(train.texts) if train is not None else []
    held, _ = held_out_keys(data_dir, POOL_TASKS, loaded)
    for split in ("val", "test"):
        if split in corpus.splits:
            held.update(normalised(t) for t in corpus.splits[split].texts)
    kept = [t for t in texts if normalised(t) not in held]
    return kept, len(texts) - len(kept)
