"""Fetching a TweetEval task from the Hugging Face Hub, once, into the data directory.

Offline, this must fail at once with one line, not after ``datasets``' retries (about 27 s of
``Retrying in 8s`` lines). So: with ``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` set, the Hub
is never contacted (``datasets`` may still load the dataset from its own cache); otherwise one
short request first checks that the Hub answers at all, through the same proxy settings
(``HTTPS_PROXY``) and endpoint (``HF_ENDPOINT``) that ``huggingface_hub`` uses.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import DataError

HUB_ID = "cardiffnlp/tweet_eval"  # one configuration per task: sentiment, irony, stance_hillary, ...
PROBE_TIMEOUT_S = 3.0
_TRUE = {"1", "true", "yes", "on"}


def offline_mode() -> bool:
    """True when the user asked the Hugging Face libraries to stay offline."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def hub_unreachable(timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the Hub cannot be reached (a short reason), or None when it answers.

    Any HTTP answer, even an error status, means the network path works; ``datasets`` then
    reports what is wrong with the request itself.
    """
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    request = urllib.request.Request(f"{endpoint}/api/datasets/{HUB_ID}", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None
    except urllib.error.URLError as exc:
        return f"{endpoint} unreachable: {getattr(exc.reason, 'strerror', None) or exc.reason}"
    except (OSError, ValueError) as exc:  # timeouts, resets, a malformed HF_ENDPOINT
        return f"{endpoint} unreachable: {exc or type(exc).__name__}"


def fetch_tweeteval(folder: Path, files: list[str], task: str = "sentiment") -> None:
    """Download a TweetEval task (``sentiment``, ``irony``, ``stance-hillary``, ...) into
    ``folder`` as ``files`` (TweetEval's own layout).

    Written to a temporary folder and renamed into place, so a failed download leaves nothing.
    """
    def refuse(why: str) -> DataError:
        return DataError(
            f"dataset 'tweeteval-{task}' is not in {folder} and could not be downloaded from the Hub "
            f"({why}); put {', '.join(files)} there (TweetEval's datasets/{task.replace('-', '/')} folder), "
            f"or point --data-dir or HBILSTM_DATA_DIR at the folder that holds tweeteval-{task}/"
        )

    if not offline_mode():
        reason = hub_unreachable()
        if reason is not None:
            raise refuse(reason)
    try:
        import datasets

        hub = datasets.load_dataset(HUB_ID, task.replace("-", "_"))
    except Exception as exc:  # offline, hub down, no such dataset: all one answer for the user
        why = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise refuse(why) from None
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        names = hub["train"].features["label"].names
        (tmp / "mapping.txt").write_text("".join(f"{i}\t{n}\n" for i, n in enumerate(names)), encoding="utf-8")
        for ours, theirs in (("train", "train"), ("val", "validation"), ("test", "test")):
            rows = hub[theirs]
            # One tweet per line: a newline inside a tweet would break the alignment.
            texts = [re.sub(r"[\r\n]+", " ", t) for t in rows["text"]]
            (tmp / f"{ours}_text.txt").write_text("".join(t + "\n" for t in texts), encoding="utf-8")
            (tmp / f"{ours}_labels.txt").write_text("".join(f"{label}\n" for label in rows["label"]), encoding="utf-8")
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
