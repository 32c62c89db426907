"""compare and benchmark with --engine ray: each training a task in a local Ray instance (2 CPUs
here), the same results as the serial sweep for the same seeds, reruns that train nothing again,
and one line with exit 2, never a hang, for a cluster that is not there or cannot hold a run."""

import json
import socket

import pytest
from conftest import SHARED
from typer.testing import CliRunner

from hbilstm.cli import app

ray = pytest.importorskip("ray")

# Every Ray test runs in one pytest-xdist worker (--dist loadgroup), so that one Ray instance at a time
# has the machine's cores.
pytestmark = pytest.mark.xdist_group("ray")

runner = CliRunner()
# one torch thread in every run, serial or not, so that sums are added in the same order
COMMON = ["--depths", "1", "--carry", "plain,highway", "--seeds", "1", "--epochs", "1", "--hidden", "4",
          "--embedding-dim", "8", "--min-freq", "1", "--threads", "1"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_ray_sweep_gives_the_serial_results_and_a_rerun_trains_nothing(tmp_path, data_dir):
    import torch

    from hbilstm.checkpoint import load_checkpoint

    common = [*COMMON, "--data-dir", str(data_dir)]
    result = runner.invoke(app, ["compare", *common, "--out", str(tmp_path / "serial")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["compare", *common, "--engine", "ray", "--cpus-per-run", "1",
                                 "--out", str(tmp_path / "ray")])
    assert result.exit_code == 0, result.output
    assert "plain-L1-s1: test macro-recall" in result.output and (tmp_path / "ray" / "report.md").is_file()
    for run in ("plain-L1-s1", "highway-L1-s1"):
        a = json.loads((tmp_path / "serial" / "runs" / run / "results.json").read_text())["test"]
        b = json.loads((tmp_path / "ray" / "runs" / run / "results.json").read_text())["test"]
        assert a["n"] == b["n"] == 150 and a == b
        weights = [load_checkpoint(tmp_path / name / "runs" / run / "model.pt")["state_dict"]
                   for name in ("serial", "ray")]
        assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    models = {p: p.stat().st_mtime_ns for p in (tmp_path / "ray" / "runs").glob("*/model.pt")}
    again = runner.invoke(app, ["compare", *common, "--engine", "ray", "--out", str(tmp_path / "ray")])
    assert again.exit_code == 0, again.output
    assert again.output.count("skipped (finished already)") == 2
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "ray" / "runs").glob("*/model.pt")} == models


def test_a_cluster_without_the_resources_a_run_asks_for_is_one_line(tmp_path):
    # a local Ray instance on this CPU-only machine has no GPU: the run could never be placed
    out = tmp_path / "bench"
    result = runner.invoke(app, ["benchmark", "tweeteval", "-o", str(out), "--tasks", "irony", "--seeds", "1",
                                 "--data-dir", str(SHARED), "--set", "epochs=1", "--engine", "ray",
                                 "--gpus-per-run", "1"])
    assert result.exit_code == 2, result.output
    assert "no node with 1 CPU(s) and 1 GPU(s) for a run" in result.output
    assert "Traceback" not in result.output and not list(out.glob("runs/*/model.pt"))


@pytest.mark.parametrize("extra, message", [
    (["--engine", "ray", "--address", "127.0.0.1:{port}"], "nothing answers there"),
    (["--engine", "ray", "--address", "head:notaport"], "expected HOST:PORT"),
    (["--address", "127.0.0.1:6379"], "are for --engine ray"),
    (["--gpus-per-run", "0.5"], "are for --engine ray"),
    (["--engine", "spark"], "--engine must be local or ray"),
    (["--engine", "ray", "--gpus-per-run", "1.5"], "a fraction of one GPU or a whole number"),
])
def test_bad_engine_options_are_one_line_before_anything_is_trained(extra, message, tmp_path, data_dir):
    extra = [e.replace("{port}", str(closed_port())) for e in extra]
    result = runner.invoke(app, ["compare", *COMMON, "--data-dir", str(data_dir), *extra,
                                 "--out", str(tmp_path / "s")])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not list((tmp_path / "s").glob("runs/*/model.pt"))


def test_with_init_from_a_run_waits_for_its_source_on_ray_and_one_whose_source_failed_is_recorded(tmp_path):
    out = tmp_path / "bench"
    failed = out / "runs" / "s1-data=tweeteval-irony"
    failed.mkdir(parents=True)
    (failed / "outcome.json").write_text(json.dumps({"status": "diverged", "message": "loss became nan"}))
    result = runner.invoke(app, ["benchmark", "tweeteval", "-o", str(out), "--tasks", "stance", "--seeds", "2",
                                 "--init-from", "irony", "--data-dir", str(SHARED), "--set", "epochs=1",
                                 "--set", "hidden=4", "--set", "max_train=100", "--set", "ngram_buckets=0",
                                 "--engine", "ray", "--cpus-per-run", "1"])
    assert result.exit_code == 0, result.output
    outcome = json.loads((out / "runs" / "s1-data=tweeteval-stance" / "outcome.json").read_text())
    assert outcome["message"].startswith("not trained: s1-data=tweeteval-irony, the run it starts from")
    # seed 2: stance went to Ray only once its irony run had finished (else its init would be missing)
    source = (out / "runs" / "s2-data=tweeteval-irony").resolve()
    started = json.loads((out / "runs" / "s2-data=tweeteval-stance" / "manifest.json").read_text())
    assert started["embeddings"]["init"]["encoder"] == str(source / "model.pt")


def test_without_an_address_a_new_local_instance_is_asked_for_never_the_last_ray_start_cluster(monkeypatch):
    """ray.init() without an address joins the cluster ``ray start`` last left on the machine; a run
    without --address (and no $RAY_ADDRESS) asks for its own instance by name instead."""
    from hbilstm.ray_cluster import connected

    calls = []

    class Ray:
        def is_initialized(self):
            return False

        def init(self, **kwargs):
            calls.append(kwargs)

        def shutdown(self):
            calls.append("shutdown")

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with connected(Ray(), None, 2) as used:
        assert used is None
    assert (calls[0]["address"], calls[0]["num_cpus"], calls[1:]) == ("local", 2, ["shutdown"])
    calls.clear()
    monkeypatch.setenv("RAY_ADDRESS", "auto")  # an address the user gave: joined as given, with its own CPUs
    with connected(Ray(), None, 2) as used:
        assert used == "auto"
    assert (calls[0]["address"], calls[0]["num_cpus"]) == ("auto", None)
