"""The README's examples run as written, on a small slice of the real data, and print what the
README shows, up to the numbers (and the labels a model this small picks); then the pretraining
guide's, which start from the README's files.

Every ``console`` block is run command by command (``$ cat FILE`` writes the file the README
shows), every ``python`` block statement by statement; each output line must have the shape of the
README's: the same words, in the same order, with numbers and labels standing for any number or
label. So a changed message, a lost or extra line, or a command that stops working fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import REPO, SHARED

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
LABEL = re.compile(r"\b(?:negative|neutral|positive|uncertain)\b")


PRETRAINING_GUIDE = REPO / "docs" / "guide" / "pretraining.md"


def blocks(kind: str, page=REPO / "README.md") -> list[list[str]]:
    text = page.read_text(encoding="utf-8")
    return [block.split("\n") for block in re.findall(rf"```{kind}\n(.*?)\n```", text, re.S)]


def shape(line: str) -> str:
    """The line with numbers and labels abstracted, white space folded, and an epoch line's ``*``
    (the best so far, which depends on the numbers) left out."""
    folded = " ".join(LABEL.sub("L", NUMBER.sub("N", line.removesuffix(" *"))).split())
    return re.sub(r" ([,\]])", r"\1", folded)  # numpy pads numbers in an array with spaces


def steps(block: list[str], prompt: str = "$ ") -> list[tuple[str, list[str]]]:
    """``(command, expected output lines)`` for each line of a block that starts with ``prompt``
    (``$`` in a console block, ``>>>`` in a Python one)."""
    out: list[tuple[str, list[str]]] = []
    for line in block:
        if line.startswith(prompt):
            out.append((line[len(prompt):], []))
        else:
            out[-1][1].append(line)
    return out


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, data_dir):
    folder = tmp_path_factory.mktemp("readme")
    # the sentiment slice, and the real TweetEval tasks the benchmark example trains on
    data = folder / "data"
    data.mkdir()
    for source in [data_dir / "tweeteval-sentiment", SHARED / "tweeteval-irony", SHARED / "tweeteval-emoji",
                   *sorted(SHARED.glob("tweeteval-stance-*"))]:
        (data / source.name).symlink_to(source, target_is_directory=True)
    env = {**os.environ, "HBILSTM_DATA_DIR": str(data), "HBILSTM_CACHE_DIR": str(folder / "cache"),
           "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return folder, env


def test_the_readmes_examples_run_and_print_what_it_shows(workspace):
    folder, env = workspace
    ran = []
    for block in blocks("console") + blocks("console", PRETRAINING_GUIDE):
        for command, expected in steps(block):
            words = command.split()
            if words[0] == "cat":  # the file the README shows: write it
                (folder / words[1]).write_text("\n".join(expected) + "\n", encoding="utf-8")
                continue
            assert words[0] == "hbilstm", command
            done = subprocess.run([sys.executable, "-m", "hbilstm", *words[1:]], cwd=folder, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
            assert done.returncode == 0, f"$ {command}\n{done.stdout[-3000:]}"
            got = [shape(line) for line in done.stdout.rstrip("\n").split("\n")]
            assert got == [shape(line) for line in expected], f"$ {command}\n{done.stdout}"
            ran.append(words[1])
    assert ran == ["train", "predict", "compare", "benchmark", "pretrain", "train"]

    # the Python example, with the model the first command trained
    (block,) = blocks("python")
    statements = steps(block, ">>> ")
    script = ["import os", f"os.chdir({str(folder)!r})"]
    for statement, expected in statements:
        script.append(f"print(repr({statement}))" if expected else statement)
    done = subprocess.run([sys.executable, "-c", "\n".join(script)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    expected_lines = [shape(line) for _, expected in statements for line in expected]
    assert shape(done.stdout) == " ".join(expected_lines), done.stdout
