"""``python -m hbilstm``: the same as the ``hbilstm`` command."""

from .cli import main

main()
