"""Training: ``train(config, out)`` and what it is made of.

* ``run``       ``train()``: the run directory, its manifest and results, resume checks;
* ``parts``     the encoded data, model, optimizer and loss a run trains;
* ``loop``      the epoch loop: steps, validation, checkpoints, early stopping;
* ``state``     where a run stands (position, epoch tally, early stopping), as plain values;
* ``manifest``  what a run was made with (versions, commit, device, data hashes).
"""

from ..callbacks import TrainCallback  # the hooks through which a caller hears progress
from ..errors import TrainingDiverged, TrainingInterrupted
from .run import TrainResult, default_run_dir, load_run_config, train

__all__ = ["TrainCallback", "TrainResult", "TrainingDiverged", "TrainingInterrupted", "default_run_dir",
           "load_run_config", "train"]
