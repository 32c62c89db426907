"""The portable model folder that ``hbilstm export`` writes and every command can load.

::

    config.json         format and version, model shape, tokenizer settings, labels, the training
                        options, dataset and scores (plain JSON)
    model.safetensors   the weights (tensors only: loading runs no code)
    vocab.json          the vocabulary, one token per id, in id order
    vocab_fallback.safetensors  (a model trained with vector_fallback) each key of its word vectors
                        and the vocabulary id it is read as (hbilstm.data.fallback)
    model.onnx          the same model as an ONNX graph, for ONNX Runtime (optional)
    README.md           the model card
    integrity.json      the size and SHA-256 of every file above, checked before any is read
                        (hbilstm.export.integrity)

This is the layout Hugging Face Hub repositories use (``config.json`` beside
``model.safetensors``, the card as ``README.md``), so such a folder can be uploaded as it is and
downloaded with ``huggingface_hub.snapshot_download``. Nothing in it is ever unpickled, and
nothing is parsed before every file has passed the integrity record and its config.json the
checks of :mod:`hbilstm.schema`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, ConfigError
from ..fileio import FileRefused, read_capped, refuse_file_as_folder
from ..schema import check_model_values
from .integrity import cap_of, verify_folder, write_record

FORMAT = "hbilstm-model"
FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE, ONNX_FILE, CARD_FILE = (
    "config.json", "model.safetensors", "vocab.json", "model.onnx", "README.md")
FALLBACK_FILE = "vocab_fallback.safetensors"  # only for a model trained with vector_fallback
EXPORT_DIR = "export"  # the model folder that `hbilstm train` leaves inside a run directory
# What config.json carries from a checkpoint's payload (the weights and vocabulary go elsewhere).
_CONFIG_KEYS = ("hbilstm_version", "model_config", "labels", "tokenizer", "max_tokens", "train_config",
                "dataset", "data_files", "metric", "epoch", "member_configs", "members")


def is_model_folder(path: str | os.PathLike) -> bool:
    path = Path(path)
    return path.is_dir() and (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file()


def _safetensors():
    try:
        import safetensors.torch
    except ImportError:
        raise ConfigError("model folders need the safetensors package, one of hbilstm's dependencies: "
                          "pip install safetensors") from None
    return safetensors.torch


def write_model_folder(payload: dict[str, Any], out: Path, extra: dict[str, Any] | None = None,
                       card: str | None = None, onnx_writer=None, overwrite: bool = False) -> Path:
    """Write a model checkpoint's ``payload`` as a model folder at ``out``.

    ``extra`` goes into config.json too (for example the run's scores); ``card`` is the
    README.md text; ``onnx_writer(path)`` writes model.onnx and returns the digest of the model it
    was traced from (kept in integrity.json, written last). Everything is written into a
    temporary folder beside ``out`` and renamed into place, so a failure leaves nothing behind.
    """
    out = Path(out)
    refuse_file_as_folder(out, "the model folder must be a folder")
    if out.exists() and not (out.is_dir() and not any(out.iterdir())) and not overwrite:
        raise ConfigError(f"{out} already exists and is not empty; use --overwrite to replace it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot create folder {out.parent} ({exc.strerror or exc})") from None
    config = {"format": FORMAT, "format_version": FORMAT_VERSION,
              **{k: payload[k] for k in _CONFIG_KEYS if k in payload}, **(extra or {})}
    try:
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write into {out.parent} ({exc.strerror or exc})") from None
    try:
        weights = {k: v.detach().cpu().contiguous() for k, v in payload["state_dict"].items()}
        _safetensors().save_file(weights, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / VOCAB_FILE).write_text(json.dumps(list(payload["vocab"]), ensure_ascii=False) + "\n", encoding="utf-8")
        if payload.get("vocab_fallback") is not None:
            _safetensors().save_file({k: v.contiguous() for k, v in payload["vocab_fallback"].items()},
                                     str(tmp / FALLBACK_FILE))
        if card is not None:
            (tmp / CARD_FILE).write_text(card, encoding="utf-8")
        graph_digest = onnx_writer(tmp / ONNX_FILE) if onnx_writer is not None else None
        write_record(tmp, graph_digest)
        _usual_permissions(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _usual_permissions(folder: Path) -> None:
    """The permissions a folder made with ``mkdir`` would have (``mkdtemp`` makes it private)."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for file in folder.iterdir():
        file.chmod(0o666 & ~umask)


def read_folder_files(path: str | os.PathLike, verify: bool = True
                      ) -> tuple[dict[str, Any], list[str], dict[str, Any] | None]:
    """A model folder's config.json and vocab.json, checked, and its integrity record (no weights:
    nothing here needs torch). ``verify``: check every file against the record first (see
    :func:`~hbilstm.export.integrity.verify_folder`; a process reading a folder that its parent
    has just checked passes False, and the record is then None)."""
    path = Path(path)
    record = verify_folder(path) if verify else None
    config, vocab = (_read_json(path / name) for name in (CONFIG_FILE, VOCAB_FILE))
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path / CONFIG_FILE}: not an hbilstm model folder")
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: model folder format version {config.get('format_version')!r}, "
                              f"this hbilstm reads version {FORMAT_VERSION}")
    if not isinstance(vocab, list) or not all(isinstance(t, str) for t in vocab):
        raise CheckpointError(f"{path / VOCAB_FILE}: expected a JSON list of tokens")
    check_model_values(config, str(path / CONFIG_FILE), vocab)
    return config, vocab, record


def _read_json(path: Path) -> Any:
    try:
        return json.loads(read_capped(path, cap_of(path.name)).decode("utf-8"))
    except FileRefused as exc:
        if str(exc) == "no such file":
            raise CheckpointError(f"{path.parent}: model folder without {path.name}") from None
        raise CheckpointError(f"{path}: {exc}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).splitlines()[0][:100]
        raise CheckpointError(f"{path}: damaged ({reason})") from None


def load_tensors(path: Path, reader) -> dict[str, Any]:
    """The tensors of a safetensors file (``reader``: ``safetensors.torch.load_file`` or
    ``safetensors.numpy.load_file``); CheckpointError for a damaged one, whatever the reader raises."""
    try:
        tensors = reader(str(path))
    except ConfigError:
        raise
    except Exception as exc:  # a truncated or foreign file: safetensors raises its own SafetensorError
        first = str(exc).strip().splitlines()[0][:100] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: damaged weights ({first})") from None
    if not isinstance(tensors, dict):
        raise CheckpointError(f"{path}: damaged weights")
    return tensors


def read_model_folder(path: str | os.PathLike) -> dict[str, Any]:
    """A model folder as the same payload a ``model.pt`` checkpoint holds (weights as tensors)."""
    path = Path(path)
    config, vocab, _ = read_folder_files(path)
    payload = {**config, "kind": "model", "state_dict": load_tensors(path / WEIGHTS_FILE, _safetensors().load_file),
               "vocab": vocab}
    if (path / FALLBACK_FILE).is_file():
        payload["vocab_fallback"] = load_tensors(path / FALLBACK_FILE, _safetensors().load_file)
    return payload
