"""Training on several processes with PyTorch's own launcher, ``torchrun``.

``torchrun --nproc-per-node N -m hbilstm train ...`` starts N copies of the ordinary command and
tells each its place through the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``). :class:`Distributed` reads that place and holds the few
collective operations training needs; in a single process every one of them is a no-op, so the
training loop has one code path.

How the work is shared. ``batch_size`` stays the size of one optimizer step's batch over *all*
processes: every process computes the same length-bucketed batches from the seed and the epoch,
and each takes every N-th row of each batch (rows of a bucket have similar lengths, so the shares
cost about the same). The loss of a step is normalised by the whole batch's weight, summed over
the processes, so the averaged gradient equals the one a single process computes from the whole
batch: N processes train the same model as one, up to float rounding and the random draws of
dropout and embedding noise (each rank draws its own).
Every process takes the same number of steps, so no process waits at an epoch's end for a batch
that never comes.

Only rank 0 writes the run directory and reports progress; it alone validates, and tells the
others the result, so every rank stops early at the same epoch. A stop asked of any rank (Ctrl-C,
SIGTERM) is shared at the next step, and all ranks stop there together after rank 0 has saved the
resumable checkpoint.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import torch
from torch import nn

from ..errors import ConfigError, HbilstmError

T = TypeVar("T")

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
SINGLE_PROCESS_LOSSES = ("adversarial", "virtual_adversarial")  # each runs the model again within a step
TIMEOUT = dt.timedelta(minutes=30)  # the longest any rank waits for another (rank 0's validation, say)


@dataclass(frozen=True)
class Distributed:
    """This process's place in a ``torchrun`` job (rank 0 of 1 when started alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Distributed":
        env = os.environ if environ is None else environ
        if "WORLD_SIZE" not in env:
            return cls()
        try:
            rank, world, local = (int(env.get(key, "0")) for key in ENV_KEYS)
        except ValueError:
            raise ConfigError(f"RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers, not "
                              f"{', '.join(repr(env.get(k)) for k in ENV_KEYS)}") from None
        if world < 1 or not 0 <= rank < world or local < 0:
            raise ConfigError(f"RANK {rank} does not fit WORLD_SIZE {world}")
        return cls(rank, world, local)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def check_options(self, config: Any) -> None:
        """Refuse, before any work, the options that a single process alone can train with."""
        if not self.enabled:
            return
        if config.gradual_unfreeze:
            raise ConfigError("gradual_unfreeze is not supported under torchrun (DDP fixes which weights train "
                              "when it starts); train on one process, or set gradual_unfreeze 0")
        for name in SINGLE_PROCESS_LOSSES:
            if getattr(config, name):
                raise ConfigError(f"{name} is not supported under torchrun (each step runs the model more than "
                                  f"once); train on one process, or set {name} 0")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- set-up ------------------------------------------------------------------------------

    def device(self, device: torch.device) -> torch.device:
        """The device this rank trains on: with CUDA, the GPU of its local rank."""
        if self.enabled and device.type == "cuda" and device.index is None:
            return torch.device("cuda", self.local_rank)
        return device

    def start(self, device: torch.device) -> None:
        """Join the process group: NCCL between GPUs, gloo between CPU processes."""
        if not self.enabled or torch.distributed.is_initialized():
            return
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        if device.type not in ("cpu", "cuda"):
            raise ConfigError(f"training on several processes needs CPU or CUDA devices, not {device.type}")
        torch.distributed.init_process_group(backend, timeout=TIMEOUT)

    def close(self) -> None:
        if self.enabled and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The module the training step calls: ``model`` itself, or a DDP wrapper around it
        (which starts by copying rank 0's weights to every rank)."""
        if not self.enabled:
            return model
        ids = [device.index] if device.type == "cuda" else None
        # Layer dropout skips whole layers at random, so some parameters may get no gradient.
        unused = getattr(getattr(model, "config", None), "layer_dropout", 0) > 0
        return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=unused)

    # -- work sharing ------------------------------------------------------------------------

    def shard(self, order: list[list[int]]) -> list[list[int]]:
        """This rank's rows of every batch of an epoch: every ``world_size``-th row, from its rank.

        A batch with fewer rows than ranks (the short last batch of the split, which the shuffle
        may put anywhere in the epoch) joins the batch before it, or the one after when it comes
        first, so that no rank gets an empty share (a rank must take part in every step). Every
        rank computes the same ``order`` and so the same merged batches.
        """
        if not self.enabled:
            return order
        if not order or max(len(b) for b in order) < self.world_size:
            raise ConfigError(f"--batch-size must be at least the number of processes ({self.world_size}), "
                              "and the training split must fill one batch per process")
        merged: list[list[int]] = []
        short: list[int] = []  # a short batch at the start, waiting for the next one
        for batch in order:
            batch = short + list(batch)
            short = []
            if len(batch) >= self.world_size:
                merged.append(batch)
            elif merged:
                merged[-1].extend(batch)
            else:
                short = batch
        return [b[self.rank :: self.world_size] for b in merged]

    def step_totals(self, weight: torch.Tensor, rows: int, stop: bool) -> tuple[torch.Tensor, int, bool]:
        """The whole step's loss weight and row count over all ranks, and whether any rank
        was asked to stop (one all-reduce). ``weight`` stays on its device."""
        if not self.enabled:
            return weight, rows, stop
        packed = torch.stack([weight.detach().double(), torch.tensor(float(rows), dtype=torch.float64,
                              device=weight.device), torch.tensor(float(stop), dtype=torch.float64,
                              device=weight.device)])
        torch.distributed.all_reduce(packed)
        return packed[0].to(weight.dtype), int(packed[1].item()), bool(packed[2].item())

    def sum(self, values: list[float]) -> list[float]:
        """Each value summed over the ranks."""
        if not self.enabled:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self._collective_device())
        torch.distributed.all_reduce(tensor)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any."""
        return bool(self.sum([float(flag)])[0]) if self.enabled else flag

    def share(self, make: Callable[[], T]) -> T:
        """``make()`` run on rank 0 and its result given to every rank; an
        :class:`~hbilstm.errors.HbilstmError` it raises is raised on every rank."""
        if not self.enabled:
            return make()
        box: list[Any] = [None]
        if self.is_main:
            try:
                box[0] = ("ok", make())
            except HbilstmError as error:
                box[0] = ("error", error)
        torch.distributed.broadcast_object_list(box, src=0, device=self._collective_device())
        status, value = box[0]
        if status == "error":
            value.reported_by_rank0 = not self.is_main
            raise value
        return value

    def gather(self, value: T) -> list[T] | None:
        """Every rank's ``value`` on rank 0 (None on the others)."""
        if not self.enabled:
            return [value]
        out: list[Any] | None = [None] * self.world_size if self.is_main else None
        torch.distributed.gather_object(value, out, dst=0)
        return out

    def main_first(self, make: Callable[[], T]) -> T:
        """``make()`` on rank 0 first, then on the others (say, to fill a cache they then read);
        an :class:`~hbilstm.errors.HbilstmError` on rank 0 is raised on every rank."""
        if not self.enabled:
            return make()
        box: list[Any] = []
        self.share(lambda: box.append(make()))
        return box[0] if self.is_main else make()

    def raise_together(self, error: HbilstmError) -> None:
        """Raise ``error``, which every rank raises at the same point (rank 0 prints it)."""
        error.reported_by_rank0 = not self.is_main
        raise error

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def _collective_device(self) -> torch.device:
        if torch.distributed.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
