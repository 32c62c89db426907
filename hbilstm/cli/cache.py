"""``hbilstm cache``."""

from __future__ import annotations

import json
import time
from typing import List, Optional

import typer

from ._app import app, stdout, user_errors


@app.command("cache")
@user_errors
def cache_command(
    clear: bool = typer.Option(False, "--clear", help="Remove the entries listed (all, or those --kind and "
                                                      "--older-than select)."),
    kinds: List[str] = typer.Option([], "--kind", "-k", metavar="KIND",
                                    help="Only tokens, tokenizer or teachers (repeatable).  [default: all three]"),
    older_than: Optional[float] = typer.Option(None, "--older-than", min=0, metavar="DAYS",
                                               help="Only entries no command has used for more than DAYS days."),
    keep: Optional[str] = typer.Option(None, "--keep", metavar="SIZE",
                                       help="With --clear: remove the least recently used of the entries selected "
                                            "until the rest take at most SIZE (2GB, 500MB)."),
    as_json: bool = typer.Option(False, "--json", help="Print the entries as JSON instead of a table."),
) -> None:
    """Show what hbilstm keeps in its cache folder, or clear it.

    The folder is $HBILSTM_CACHE_DIR (default ~/.cache/hbilstm). It holds tokenized splits,
    spaCy's tokenizer rules and distillation teachers' probabilities; every entry is made again
    when a command needs it, so clearing costs time, never results. Entries being written by a
    running command are left alone. Set $HBILSTM_CACHE_LIMIT (2GB) to have every command keep
    the folder within that size, removing the least recently used entries.

    Examples:

    \b
      hbilstm cache
      hbilstm cache --clear --older-than 30
      hbilstm cache --clear --keep 2GB
    """
    from ..cache import KINDS, LIMIT_VARIABLE, beyond, entries, human_size, limit, parse_size, remove
    from ..errors import ConfigError
    from ..fileio import default_cache_dir
    from ._output import print_table

    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ConfigError(f"unknown cache kind {unknown[0]!r}; the kinds are: {', '.join(KINDS)}")
    if keep is not None and not clear:
        raise ConfigError("--keep says how much --clear leaves: give both (hbilstm cache --clear --keep 2GB)")
    try:
        kept = None if keep is None else parse_size(keep)
    except ValueError as exc:
        raise ConfigError(f"--keep: {exc}") from None
    most = limit()
    chosen = [k for k in KINDS if k in kinds] or list(KINDS)
    root = default_cache_dir()
    found = entries(root, chosen, None if older_than is None else older_than * 86400)
    console = stdout()
    if clear:
        count, size, failed = remove(found if kept is None else beyond(found, kept))
        console.print(f"removed {_entries(count)} ({human_size(size)}) from {root}", highlight=False)
        if failed:
            path, reason = failed[0]
            raise ConfigError(f"could not remove {_entries(len(failed))}; the first, {path}: {reason}")
        return
    if as_json:
        typer.echo(json.dumps({"cache_dir": str(root), "limit_bytes": most, "entries": [
            {"kind": e.kind, "path": str(e.path), "bytes": e.size,
             "last_used": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(e.last_used))} for e in found]}, indent=2))
        return
    console.print(f"cache: {root}", highlight=False)
    if most is not None:
        console.print(f"limit: {human_size(most)} (${LIMIT_VARIABLE}; the least recently used entries go first)",
                      highlight=False)
    rows = []
    for kind in chosen:
        mine = [e for e in found if e.kind == kind]
        last = time.strftime("%Y-%m-%d %H:%M", time.localtime(mine[-1].last_used)) if mine else "-"
        rows.append([kind, f"{len(mine):,}", human_size(sum(e.size for e in mine)), last, KINDS[kind]])
    print_table(console, ["kind", "entries", "size", "last used", "what"], rows, right=("entries", "size"))


def _entries(count: int) -> str:
    return f"{count:,} {'entry' if count == 1 else 'entries'}"
