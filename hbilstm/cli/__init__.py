"""The ``hbilstm`` command line: one Typer app, one module per command.

Commands only parse their options and call a library function (``hbilstm.training.train``,
``hbilstm.evaluation.evaluate.evaluate``, ``hbilstm.predict.predict``, ``hbilstm.study``), which
tests call directly too. ``options`` defines the options several commands share; ``_progress``
shows training and sweep progress.
"""

# Imported in the order `hbilstm --help` lists the commands: the order of use.
from . import train, pretrain, evaluate, predict, export, ensemble, distill, serve  # noqa: F401, I001  (registers the commands)
from . import compare, benchmark, analyze, data, cache  # noqa: F401, I001
from ._app import app, main

__all__ = ["app", "main"]
