"""A run's two checkpoints: ``model.pt`` (the best epoch's model, what evaluate and predict load)
and ``last.pt`` (the same plus optimizer, position and RNG states, what ``--resume`` reads)."""

from __future__ import annotations

from pathlib import Path

import torch

from .. import __version__
from ..checkpoint import MODEL_FILE, RESUME_FILE, save_checkpoint, vocab_payload
from ..config import TrainConfig
from ..data.corpora import Corpus
from ..errors import CheckpointError
from .parts import Parts
from .state import TrainState


class RunCheckpoints:
    """Writes one run's checkpoints and restores the run from its resume checkpoint."""

    def __init__(self, run_dir: Path, config: TrainConfig, parts: Parts, corpus: Corpus, device: torch.device,
                 data_files: list[dict]):
        self.run_dir, self.config, self.parts, self.corpus, self.device = run_dir, config, parts, corpus, device
        self.data_files = data_files  # name and SHA-256 of each data file: evaluate tells its training data by them
        self.resume_path = run_dir / RESUME_FILE

    def model_payload(self) -> dict:
        parts = self.parts
        return {
            "kind": "model",
            "hbilstm_version": __version__,
            "model_config": parts.model_config.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in parts.model.state_dict().items()},
            **vocab_payload(parts.data.vocab),
            "labels": list(self.corpus.label_names),
            "tokenizer": parts.tokenizer_config.to_dict(),
            "max_tokens": self.config.max_tokens,
            "train_config": self.config.to_dict(),
            "dataset": self.corpus.name,
            "data_files": self.data_files,
            "metric": parts.metric,
        }

    def save_model(self, epoch: int, val: dict) -> None:
        save_checkpoint(self.run_dir / MODEL_FILE, {**self.model_payload(), "epoch": epoch, "val": val})

    def save_resume(self, state: TrainState, rank_rngs: list[dict] | None = None) -> None:
        """Write ``last.pt``; ``rank_rngs`` are the random states of every rank of a distributed
        run (rank 0's first), gathered by the caller."""
        rngs = rank_rngs or [rng_state(self.device)]
        payload = {
            **self.model_payload(), **state.to_dict(), "kind": "resume",
            "optimizer": self.parts.optimizer.state_dict(), "rng": rngs[0],
        }
        if len(rngs) > 1:
            payload["rng_ranks"] = rngs
        if self.parts.average is not None:
            payload["average"] = self.parts.average.state_dict()
        if self.parts.frozen_rows is not None:
            payload["frozen_rows"] = self.parts.frozen_rows
        save_checkpoint(self.resume_path, payload)

    def restore(self, saved: dict, rank: int = 0) -> None:
        """Weights, optimizer and random states from a resume checkpoint (the position is
        restored separately, as a :class:`TrainState`). A rank the checkpoint has no random state
        for (the run was started with fewer processes) seeds its own from the seed, epoch and rank."""
        self.parts.model.load_state_dict(saved["state_dict"])
        try:
            self.parts.optimizer.load_state_dict(saved["optimizer"])
        except ValueError:  # older versions decayed every parameter, in one group
            raise CheckpointError(f"{self.resume_path}: written by an older hbilstm whose optimizer state "
                                  "this version cannot continue; start the run again") from None
        if self.parts.average is not None and "average" in saved:
            try:
                self.parts.average.load_state_dict(saved["average"])
            except ValueError as error:
                raise CheckpointError(f"{self.resume_path}: {error}") from None
        ranks = saved.get("rng_ranks") or [saved["rng"]]
        if rank < len(ranks):
            set_rng_state(ranks[rank], self.device)
        else:
            torch.manual_seed(self.config.seed * 1_000_003 + 7_919 * int(saved["epoch"]) + rank)


def rng_state(device: torch.device) -> dict:
    """This process's random states: the CPU generator's and its GPU's."""
    rng = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    return rng


def set_rng_state(rng: dict, device: torch.device) -> None:
    torch.set_rng_state(rng["torch"])
    if device.type == "cuda" and "cuda" in rng:
        if isinstance(rng["cuda"], list):  # written by versions that saved every GPU's state
            torch.cuda.set_rng_state_all(rng["cuda"])
        else:
            torch.cuda.set_rng_state(rng["cuda"], device)
