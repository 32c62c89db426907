"""A model folder's integrity record: what ``hbilstm export`` wrote, checked before anything is read.

``integrity.json`` lists every file of the folder with its size and SHA-256, and the digest of
the model (weights and shape, temperatures included) that ``model.onnx`` was traced from::

    {"format": "hbilstm-integrity", "format_version": 1,
     "files": {"config.json": {"bytes": 2817, "sha256": "..."}, ...},
     "graph_model_sha256": "..."}

:func:`verify_folder` refuses a folder, before any of its files is parsed, when the record is
missing or damaged, a file it lists is missing, changed or not a regular file, a file it does
not list lies in the folder, or a link leads out of it. Hidden files (``.gitattributes``, which
the Hugging Face Hub adds to every repository, and ``.cache``, which its downloads leave) are
never read and so never checked. Every file has a size cap (:data:`CAPS`), so that nothing in a
folder can make a reader hold more than that in memory.

This guards against a folder damaged or mixed up after export (a graph or vocabulary from
another model, a truncated download, an edited config); it is not a signature: whoever can
rewrite every file can rewrite the record too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from ..fileio import FileRefused, check_regular, read_capped, sha256_file

RECORD_FILE = "integrity.json"
FORMAT = "hbilstm-integrity"
FORMAT_VERSION = 1
GRAPH_KEY = "graph_model_sha256"
_GIB, _MIB = 1 << 30, 1 << 20
# The most bytes each file of a model folder may hold (anything else: DEFAULT_CAP).
CAPS = {"config.json": 16 * _MIB, "vocab.json": 256 * _MIB, "README.md": 4 * _MIB, RECORD_FILE: 4 * _MIB,
        "model.safetensors": 16 * _GIB, "model.onnx": 16 * _GIB, "vocab_fallback.safetensors": 4 * _GIB}
DEFAULT_CAP = 64 * _MIB


def cap_of(name: str) -> int:
    return CAPS.get(name, DEFAULT_CAP)


def write_record(folder: str | os.PathLike, graph_digest: str | None = None) -> Path:
    """Write ``folder/integrity.json`` over every file now in ``folder`` (call it last)."""
    folder = Path(folder)
    files = {}
    for path in sorted(folder.iterdir()):
        if path.name == RECORD_FILE or path.name.startswith("."):
            continue
        if not path.is_file() or path.is_symlink():
            raise CheckpointError(f"{path}: a model folder holds only plain files")
        files[path.name] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    record: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION, "files": files}
    if graph_digest is not None:
        record[GRAPH_KEY] = graph_digest
    (folder / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return folder / RECORD_FILE


def has_record(folder: str | os.PathLike) -> bool:
    return (Path(folder) / RECORD_FILE).is_file()


def verify_folder(folder: str | os.PathLike) -> dict[str, Any]:
    """The folder's integrity record, once every file has been checked against it (see the module);
    CheckpointError naming the first problem. Links may lead only inside ``folder`` or, for a
    snapshot in the Hugging Face cache (``models--OWNER--NAME/snapshots/REVISION``), inside its
    repository's folder, where the snapshot's links lead (to ``blobs``)."""
    folder = Path(folder)
    inside = _hub_repository(folder) or folder
    record = read_record(folder, inside)
    listed = record["files"]
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith(".") or entry.name == RECORD_FILE:
            continue
        if entry.name not in listed:
            raise CheckpointError(f"{folder / entry.name}: not a file that was exported with this model (its "
                                  f"{RECORD_FILE} does not list it); remove it, or export the model again")
    for name, facts in listed.items():
        path = folder / name
        try:
            size = check_regular(path, cap_of(name), inside)
        except FileRefused as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        try:
            digest = sha256_file(path) if size == facts["bytes"] else None
        except OSError as exc:
            raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if digest != facts["sha256"]:
            raise CheckpointError(f"{path}: changed or damaged since export (its size or SHA-256 differs from "
                                  f"{RECORD_FILE}); export the model again")
    return record


def _hub_repository(folder: Path) -> Path | None:
    """The repository folder of a Hugging Face cache snapshot, or None for any other folder."""
    folder = folder.absolute()
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
        return folder.parent.parent
    return None


def read_record(folder: Path, inside: Path | None = None) -> dict[str, Any]:
    """The record of ``folder``, checked for its own shape (``inside``: where a link to it may lead)."""
    path = folder / RECORD_FILE
    if not path.exists() and not path.is_symlink():
        raise CheckpointError(f"{folder}: no {RECORD_FILE}, so its files cannot be checked (a folder exported by "
                              "hbilstm before 0.1, or not by hbilstm); export it again with `hbilstm export`")
    try:
        record = json.loads(read_capped(path, cap_of(RECORD_FILE), inside or folder))
    except FileRefused as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CheckpointError(f"{path}: damaged (not JSON)") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an hbilstm integrity record")
    if record.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: integrity record version {record.get('format_version')!r}, this hbilstm "
                              f"reads version {FORMAT_VERSION}")
    files = record.get("files")
    if not isinstance(files, dict) or not files or not all(_sound_entry(n, f) for n, f in files.items()):
        raise CheckpointError(f"{path}: damaged (its file list is not as hbilstm export writes it)")
    graph = record.get(GRAPH_KEY)
    if graph is not None and not isinstance(graph, str):
        raise CheckpointError(f"{path}: damaged ({GRAPH_KEY} is not a digest)")
    return record


def _sound_entry(name: Any, facts: Any) -> bool:
    return (isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name
            and name != RECORD_FILE and isinstance(facts, dict) and isinstance(facts.get("sha256"), str)
            and isinstance(facts.get("bytes"), int) and not isinstance(facts.get("bytes"), bool)
            and facts["bytes"] >= 0)
