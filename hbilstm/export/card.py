"""The model card: README.md of an exported model folder, with Hugging Face Hub metadata on top.

Everything in it is taken from the model and its run (shape, labels, data, options, scores); what
cannot be known from them (intended use, limits) is stated for tweet sentiment in general.
"""

from __future__ import annotations

from typing import Any

import yaml

from .. import __version__
from ..config import TrainConfig

_OPTIONS = ("layers", "carry", "hidden", "embedding_dim", "pooling", "gate_bias", "dropout", "epochs",
            "batch_size", "lr", "weight_decay", "class_weights", "max_train", "seed", "embeddings")
# Where and how a run ran, not what it learnt: never listed, whatever their values.
_PLACE = ("data", "data_dir", "device", "threads", "amp", "cuda_graphs", "log_to")
_METRICS = (("macro_recall", "macro-recall"), ("accuracy", "accuracy"), ("macro_f1", "macro-F1"))
# a task's official metric beyond those three gets a column of its own
_OFFICIAL = {"irony_f1": "F1 of irony", "stance_f1": "stance F1 (against, favor)"}  # corpora.CLASS_METRICS


def _columns(official: str | None) -> tuple[tuple[str, str], ...]:
    return _METRICS + (((official, _OFFICIAL[official]),) if official in _OFFICIAL else ())


def card_fields(payload: dict[str, Any], results: dict[str, Any] | None) -> dict[str, Any]:
    """The facts the card (and ``GET /metadata`` of ``hbilstm serve``) reports, as plain values."""
    shape = payload["model_config"]
    scores = {}
    for split in ("val", "test"):
        found = (results or {}).get(split) or (payload.get("val") if split == "val" else None)
        if found:
            scores[split] = {"n": found.get("n"), **{k: found.get(k) for k, _ in _columns(payload.get("metric"))}}
    return {
        "name": f"hbilstm {shape['layers']}x {shape['carry']} BiLSTM ({payload.get('dataset', 'unknown data')})",
        "labels": list(payload["labels"]),
        "dataset": payload.get("dataset"),
        "official_metric": payload.get("metric"),
        "scores": scores,
        "best_epoch": (results or {}).get("best_epoch", payload.get("epoch")),
        "parameters": (results or {}).get("parameters"),
        "hbilstm_version": payload.get("hbilstm_version", __version__),
    }


def model_card(payload: dict[str, Any], results: dict[str, Any] | None, manifest: dict[str, Any] | None) -> str:
    fields = card_fields(payload, results)
    shape, train = payload["model_config"], payload.get("train_config", {})
    front = {
        "library_name": "hbilstm",
        "pipeline_tag": "text-classification",
        "language": ["en"],
        "tags": ["sentiment-analysis", "twitter", "bilstm", "highway-networks"],
        "metrics": ["recall", "accuracy", "f1"],
    }
    if str(fields["dataset"]).startswith("tweeteval"):
        front["datasets"] = ["cardiffnlp/tweet_eval"]
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "", f"# {fields['name']}", ""]
    lines += [
        f"A tweet sentiment classifier trained with [hbilstm](https://pypi.org/project/hbilstm/) "
        f"{fields['hbilstm_version']}: token embeddings ({shape['embedding_dim']} wide), "
        f"{shape['layers']} stacked bidirectional LSTM layers of {shape['hidden']} units per direction "
        f"with the **{shape['carry']}** carry, {shape['pooling']} pooling over tokens and a linear "
        f"layer over {len(fields['labels'])} classes"
        + (f" ({fields['parameters']:,} parameters)." if fields["parameters"] else "."),
        *([f"It is an ensemble of {len(payload['member_configs'])} such models (the shape above is the first's): "
           "its probabilities are the mean of theirs.", ""] if payload.get("member_configs") else [""]),
        f"Labels, in the order of the probability columns: {', '.join(fields['labels'])}.",
        "",
        "## Use",
        "",
        "```python",
        "import hbilstm",
        'clf = hbilstm.load("PATH_OR_HUB_ID")',
        'clf.predict(["what a great game!"])        # labels',
        'clf.predict_proba(["what a great game!"])  # (n, classes) probabilities',
        "```",
        "",
        "From the command line: `hbilstm predict PATH tweets.txt` (add `--backend onnx` to score with",
        "ONNX Runtime from `model.onnx`), `hbilstm evaluate PATH`, `hbilstm serve PATH`.",
        "",
        "## Training data and options",
        "",
        f"Dataset: `{fields['dataset']}`.",
    ]
    files = payload.get("data_files") or []
    if files:
        lines += ["", "| file | SHA-256 |", "| --- | --- |"] + [f"| {f['name']} | `{f['sha256']}` |" for f in files]
    defaults = TrainConfig().to_dict()
    options = {k: train[k] for k in _OPTIONS if k in train}
    options.update({k: v for k, v in train.items()
                    if k in defaults and k not in options and k not in _PLACE and v != defaults[k]})
    lines += ["", "Options (`hbilstm train`; every other option at its default):", "",
              "| option | value "
              "|", "| --- | --- "
                                    "|"] + [f"| {k} | {'none' if v is None else v} "
                                                        "|" for k, v in options.items()]
    if manifest:
        versions = manifest.get("packages", {})
        commit = (manifest.get("git") or {}).get("commit")
        lines += ["", f"Trained on {_device(manifest.get('device'))} with torch {versions.get('torch')}"
                  + (f", hbilstm commit `{commit[:12]}`" if commit else "") + "."]
    lines += ["", "## Scores", ""]
    if fields["scores"]:
        columns = _columns(fields["official_metric"])
        lines += ["| split | n | " + " | ".join(name for _, name in columns) + " |",
                  "| --- | ---: | " + " | ".join("---:" for _ in columns) + " |"]
        for split, s in fields["scores"].items():
            cells = [f"{100 * s[k]:.2f}" if s.get(k) is not None else "–" for k, _ in columns]
            lines.append(f"| {split} | {s['n']:,} | " + " | ".join(cells) + " |")
        lines += [
            "",
            f"Written by `hbilstm train` at the end of training (best epoch {fields['best_epoch']}, chosen on "
            f"the validation split's {str(fields['official_metric']).replace('_', '-')}). "
            "`hbilstm evaluate PATH --data-dir DIR` recomputes the test row from the dataset's files.",
        ]
    else:
        lines.append("No scores were recorded with this model.")
    lines += [
        "",
        "## Intended use and limits",
        "",
        "- Meant for short English social-media posts, labelled as a whole; research, monitoring and",
        "  aggregate analysis rather than decisions about individual people.",
        "- Trained on tweets of a few years; slang, topics and emoji use drift, and other genres (reviews,",
        "  SMS, news) score lower. Sarcasm and irony are often read literally.",
        f"- Texts are cut at {payload.get('max_tokens')} tokens; empty texts are refused.",
        "- Scores above are on the dataset's own test split; expect lower on other data. A model that",
        "  gets a third or more of test tweets wrong should not be used where a wrong label harms someone.",
        "",
    ]
    return "\n".join(lines)


def _device(device: Any) -> str:
    if not isinstance(device, dict):
        return str(device or "an unrecorded device")
    if device.get("type") == "cuda":
        return f"a GPU ({device.get('name', 'CUDA')})"
    return f"a CPU ({device.get('torch_threads', '?')} threads)"
