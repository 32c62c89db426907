"""What a run was made with: seed, software versions, source commit, device and data hashes."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Iterable

import torch

from .. import __version__
from ..fileio import sha256_file

PACKAGES = ("torch", "spacy", "datasets", "pyarrow", "scikit-learn", "numpy", "typer", "rich", "pyyaml")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version(), "hbilstm": __version__}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(where: Path | None = None) -> dict[str, object] | None:
    """The commit of the source checkout hbilstm runs from, and whether it has local changes."""
    where = where or Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(where), *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def device_info(device: torch.device) -> dict[str, object]:
    info: dict[str, object] = {"type": device.type, "torch_threads": torch.get_num_threads(),
                               "cpu_count": os.cpu_count(), "platform": platform.platform()}
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        info["name"] = torch.cuda.get_device_name(index)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    else:
        info["name"] = platform.processor() or platform.machine()
    return info


def data_files(files: Iterable[Path]) -> list[dict[str, object]]:
    return [
        {"path": str(Path(f).resolve()), "bytes": Path(f).stat().st_size, "sha256": sha256_file(f)}
        for f in files
    ]


def build_manifest(seed: int, device: torch.device, dataset: str, files: Iterable[Path]) -> dict:
    return {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
        "seed": seed,
        "packages": package_versions(),
        "git": git_state(),
        "device": device_info(device),
        "data": {"dataset": dataset, "files": data_files(files)},
    }
