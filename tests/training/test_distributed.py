"""Training under torchrun: two gloo processes on this CPU, started the way a user starts them."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hbilstm.checkpoint import load_checkpoint
from hbilstm.errors import ConfigError
from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig
from hbilstm.training.distributed import Distributed

SMALL = ["--layers", "2", "--hidden", "8", "--set", "embedding_dim=12", "--set", "min_freq=1", "--batch-size", "32"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(n: int, args: list[str], data_dir: Path, cwd: Path, **popen) -> subprocess.Popen:
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(n),
               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{free_port()}",
               "-m", "hbilstm", "train", "--data-dir", str(data_dir), *SMALL, *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **popen)


def finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def workers_said(err: str) -> str:
    """What the workers wrote to stderr, without torchrun's own log lines and its closing
    ChildFailedError summary, which would otherwise fill a failure message."""
    summary = err.find("Traceback (most recent call last):\n  File \"<frozen runpy>\"")
    kept = [line for line in err[: summary if summary >= 0 else None].splitlines()
            if not re.match(r"[IWE]\d{4} [\d:.]+ \d+ .*torch/distributed/", line)]
    return "\n".join(kept)[-4000:]


def single(args: list[str], data_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "hbilstm", "train", "--data-dir", str(data_dir), *SMALL, *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=240)


def test_place_is_read_from_torchruns_environment():
    assert Distributed.from_env({}) == Distributed(0, 1, 0)
    place = Distributed.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (place.rank, place.world_size, place.local_rank, place.enabled, place.is_main) == (3, 4, 1, True, False)
    with pytest.raises(ConfigError, match="does not fit"):
        Distributed.from_env({"RANK": "4", "WORLD_SIZE": "4", "LOCAL_RANK": "0"})
    with pytest.raises(ConfigError, match="whole numbers"):
        Distributed.from_env({"RANK": "x", "WORLD_SIZE": "2"})


@pytest.mark.parametrize("option", [{"gradual_unfreeze": 1}, {"adversarial": 0.02}, {"virtual_adversarial": 0.02}])
def test_options_for_one_process_are_refused_under_torchrun_before_any_work(option, data_dir, tmp_path,
                                                                            monkeypatch):
    from hbilstm.config import TrainConfig
    from hbilstm.training import train

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    (name,) = option
    with pytest.raises(ConfigError, match=f"^{name} is not supported under torchrun.*set {name} 0$"):
        train(TrainConfig(data_dir=str(data_dir), epochs=1, **option), tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before the run directory or the process group
    assert not torch.distributed.is_initialized()


def test_shards_split_every_batch_into_disjoint_non_empty_shares():
    order = [list(range(0, 5)), list(range(5, 10)), [10, 11, 12, 13], [14, 15, 16]]
    shares = [Distributed(r, 3).shard(order) for r in range(3)]
    assert {len(s) for s in shares} == {4}  # every rank takes every step
    for step in range(4):
        rows = [row for share in shares for row in share[step]]
        assert sorted(rows) == sorted(order[step])  # each row of the batch once, on one rank
    # A last batch too small to give every rank a row joins the batch before it.
    merged = [Distributed(r, 3).shard([list(range(6)), [6, 7]]) for r in range(3)]
    assert [len(s) for s in merged] == [1, 1, 1]
    assert sorted(row for s in merged for row in s[0]) == list(range(8))
    with pytest.raises(ConfigError, match="at least the number of processes"):
        Distributed(0, 4).shard([[0, 1, 2]])
    assert Distributed().shard(order) == order


@pytest.mark.parametrize("epoch", range(6))
def test_a_short_batch_shuffled_anywhere_in_the_epoch_joins_a_neighbour(epoch):
    """1,025 rows in batches of 32 leave a batch of one row, which the shuffle puts anywhere
    (it crashed torchrun training with a false --batch-size error unless it came last)."""
    from hbilstm.data.batching import bucket_order

    lengths = [(7 * i) % 40 + 1 for i in range(1025)]
    order = bucket_order(lengths, 32, torch.Generator().manual_seed(1_000_003 + epoch))
    shares = [Distributed(r, 2).shard(order) for r in range(2)]
    assert len(shares[0]) == len(shares[1]) == len(order) - 1  # the short batch joined another
    assert all(step for share in shares for step in share)  # no rank ever has an empty share
    assert sorted(row for share in shares for step in share for row in step) == list(range(1025))
    first = Distributed(0, 2).shard([[5], list(range(5)), [6, 7]])  # a short batch first joins the next
    assert len(first) == 2 and first[0] == [5, 1, 3]


def test_two_processes_train_one_run_and_rank_zero_alone_writes_and_prints(data_dir, tmp_path):
    code, out, err = finish(torchrun(2, ["--epochs", "2", "-o", "run"], data_dir, tmp_path))
    assert code == 0, workers_said(err)
    run = tmp_path / "run"
    # export: the model folder for torch-free prediction, written by rank 0 alone once training ends
    assert sorted(p.name for p in run.iterdir()) == [
        "config.yaml", "export", "last.pt", "manifest.json", "metrics.jsonl", "model.pt", "results.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # nothing written anywhere else
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert out.count("best epoch") == 1 and out.count("test: macro-recall") == 1 and out.count("export:") == 1
    assert err.count("epoch  1:") == 1 and err.count("run directory:") == 1
    # The scores are those of a single process evaluating the saved weights.
    results = json.loads((run / "results.json").read_text())
    evaluated = subprocess.run([sys.executable, "-m", "hbilstm", "evaluate", str(run), "-o", "scores.json"],
                               capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["macro_recall"] == pytest.approx(results["test"]["macro_recall"], abs=1e-12)


def test_two_ranks_with_half_batches_reach_the_weights_of_one_process_with_whole_ones(data_dir, tmp_path):
    """Three optimizer steps (96 tweets, batches of 32) with dropout, embedding noise and word
    dropout off (each rank draws its own): 2 ranks x 16 rows per step give the weights one process
    gets from 32."""
    args = ["--epochs", "1", "--dropout", "0", "--set", "embedding_noise=0", "--set", "word_dropout=0",
            "--set", "max_train=96", "-q"]
    code, _, err = finish(torchrun(2, [*args, "-o", "two"], data_dir, tmp_path))
    assert code == 0, workers_said(err)
    done = single([*args, "-o", "one"], data_dir, tmp_path)
    assert done.returncode == 0, done.stderr
    two = load_checkpoint(tmp_path / "two" / "model.pt")
    one = load_checkpoint(tmp_path / "one" / "model.pt")
    torch.manual_seed(one["train_config"]["seed"])
    start = HighwayBiLSTMClassifier(ModelConfig(**one["model_config"])).state_dict()
    moved = max(float((one["state_dict"][k] - start[k]).abs().max()) for k in start)
    apart = max(float((one["state_dict"][k] - two["state_dict"][k]).abs().max()) for k in start)
    assert moved > 1e-3  # training did change the weights...
    assert apart < 1e-5  # ...and the two ways changed them alike


def rank_pid(parent: int, rank: int, timeout: float = 60) -> int:
    """The pid of the torchrun worker of ``rank`` (a child of the launcher ``parent``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                environ = (proc / "environ").read_bytes().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue
            if ppid == parent and f"RANK={rank}".encode() in environ:
                return int(proc.name)
        time.sleep(0.2)
    raise AssertionError(f"no worker of rank {rank} under {parent}")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the worker through /proc")
def test_sigterm_to_one_rank_stops_all_with_a_checkpoint_and_the_run_resumes(data_dir, tmp_path):
    process = torchrun(2, ["--epochs", "200", "-o", "run"], data_dir, tmp_path)
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 180
    while not metrics.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.kill(rank_pid(process.pid, 1), signal.SIGTERM)
    code, _, err = finish(process)
    assert code != 0
    assert err.count("training interrupted at") == 1  # said once, by rank 0
    assert "resume with: hbilstm train --output run --resume" in err
    saved = load_checkpoint(tmp_path / "run" / "last.pt", kind="resume")
    assert len(saved["rng_ranks"]) == 2  # each rank's random state, for an exact continuation
    done_epochs = len(metrics.read_text().splitlines())
    assert 1 <= done_epochs < 200 and not (tmp_path / "run" / "results.json").exists()

    more = done_epochs + 1
    code, out, err = finish(torchrun(2, ["-o", "run", "--resume", "--epochs", str(more)], data_dir, tmp_path))
    assert code == 0, workers_said(err)
    epochs = [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()]
    assert epochs == list(range(1, more + 1))
    assert (tmp_path / "run" / "results.json").exists() and out.count("best epoch") == 1
