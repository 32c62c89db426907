"""With no network, a first run that needs TweetEval stops at once with one line (no Hub retries)."""

import os
import socket
import subprocess
import sys
import time

import pytest

from hbilstm.data import hub


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def offline_env(**extra: str) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().endswith("_PROXY") and k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HBILSTM_DATA_DIR")
    }
    return {**env, **extra}


@pytest.mark.parametrize("how", ["proxy", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"])
def test_first_run_without_data_or_network_fails_fast_with_one_line(tmp_path, how):
    if how == "proxy":  # every request goes to a closed port on this machine: no network at all
        port = closed_port()
        env = offline_env(HTTPS_PROXY=f"http://127.0.0.1:{port}", HTTP_PROXY=f"http://127.0.0.1:{port}",
                          NO_PROXY="")
    else:
        env = offline_env(**{how: "1"})
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "hbilstm", "train", "--data-dir", str(tmp_path / "data"), "-o", str(tmp_path / "run")],
        capture_output=True, text=True, env=env, timeout=120,
    )
    seconds = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # no "Retrying in 8s" noise
    message = lines[0]
    assert message.startswith("error: dataset 'tweeteval-sentiment' is not in")
    for needed in ("train_text.txt", "mapping.txt", "--data-dir", "HBILSTM_DATA_DIR"):
        assert needed in message
    assert not (tmp_path / "data" / "tweeteval-sentiment").exists()
    assert seconds < 15, seconds  # generous: start-up plus one refused connection; the Hub retries took 27 s


def test_probe_reports_an_unreachable_hub_and_respects_hf_endpoint(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    reason = hub.hub_unreachable(timeout=2)
    assert reason is not None and "127.0.0.1" in reason


def test_offline_switches(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    assert not hub.offline_mode()
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    assert hub.offline_mode()
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "true")
    assert hub.offline_mode()
