"""Run the hbilstm command line from a checkout: ``python cli.py train --layers 10``.

The app itself lives in the package (``hbilstm.cli``); this file only starts it.
"""

from hbilstm.cli import main

if __name__ == "__main__":
    main()
