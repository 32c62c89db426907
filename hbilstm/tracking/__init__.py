"""Experiment tracking: the ``log_to`` option (``--log-to`` on the command line).

* ``base``        the :class:`~hbilstm.tracking.base.Tracker` interface; as is, it records nothing;
* ``tensorboard`` ``log_to: tensorboard``: TensorBoard event files in ``RUN_DIR/tensorboard/``
  (needs the optional ``tensorboard`` package: ``pip install "hbilstm[tensorboard]"``).

View a run with ``tensorboard --logdir RUN_DIR/tensorboard``, or a whole ``hbilstm compare``
sweep side by side with ``tensorboard --logdir OUT/runs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import LOG_TO_CHOICES
from ..errors import ConfigError

if TYPE_CHECKING:
    from .base import Tracker

__all__ = ["LOG_TO_CHOICES", "open_tracker"]


def open_tracker(log_to: str, pretraining: bool = False) -> "Tracker":
    """The tracker that ``log_to`` names (for ``hbilstm pretrain``'s run when ``pretraining``);
    ConfigError, before anything is trained or written, when it is unknown or its package is not
    installed."""
    # Imported here, not above: the tracker modules import hbilstm.training, which imports this.
    if log_to == "none":
        from .base import Tracker

        return Tracker()
    if log_to == "tensorboard":
        from .tensorboard import TensorBoardTracker

        return TensorBoardTracker(pretraining)
    raise ConfigError(f"log_to must be one of {', '.join(LOG_TO_CHOICES)}, not {log_to!r}")
