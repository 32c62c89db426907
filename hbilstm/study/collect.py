"""The runs of a sweep folder, read back from their run directories."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .sweep import EXECUTION_OPTIONS, OUTCOME_FILE, run_dirs

METRICS = ("accuracy", "macro_f1", "macro_recall")
CARRY_ORDER = ("plain", "highway", "residual", "gated-residual")


@dataclass
class Run:
    name: str
    config: dict
    status: str  # finished | diverged | failed | interrupted
    results: dict | None = None
    history: list[dict] = field(default_factory=list)
    message: str = ""
    manifest: dict | None = None

    @property
    def carry(self) -> str:
        return self.config["carry"]

    @property
    def depth(self) -> int:
        return int(self.config["layers"])

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    def score(self, metric: str, split: str = "test") -> float | None:
        """The best model's ``metric`` on ``split`` (None where the run has no such scores, such as
        the ``ece`` of a run trained before it was reported)."""
        scores = (self.results or {}).get(split)
        return scores.get(metric) if scores else None

    @property
    def final_train_loss(self) -> float | None:
        return self.history[-1]["train_loss"] if self.history else None

    @property
    def seconds(self) -> float | None:
        return sum(r["seconds"] + r.get("val_seconds", 0) for r in self.history) if self.history else None


def collect(out: Path) -> list[Run]:
    from ..config import stored

    runs = []
    defaults = _defaults()
    for folder in run_dirs(out):
        config_path = folder / "config.yaml"
        if not config_path.is_file():
            continue
        # An option the run's version did not have yet took the value it had before it existed.
        config = {**defaults, **stored(yaml.safe_load(config_path.read_text(encoding="utf-8")))}
        history = [json.loads(line) for line in _lines(folder / "metrics.jsonl")]
        manifest = _json(folder / "manifest.json")
        results = _json(folder / "results.json")
        outcome = _json(folder / OUTCOME_FILE)
        if results is not None:
            status, message = "finished", ""
        elif outcome is not None:
            status, message = outcome["status"], outcome.get("message", "")
        else:
            status, message = "interrupted", "not finished; rerun the sweep to continue it"
        runs.append(Run(folder.name, config, status, results, history, message, manifest))
    return runs


def _defaults() -> dict:
    from ..config import TrainConfig

    return TrainConfig().to_dict()


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


# Options that say where and how a run was executed, not what was trained: runs that differ only
# in these (a sweep resumed with other thread counts, on another machine) are the same experiment.
NOT_SWEPT = ("carry", "layers", "seed", *EXECUTION_OPTIONS, "data_dir")


def swept_keys(runs: list[Run]) -> list[str]:
    """Options other than carry, layers and seed whose values differ between runs (execution
    options such as ``threads`` and ``device``, and where the data lives, do not count)."""
    keys = []
    for key in runs[0].config if runs else []:
        if key in NOT_SWEPT:
            continue
        if len({json.dumps(r.config.get(key)) for r in runs}) > 1:
            keys.append(key)
    return keys


def scored_split(runs: list[Run]) -> str:
    """``test`` when every finished run has test scores; else ``val`` (the data has no test
    split), so that one report never mixes the two."""
    finished = [r for r in runs if r.status == "finished"]
    return "test" if all(r.score("accuracy", "test") is not None for r in finished) else "val"


def carry_rank(carry: str) -> int:
    return CARRY_ORDER.index(carry) if carry in CARRY_ORDER else len(CARRY_ORDER)


def value_order(values: tuple) -> tuple:
    """A sort key for the values of swept options: numbers by size (-3 before -1 before 2), then
    anything else by its JSON text."""
    return tuple((0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, json.dumps(v))
                 for v in values)


def series_label(carry: str, values: dict) -> str:
    """``highway``, or with other swept options ``highway, gate_bias = -1.0``."""
    return ", ".join([carry, *(f"{k} = {v}" for k, v in values.items())])
