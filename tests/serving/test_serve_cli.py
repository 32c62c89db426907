"""``hbilstm serve`` as a user runs it: a real process, then stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from conftest import REPO
from serve_helpers import free_port, tweets
from typer.testing import CliRunner

import hbilstm
from hbilstm.cli import app


def wait_until_up(process: subprocess.Popen, url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"hbilstm serve exited with {process.returncode}: {process.stderr.read()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("hbilstm serve did not answer /health in time")


def test_hbilstm_serve_answers_then_stops_cleanly_on_sigterm(trained_run):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "hbilstm", "serve", str(trained_run), "--port", str(port), "--device", "cpu",
               "--max-texts", "8", "--max-chars", "200", "--batch-window-ms", "2", "--max-connections", "64",
               "--header-timeout", "3", "--body-timeout", "4", "--max-body-mb-in-flight", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_up(process, url)
        texts = tweets(8, start=100)
        answer = httpx.post(f"{url}/predict", json={"texts": texts}, timeout=30)
        assert answer.status_code == 200, answer.text
        clf = hbilstm.load(trained_run, device="cpu")
        rows = answer.json()["predictions"]
        assert [row["label"] for row in rows] == clf.predict(texts)
        got = np.array([[row["probabilities"][name] for name in clf.labels] for row in rows])
        np.testing.assert_allclose(got, clf.predict_proba(texts), rtol=0, atol=1e-6)

        # the options reached the service
        limits = httpx.get(f"{url}/metadata").json()["limits"]
        assert limits == {"max_texts": 8, "max_chars": 200, "batch_window_ms": 2.0, "max_batch_texts": 1024,
                          "max_connections": 64, "header_timeout_s": 3.0, "body_timeout_s": 4.0,
                          "max_body_bytes_in_flight": 2 << 20}
        too_many = httpx.post(f"{url}/predict", json={"texts": texts + ["one more"]})
        assert too_many.status_code == 413 and "at most 8" in too_many.json()["message"]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "interrupted" not in stderr
    assert f"Uvicorn running on {url}" in stderr and "Finished server process" in stderr
    assert '"POST /predict HTTP/1.1" 200' in stdout and '"POST /predict HTTP/1.1" 413' in stdout  # access log


runner = CliRunner()


def test_a_bad_model_or_option_is_a_one_line_error_before_serving(tmp_path):
    result = runner.invoke(app, ["serve", str(tmp_path / "nothing"), "--port", str(free_port())])
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and "no such checkpoint" in result.stderr
    assert result.stderr.count("\n") == 1
    result = runner.invoke(app, ["serve", str(tmp_path), "--port", "70000"])
    assert result.exit_code == 2 and "Invalid value for '--port'" in result.output


def test_without_fastapi_serve_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "fastapi", None)  # `import fastapi` now raises ImportError
    result = runner.invoke(app, ["serve", str(tmp_path / "model")])
    assert result.exit_code == 2
    assert result.stderr == 'error: hbilstm serve needs fastapi and uvicorn: pip install "hbilstm[serve]"\n'


@pytest.mark.parametrize("option, value", [("--max-texts", "0"), ("--max-chars", "0"), ("--batch-window-ms", "-1")])
def test_limits_must_be_positive(tmp_path, option, value):
    result = runner.invoke(app, ["serve", str(tmp_path), option, value])
    assert result.exit_code == 2 and option in result.output


def test_a_port_in_use_is_one_line_before_the_model_loads(tmp_path, monkeypatch):
    import socket

    monkeypatch.setattr(hbilstm, "load", lambda *a, **k: pytest.fail("the model was loaded"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", str(tmp_path), "--port", str(port)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: ") and result.stderr.count("\n") == 1
