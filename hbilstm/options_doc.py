"""The table of training options in ``docs/options.md``, written from ``configs/default.yaml``.

default.yaml is where each option is explained, beside its default; this turns its comments into
a Markdown table, one section per block of the file, so the guide never says something else::

    python -m hbilstm.options_doc configs/default.yaml > docs/options.md

A test checks that docs/options.md is what this writes (and that default.yaml holds the built-in
defaults). No torch here.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_SECTION = re.compile(r"^#\s*-+\s*(?P<name>[^-].*?)\s*-+\s*$")
_OPTION = re.compile(r"^(?P<key>[a-z_]+):\s*(?P<value>[^#]*?)\s*(?:#\s?(?P<comment>.*))?$")
_MORE = re.compile(r"^\s+#\s?(?P<comment>.*)$")

HEAD = """# Training options

Every option of `hbilstm train` (and of the runs of `hbilstm compare`), with its default and
what it does. Give them in a YAML file (`--config FILE`, a copy of `configs/default.yaml` with
what you change), as `--set key=value` (repeatable), or, for the usual ones, as their own flags
(`--layers 10`); a flag wins over `--set`, which wins over the file. `hbilstm compare` takes any
of them as `--key value` (fixed) or `--key v1,v2,...` (swept).

This page is written from the comments of `configs/default.yaml`
(`python -m hbilstm.options_doc configs/default.yaml > docs/options.md`); edit them there.
"""


def options_markdown(yaml_text: str) -> str:
    """The Markdown of docs/options.md for the text of default.yaml."""
    out = [HEAD]
    rows: list[list[str]] = []

    def flush() -> None:
        if rows:
            out.append("| option | default | what it does |\n| --- | --- | --- |")
            out.extend(f"| `{key}` | `{value}` | {_cell(' '.join(words))} |" for key, value, words in rows)
            out.append("")
            rows.clear()

    for line in yaml_text.splitlines():
        if (section := _SECTION.match(line)) is not None:
            flush()
            out.append(f"## {section['name'][0].upper()}{section['name'][1:]}\n")
        elif (option := _OPTION.match(line)) is not None:
            rows.append([option["key"], option["value"], [option["comment"] or ""]])
        elif (more := _MORE.match(line)) is not None and rows:
            rows[-1][2].append(more["comment"].strip())
    flush()
    return "\n".join(out).rstrip("\n") + "\n"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")


if __name__ == "__main__":
    sys.stdout.write(options_markdown(Path(sys.argv[1] if len(sys.argv) > 1 else "configs/default.yaml")
                                      .read_text(encoding="utf-8")))
