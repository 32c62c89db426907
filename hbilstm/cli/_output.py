"""Tables for people on a terminal, plain lines for pipes and files.

On a terminal a table is drawn by rich at the terminal's width. Written to a pipe or a file,
rich would wrap it at 80 columns; there the same rows come out as plain lines, columns separated
by two spaces and padded to line up, never wrapped, so ``grep`` and ``cut`` see whole rows.
"""

from __future__ import annotations

from typing import Sequence

from rich.console import Console


def print_table(console: Console, columns: Sequence[str], rows: Sequence[Sequence[str]],
                right: Sequence[str] = ()) -> None:
    """``rows`` under ``columns``; the columns named in ``right`` are right-aligned."""
    if console.is_terminal:
        from rich.table import Table

        table = Table()
        for name in columns:
            table.add_column(name, justify="right" if name in right else "left")
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    for line in [list(columns), *rows]:
        cells = [cell.rjust(w) if name in right else cell.ljust(w) for cell, w, name in zip(line, widths, columns)]
        console.file.write("  ".join(cells).rstrip() + "\n")
    console.file.flush()
