"""``hbilstm predict --engine ray``: a local Ray instance with 2 CPUs over real tweets."""

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import TWEETEVAL
from typer.testing import CliRunner

from hbilstm.cli import app
from hbilstm.errors import DataError
from hbilstm.predict import predict
from hbilstm.predict.ray_engine import RaySettings, expand_inputs, plan_parts, predict_ray

ray = pytest.importorskip("ray")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

# Every Ray test runs in one pytest-xdist worker (--dist loadgroup), so that one Ray instance at a time
# has the machine's cores.
pytestmark = pytest.mark.xdist_group("ray")

runner = CliRunner()


def real_tweets(split: str, n: int) -> list[str]:
    return (TWEETEVAL / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()[:n]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Four files of real tweets: text without ids, CSV and Parquet with ids, and JSON lines in
    which only some records have one (with an empty line among them)."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "test.txt").write_text("\n".join(real_tweets("test", 1500)) + "\n", encoding="utf-8")
    with open(folder / "train.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows([f"tr-{i}", text] for i, text in enumerate(real_tweets("train", 900)))
    val = real_tweets("val", 600)
    pq.write_table(pa.table({"id": [f"v{i}" for i in range(len(val))], "text": val}), folder / "val.parquet")
    records = [{"text": t, **({"id": f"j{i}"} if i % 3 == 0 else {})} for i, t in enumerate(real_tweets("test", 400))]
    records[5]["text"] = ""
    (folder / "mixed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def labelled(inputs, trained_run, tmp_path_factory):
    """The four files through Ray with parts of about 350 rows (so each file has several)."""
    out = tmp_path_factory.mktemp("ray") / "labelled"
    settings = RaySettings(model=str(trained_run), device="cpu", chunk_size=128)
    stats = predict_ray([str(inputs / "*.txt"), str(inputs / "train.csv"), str(inputs)], str(out), settings,
                        workers=2, rows_per_part=350)
    return stats, pq.read_table(out).to_pylist()


def single_process(trained_run, path: Path, tmp_path: Path) -> list[dict]:
    out = tmp_path / f"{path.stem}.jsonl"
    predict(trained_run, str(path), str(out), device="cpu", workers=0)
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_ray_gives_the_single_process_predictions_for_every_row_once(labelled, inputs, trained_run, tmp_path):
    stats, rows = labelled
    assert (stats.files, stats.actors) == (4, 2) and stats.parts >= 8
    assert stats.rows == len(rows) == 1500 + 900 + 600 + 400 and stats.errors == 1
    by_source: dict[str, dict[int, dict]] = {}
    for row in rows:
        lines = by_source.setdefault(Path(row["source"]).name, {})
        assert row["line"] not in lines  # no row twice
        lines[row["line"]] = row
    for name in ("test.txt", "train.csv", "val.parquet", "mixed.jsonl"):
        expected = single_process(trained_run, inputs / name, tmp_path)
        got = [by_source[name][line] for line in sorted(by_source[name])]  # in input order
        assert len(got) == len(expected)  # no row dropped
        for row, want in zip(got, expected):
            assert str(want.get("id", want.get("line"))) == str(row["id"] or row["line"])
            assert row["text"] == want["text"]
            assert (row["label"] or "") == (want["label"] or "")
            for key in ("prob_negative", "prob_neutral", "prob_positive"):
                if want[key] is None:
                    assert row[key] is None
                else:
                    assert row[key] == pytest.approx(want[key], abs=2e-6)


def test_each_row_keeps_its_own_id_or_none_and_always_its_line(labelled):
    _, rows = labelled
    csv_rows = [r for r in rows if r["source"].endswith("train.csv")]
    assert {r["id"] for r in csv_rows} == {f"tr-{i}" for i in range(900)}
    assert all(r["id"] is None for r in rows if r["source"].endswith("test.txt"))
    mixed = {r["line"]: r for r in rows if r["source"].endswith("mixed.jsonl")}
    assert mixed[1]["id"] == "j0" and mixed[2]["id"] is None and mixed[4]["id"] == "j3"
    assert mixed[6]["error"] == "empty text" and mixed[6]["label"] is None


def test_parts_cover_each_file_in_ranges_and_the_last_reads_to_the_end(inputs):
    parts = plan_parts([str(inputs / "test.txt")], RaySettings(model="unused", chunk_size=100), rows_per_part=400)
    assert parts[0].start == 0 and parts[-1].stop is None
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))


def test_inputs_expand_from_globs_and_folders_once_each(inputs):
    found = expand_inputs([str(inputs / "*.txt"), str(inputs), str(inputs / "test.txt")])
    assert [Path(p).name for p in found] == ["test.txt", "mixed.jsonl", "train.csv", "val.parquet"]
    with pytest.raises(DataError, match="no input files match"):
        expand_inputs([str(inputs / "*.xml")])


def test_a_bad_file_is_named_before_any_work(inputs, trained_run, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,body\n1,hello\n", encoding="utf-8")
    result = runner.invoke(app, ["predict", str(trained_run), "--engine", "ray", str(inputs / "test.txt"),
                                 str(bad), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "bad.csv" in result.output and "text" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_bad_row_found_by_an_actor_is_one_line_naming_its_file(trained_run, tmp_path):
    source = tmp_path / "broken.jsonl"
    good = [json.dumps({"text": t}) for t in real_tweets("test", 300)]
    source.write_text("\n".join(good[:200] + ["{not json"] + good[200:]) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["predict", str(trained_run), "--engine", "ray", str(source), "-o",
                                 str(tmp_path / "out"), "--workers", "1"])
    assert result.exit_code == 2, result.output
    assert "broken.jsonl" in result.output and "201" in result.output
    assert not (tmp_path / "out").exists() and [p.name for p in tmp_path.iterdir()] == ["broken.jsonl"]


@pytest.mark.parametrize("extra, message", [
    (["--shard", "1/2"], "--shard is not available with --engine ray"),
    ([], "pass -o DIR"),
])
def test_ray_only_options_are_checked(trained_run, inputs, tmp_path, extra, message):
    args = ["predict", str(trained_run), "--engine", "ray", str(inputs / "test.txt"), *extra]
    if message != "pass -o DIR":
        args += ["-o", str(tmp_path / "out")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.output


def test_several_inputs_need_the_ray_engine(trained_run, inputs):
    result = runner.invoke(app, ["predict", str(trained_run), str(inputs / "test.txt"), str(inputs / "train.csv")])
    assert result.exit_code == 2 and "many with --engine ray" in result.output


def stop_cluster(temp_dir: str, grace: float = 30.0) -> list[int]:
    """End the processes of the one ``ray start`` cluster whose temporary folder is ``temp_dir``
    (each names it on its command line), and no other Ray instance on the machine, as ``ray stop``
    would; returns those still alive (none, unless they outlive SIGKILL)."""
    def members() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                try:
                    if temp_dir.encode() in (entry / "cmdline").read_bytes():
                        found.append(int(entry.name))
                except OSError:  # gone meanwhile, or not ours to read
                    pass
        return found

    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in members():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while (left := members()) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not left:
            break
    return left


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the cluster's processes through /proc")
def test_an_existing_cluster_is_used_with_address_and_a_wrong_one_is_one_line(inputs, trained_run, tmp_path):
    ray_cli = str(Path(sys.executable).parent / "ray")
    # a short folder of its own (Ray's socket paths must stay under 108 bytes) by which its processes are found
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    started = subprocess.run([ray_cli, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                              "--disable-usage-stats", f"--temp-dir={temp_dir}"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        out = tmp_path / "out"
        done = subprocess.run([sys.executable, "-m", "hbilstm", "predict", str(trained_run),
                               "--engine", "ray", str(inputs / "val.parquet"), "--address", f"127.0.0.1:{port}",
                               "-o", str(out)], env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-2000:]
        assert pq.read_table(out).num_rows == 600 and "600 rows" in done.stderr
    finally:
        left = stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert left == [], f"processes of the test's cluster outlived SIGKILL: {left}"
    result = runner.invoke(app, ["predict", str(trained_run), "--engine", "ray", str(inputs / "test.txt"),
                                 "--address", f"127.0.0.1:{port}", "-o", str(tmp_path / "out2")], env=env)
    assert result.exit_code == 2
    assert result.output.startswith("error: cannot start or reach the Ray cluster at "
                                    "127.0.0.1:") and "Traceback" not in result.output
