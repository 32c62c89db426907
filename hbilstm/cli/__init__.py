"""The ``hbilstm`` command line: one Typer app, one module per command.

Commands only parse their options and call a library function (``hbilstm.train.train``,
``hbilstm.evaluate.evaluate``, ``hbilstm.predict.predict``), which tests call directly too.
"""

from . import compare, evaluate, predict, train  # noqa: F401  (registers the commands)
from ._app import app, main

__all__ = ["app", "main"]
