"""Datasets by name or path: which files, which splits, which labels, which metric.

Named datasets live in folders under the data directory (``--data-dir``, env
``HBILSTM_DATA_DIR``, default ``./data``):

=============================  ===========================  =====================================
name                           folder                       official metric
=============================  ===========================  =====================================
``tweeteval-sentiment``        ``tweeteval-sentiment/``     macro-averaged recall
``tweeteval-sentiment-binary`` ``tweeteval-sentiment/``     macro-averaged recall
``tweeteval-emoji``            ``tweeteval-emoji/``         macro-F1
``tweeteval-emotion``          ``tweeteval-emotion/``       macro-F1
``tweeteval-hate``             ``tweeteval-hate/``          macro-F1
``tweeteval-irony``            ``tweeteval-irony/``         F1 of ``irony``
``tweeteval-offensive``        ``tweeteval-offensive/``     macro-F1
``tweeteval-stance-TARGET``    ``tweeteval-stance-TARGET/`` mean F1 of ``against`` and ``favor``
``tweeteval-stance``           the five stance folders      mean F1 of ``against`` and ``favor``
``sst2``                       ``sst/``                     accuracy
``sst5``                       ``sst/``                     accuracy
=============================  ===========================  =====================================

TARGET is one of abortion, atheism, climate, feminist, hillary. ``tweeteval-stance`` is the five
targets as one dataset (TweetEval's stance score pools the five test sets): each tweet's text is
prefixed with its target's name and a colon (``abortion: ...``), so that one model learns all five.

A path instead of a name loads that folder (TweetEval layout, SST layout, a SemEval-2017 Task 4A
folder, or ``train``/``val``/``test`` table files) or one file (a table, a SemEval file).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from .readers import (
    SEMEVAL_LABELS,
    SST2_LABELS,
    SST5_LABELS,
    Examples,
    read_semeval,
    read_sst,
    read_table,
    read_tweeteval,
    read_tweeteval_mapping,
)
from .rows import TABLE_FORMATS

SPLITS = ("train", "val", "test")
TWEETEVAL_FILES = [f"{s}_{kind}.txt" for s in SPLITS for kind in ("text", "labels")] + ["mapping.txt"]
SST_FILES = ["raw.clean.train", "raw.clean.dev", "raw.clean.test"]
# TweetEval's tasks and their official metrics (Barbieri et al., 2020; evaluation_script.py).
TWEETEVAL_TASKS = {
    "sentiment": "macro_recall", "emoji": "macro_f1", "emotion": "macro_f1", "hate": "macro_f1",
    "irony": "irony_f1", "offensive": "macro_f1", "stance": "stance_f1",
}
STANCE_TARGETS = ("abortion", "atheism", "climate", "feminist", "hillary")
NAMED = {
    "tweeteval-sentiment": "tweeteval-sentiment",
    "tweeteval-sentiment-binary": "tweeteval-sentiment",
    **{f"tweeteval-{task}": f"tweeteval-{task}" for task in TWEETEVAL_TASKS if task not in ("sentiment", "stance")},
    **{f"tweeteval-stance-{target}": f"tweeteval-stance-{target}" for target in STANCE_TARGETS},
    "tweeteval-stance": "tweeteval-stance-*",
    "sst2": "sst",
    "sst5": "sst",
}
CLASS_METRICS = ("irony_f1", "stance_f1")  # the official metrics of irony and stance, scored where they apply
METRICS = ("macro_recall", "macro_f1", "accuracy", *CLASS_METRICS)


@dataclass
class Corpus:
    """A dataset ready to encode: its splits, label names (in id order) and official metric.

    ``splits`` holds those of ``train``, ``val`` and ``test`` that the source has; a single file
    that is not split is held as ``all`` (and has no train, val or test split of its own).
    ``files`` are the files read (hashed into manifests).
    """

    name: str
    label_names: list[str]
    splits: dict[str, Examples]
    metric: str
    files: list[Path] = field(default_factory=list)

    @property
    def unsplit(self) -> bool:
        return set(self.splits) == {"all"}

    def split(self, name: str) -> Examples:
        if name in self.splits:
            return self.splits[name]
        raise DataError(
            f"dataset {self.name!r} has no {name!r} split (it has: {', '.join(self.splits)})"
        )


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``data_dir`` if given, else ``$HBILSTM_DATA_DIR``, else ``./data``."""
    return Path(data_dir or os.environ.get("HBILSTM_DATA_DIR") or "data")


def load_corpus(
    spec: str,
    data_dir: str | os.PathLike | None = None,
    text_column: str = "text",
    label_column: str = "label",
    id_column: str = "id",
    download: bool = True,
) -> Corpus:
    """Load a dataset by name (see module docs) or by path.

    A name is one of the named datasets, or any folder under the data directory whose layout
    :func:`detect_layout` recognises (``--data semeval2017-task4a``); a plain name is looked up
    there before it is tried as a path relative to the working directory.
    """
    if spec in NAMED:
        return _load_named(spec, resolve_data_dir(data_dir), download)
    path = Path(spec).expanduser()
    in_data_dir = resolve_data_dir(data_dir) / spec
    if is_plain_name(spec) and in_data_dir.is_dir():
        path = in_data_dir
    if not path.exists():
        folders = [f.name for f in dataset_folders(resolve_data_dir(data_dir)) if f.name not in NAMED.values()]
        names = ", ".join([*NAMED, *folders])
        raise DataError(
            f"{spec!r} is neither a dataset name ({names}; data directory {resolve_data_dir(data_dir)}) "
            "nor an existing path"
        )
    if path.is_dir():
        return _load_folder(path, text_column, label_column, id_column)
    return _load_file(path, text_column, label_column, id_column)


def locate(spec: str, data_dir: str | os.PathLike | None = None) -> tuple[str, str | None]:
    """``(data, data_dir)`` that find the same dataset from any working directory and shell.

    A name keeps its name and gets the data directory it resolves in, made absolute (from
    ``data_dir``, ``$HBILSTM_DATA_DIR`` or ``./data``); an existing path becomes absolute. A run
    stores these, so that ``evaluate`` finds its data where ``HBILSTM_DATA_DIR`` is not set.
    """
    root = resolve_data_dir(data_dir)
    if spec in NAMED or (is_plain_name(spec) and (root / spec).is_dir()):
        return spec, str(root.expanduser().resolve())
    path = Path(spec).expanduser()
    if path.exists():
        return str(path.resolve()), None if data_dir is None else str(Path(data_dir).expanduser().resolve())
    return spec, None if data_dir is None else str(data_dir)


def is_plain_name(spec: str) -> bool:
    """A bare folder name (no separators, not . or ..), as opposed to a path."""
    return bool(spec) and spec not in (".", "..") and "/" not in spec and os.sep not in spec


def dataset_folders(data_dir: Path) -> list[Path]:
    """The folders under ``data_dir`` whose layout is recognised, by name."""
    if not data_dir.is_dir():
        return []
    return [f for f in sorted(data_dir.iterdir()) if f.is_dir() and not f.name.startswith(".") and detect_layout(f)]


# --------------------------------------------------------------------------- named


def _load_named(name: str, data_dir: Path, download: bool) -> Corpus:
    if name == "tweeteval-stance":
        return _stance(data_dir, download)
    folder = data_dir / NAMED[name]
    if name.startswith("tweeteval"):
        if not all((folder / f).is_file() for f in TWEETEVAL_FILES):
            if download and not folder.exists():
                from .hub import fetch_tweeteval

                fetch_tweeteval(folder, TWEETEVAL_FILES, NAMED[name].removeprefix("tweeteval-"))
            else:
                missing = [f for f in TWEETEVAL_FILES if not (folder / f).is_file()]
                raise DataError(f"{folder} lacks {', '.join(missing)} (TweetEval's layout)")
        corpus = _tweeteval(folder, name)
        if name.endswith("-binary"):
            corpus = _drop_label(corpus, "neutral")
        return corpus
    # SST
    missing = [f for f in SST_FILES if not (folder / f).is_file()]
    if missing:
        raise DataError(
            f"dataset {name!r} needs {', '.join(missing)} in {folder} "
            "(Stanford Sentiment Treebank, 'sentence ||| label' per line)"
        )
    return _sst(folder, name, binary=name == "sst2")


def tweeteval_metric(name: str) -> str | None:
    """The official metric of a TweetEval task named like its folder (``tweeteval-irony``,
    ``tweeteval-stance-hillary``, ``tweeteval-sentiment-binary``), or None for another name."""
    match = re.fullmatch(r"tweeteval-([a-z]+)(-[a-z]+)?", name)
    return TWEETEVAL_TASKS.get(match.group(1)) if match else None


def _tweeteval(folder: Path, name: str) -> Corpus:
    labels = read_tweeteval_mapping(folder)
    splits = {s: read_tweeteval(folder, s, labels) for s in SPLITS}
    metric = tweeteval_metric(folder.name) or tweeteval_metric(name) or "macro_recall"
    return Corpus(name, labels, splits, metric, [folder / f for f in TWEETEVAL_FILES])


def _stance(data_dir: Path, download: bool) -> Corpus:
    """The five stance targets as one dataset, each text prefixed with ``target: ``; ids get
    the target as a prefix too (``abortion/17``), so that they stay unique."""
    parts = [_load_named(f"tweeteval-stance-{target}", data_dir, download) for target in STANCE_TARGETS]
    labels = parts[0].label_names
    if any(part.label_names != labels for part in parts):
        raise DataError("the five tweeteval-stance-* folders need the same mapping.txt")
    splits = {}
    for split in SPLITS:
        merged = Examples()
        for target, part in zip(STANCE_TARGETS, parts):
            examples = part.splits[split]
            merged.extend(Examples([f"{target}: {text}" for text in examples.texts], list(examples.labels),
                                   [f"{target}/{i}" for i in examples.ids]))
        splits[split] = merged
    return Corpus("tweeteval-stance", labels, splits, "stance_f1", [f for part in parts for f in part.files])


def _sst(folder: Path, name: str, binary: bool) -> Corpus:
    files = [folder / f for f in SST_FILES]
    splits = {s: read_sst(f, binary) for s, f in zip(SPLITS, files)}
    labels = list(SST2_LABELS if binary else SST5_LABELS)
    return Corpus(name, labels, splits, "accuracy", files)


def _drop_label(corpus: Corpus, label: str) -> Corpus:
    labels = [n for n in corpus.label_names if n != label]
    splits = {
        s: ex.select([i for i, lab in enumerate(ex.labels) if lab != label])
        for s, ex in corpus.splits.items()
    }
    return Corpus(corpus.name, labels, splits, corpus.metric, corpus.files)


# --------------------------------------------------------------------------- paths


def _is_semeval_file(path: Path) -> bool:
    return bool(re.search(r"-A\.(txt|tsv)$", path.name))


# The layouts a folder can be in, as `hbilstm data` names them.
LAYOUTS = {
    "tweeteval": "TweetEval",  # {split}_text.txt, {split}_labels.txt, mapping.txt
    "sst": "SST",  # raw.clean.{train,dev,test}: sentence ||| label
    "semeval": "SemEval-2017 4A",  # *-A.txt: id, label, text
    "tables": "train/val/test tables",  # .csv, .tsv or .jsonl
}
_TABLE_SPLITS = {"train": "train", "val": "val", "valid": "val", "dev": "val", "test": "test"}


def detect_layout(folder: Path) -> str | None:
    """Which of :data:`LAYOUTS` ``folder`` is in, or None."""
    if all((folder / f).is_file() for f in TWEETEVAL_FILES):
        return "tweeteval"
    if all((folder / f).is_file() for f in SST_FILES):
        return "sst"
    if any(_is_semeval_file(p) and p.name.startswith("twitter") for p in folder.iterdir()):
        return "semeval"
    if _split_tables(folder):
        return "tables"
    return None


def _split_tables(folder: Path) -> dict[str, Path]:
    tables: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        split = _TABLE_SPLITS.get(path.name.split(".")[0].lower())
        if split and path.suffix.lower() in TABLE_FORMATS and path.suffix.lower() != ".txt":
            if split in tables:
                raise DataError(f"{folder}: two files for the {split} split ({tables[split].name}, {path.name})")
            tables[split] = path
    return tables


def _load_folder(folder: Path, text_column: str, label_column: str, id_column: str) -> Corpus:
    layout = detect_layout(folder)
    if layout == "tweeteval":
        return _tweeteval(folder, folder.name)
    if layout == "sst":
        return _sst(folder, folder.name, binary=False)
    if layout == "semeval":
        return _semeval_folder(
            folder, sorted(p for p in folder.iterdir() if _is_semeval_file(p) and p.name.startswith("twitter"))
        )
    if layout is None:
        raise DataError(
            f"{folder}: no dataset found (expected TweetEval's {{split}}_text.txt files, SST's "
            "raw.clean.* files, SemEval *-A.txt files, or train/val/test .csv/.tsv/.jsonl files)"
        )
    tables = _split_tables(folder)
    splits = {s: read_table(p, text_column, label_column, id_column) for s, p in tables.items()}
    return _table_corpus(folder.name, splits, list(tables.values()))


def _semeval_folder(folder: Path, files: list[Path]) -> Corpus:
    """SemEval-2016's setup: train = *train-A, val = *dev-A and *devtest-A, test = 2016 test.

    A tweet id that appears in a later split is dropped from the earlier ones (test wins over
    val, val over train), and repeated ids within a split keep their first row, as the task's
    organisers advise.
    """
    def pick(*patterns: str) -> list[Path]:
        return [f for f in files if any(re.search(p, f.name) for p in patterns)]

    groups = {
        "train": pick(r"train-A"),
        "val": pick(r"dev-A", r"devtest-A"),
        "test": pick(r"2016test-A"),
    }
    splits: dict[str, Examples] = {}
    seen: set[str] = set()
    for split in ("test", "val", "train"):
        merged = Examples()
        for path in groups[split]:
            merged.extend(read_semeval(path))
        keep = []
        for i, tweet_id in enumerate(merged.ids):
            if tweet_id not in seen:
                seen.add(tweet_id)
                keep.append(i)
        if groups[split]:
            splits[split] = merged.select(keep)
    used = [f for split in SPLITS for f in groups[split]]
    return Corpus(
        folder.name, list(SEMEVAL_LABELS), {s: splits[s] for s in SPLITS if s in splits}, "macro_recall", used
    )


def _load_file(path: Path, text_column: str, label_column: str, id_column: str) -> Corpus:
    if _is_semeval_file(path):
        return Corpus(path.stem, list(SEMEVAL_LABELS), {"all": read_semeval(path)}, "macro_recall", [path])
    if path.name.startswith("raw.clean."):
        return Corpus(path.name, list(SST5_LABELS), {"all": read_sst(path)}, "accuracy", [path])
    examples = read_table(path, text_column, label_column, id_column)
    return _table_corpus(path.stem, {"all": examples}, [path])


def _table_corpus(name: str, splits: dict[str, Examples], files: list[Path]) -> Corpus:
    source = splits.get("train") or next(iter(splits.values()))
    found = set(source.labels)
    if all(re.fullmatch(r"-?\d+", label) for label in found):
        labels = sorted(found, key=int)
    else:
        labels = sorted(found)
    return Corpus(name, labels, splits, "macro_recall", files)
