"""A Hugging Face ``transformers`` sequence classifier as a distillation teacher (``hbilstm distill
-t hf:MODEL``), for users who are online or hold such a model in a folder.

``MODEL`` is whatever ``from_pretrained`` takes: a Hub model id (``cardiffnlp/twitter-roberta-base-
sentiment-latest``) or a local folder holding a saved model and its tokenizer. The teacher's classes
are matched to the task's by name, case aside, in any order; a model whose classes carry only the
generic names ``LABEL_0``, ``LABEL_1``, ... is read in the task's class order (said in the log), and
any other mismatch is refused. ``transformers`` is an optional extra: ``pip install
"hbilstm[teacher]"``.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

import numpy as np

from ..errors import ConfigError

PREFIX = "hf:"
_GENERIC = re.compile(r"^LABEL_(\d+)$")
_NEEDS = 'a transformers teacher needs the transformers package (pip install "hbilstm[teacher]")'


def is_hub_teacher(spec: str) -> bool:
    return spec.startswith(PREFIX)


def class_order(teacher_names: Sequence[str], task_names: Sequence[str], name: str,
                log: Callable[[str], None]) -> list[int]:
    """For each of the task's classes, the teacher's output column that holds it."""
    if len(teacher_names) != len(task_names):
        raise ConfigError(f"teacher {name} has {len(teacher_names)} classes ({', '.join(teacher_names)}), "
                          f"the task {len(task_names)} ({', '.join(task_names)})")
    if all(_GENERIC.match(n) for n in teacher_names):
        order = sorted(range(len(teacher_names)), key=lambda i: int(_GENERIC.match(teacher_names[i]).group(1)))
        log(f"teacher {name} names its classes {', '.join(teacher_names)}; read in the task's order: "
            f"{', '.join(task_names)}")
        return order
    by_name = {n.lower(): i for i, n in enumerate(teacher_names)}
    missing = [n for n in task_names if n.lower() not in by_name]
    if missing:
        raise ConfigError(f"teacher {name} predicts {', '.join(teacher_names)}, the task has "
                          f"{', '.join(task_names)}")
    return [by_name[n.lower()] for n in task_names]


def check_hub_teacher(spec: str) -> None:
    """What can be checked before a run directory is touched: the package is there, and a name that
    is a local path is a saved model's folder."""
    import importlib.util
    from pathlib import Path

    if importlib.util.find_spec("transformers") is None:
        raise ConfigError(f"teacher {spec}: {_NEEDS}")
    name = spec[len(PREFIX):]
    if not name:
        raise ConfigError("teacher hf: names no model (hf:MODEL_ID or hf:FOLDER)")
    path = Path(name)
    if path.exists() and not (path / "config.json").is_file():
        raise ConfigError(f"teacher {spec}: {name} is not a saved transformers model (no config.json)")


class HubTeacher:
    """Class probabilities from a ``transformers`` sequence-classification model, batched, no gradients."""

    def __init__(self, spec: str, device: str, batch_size: int = 64, max_length: int = 128):
        self.name = spec[len(PREFIX):] if is_hub_teacher(spec) else spec
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError:
            raise ConfigError(f"teacher {spec}: {_NEEDS}") from None
        hf_logging.disable_progress_bar()  # our own log says when the teacher is done
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.name)
            self.model = AutoModelForSequenceClassification.from_pretrained(self.name)
        except (OSError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"teacher {spec}: cannot load it as a transformers model ({reason})") from None
        if self.tokenizer.pad_token is None:  # GPT-style models: batches are padded with the end token
            if self.tokenizer.eos_token is None:
                raise ConfigError(f"teacher {spec}: its tokenizer has neither a padding nor an end token")
            self.tokenizer.pad_token = self.tokenizer.eos_token
            self.model.config.pad_token_id = self.tokenizer.eos_token_id
        self.device = device
        self.model.to(device).eval()
        id2label = self.model.config.id2label
        self.label_names = [str(id2label[i]) for i in range(self.model.config.num_labels)]
        self.batch_size, self.max_length = batch_size, max_length

    def predict_probs(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        # longest first, so that each batch pads to about its own length; rows put back afterwards
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), len(self.label_names)), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start:start + self.batch_size]
                batch = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt").to(self.device)
                logits = self.model(**batch).logits.float()
                out[rows] = torch.softmax(logits, dim=-1).cpu().numpy()
        return out
