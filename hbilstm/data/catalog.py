"""What datasets the data directory holds: ``hbilstm data`` lists them.

Each entry is plain values (name, folder, layout, classes, rows per split, official metric), so
the command line can show it as a table or as JSON.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import DataError
from .corpora import (
    LAYOUTS,
    NAMED,
    SPLITS,
    STANCE_TARGETS,
    dataset_folders,
    detect_layout,
    load_corpus,
    resolve_data_dir,
)


@dataclass
class DatasetInfo:
    name: str
    folder: str
    layout: str = ""
    classes: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    metric: str = ""
    status: str = "ready"  # "ready", "missing" (a named dataset not there) or "unreadable: why"

    def to_dict(self) -> dict:
        return asdict(self)


def list_datasets(data_dir: str | os.PathLike | None = None) -> tuple[Path, list[DatasetInfo]]:
    """The data directory used, and every dataset it holds or that a name would look for there."""
    root = resolve_data_dir(data_dir)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root}: is a file; the data directory is the folder that holds the datasets")
    found: list[DatasetInfo] = []
    for name, folder_name in NAMED.items():
        found.append(_describe(name, root / folder_name, "sst" if folder_name == "sst" else "tweeteval", root))
    for folder in dataset_folders(root):
        if folder.name not in NAMED.values():
            found.append(_describe(folder.name, folder, "", root))
    return root, found


def _describe(name: str, folder: Path, layout: str, root: Path) -> DatasetInfo:
    info = DatasetInfo(name, str(folder), layout)
    if name == "tweeteval-stance":  # the five target folders together
        there = all((root / f"tweeteval-stance-{target}").is_dir() for target in STANCE_TARGETS)
    else:
        there = folder.is_dir()
    if not there:
        info.status = "missing"
        if name.startswith("tweeteval"):
            info.status += " (downloaded from the Hub on first use)"
        return info
    try:
        corpus = load_corpus(name, root, download=False)
    except DataError as exc:
        info.status = f"unreadable: {exc}"
        return info
    info.layout = info.layout or (detect_layout(folder) if folder.is_dir() else "") or ""
    info.classes = list(corpus.label_names)
    info.rows = {s: len(corpus.splits[s]) for s in SPLITS if s in corpus.splits}
    info.metric = corpus.metric
    return info


def layout_description(layout: str) -> str:
    return LAYOUTS.get(layout, layout)
