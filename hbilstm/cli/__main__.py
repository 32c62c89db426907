"""``python -m hbilstm.cli``: the same as the ``hbilstm`` command."""

from . import main

main()
