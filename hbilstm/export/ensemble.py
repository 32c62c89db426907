"""``hbilstm ensemble``: several trained models saved as one, which averages their probabilities.

The result is an ordinary folder with a ``model.pt`` (and ``ensemble.json`` naming the members
and their scores), so every command that takes a run directory takes it: evaluate, predict,
serve, export (without ONNX), and the Python API. The members must read text the same way: the
same vocabulary, labels, tokenizer settings and token limit; they may differ in shape and seed.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..checkpoint import MODEL_FILE, load_model, save_checkpoint, vocab_payload
from ..errors import ConfigError
from ..fileio import read_json_if_any, refuse_file_as_folder, write_json_atomic

ENSEMBLE_FILE = "ensemble.json"


def make_ensemble(sources: list[str | os.PathLike], out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the ensemble of ``sources`` (run directories, checkpoints or model folders) into the
    folder ``out``; return the path of its ``model.pt``."""
    from ..model.ensemble import EnsembleClassifier

    if len(sources) < 2:
        raise ConfigError("an ensemble needs at least two models")
    out = Path(out)
    refuse_file_as_folder(out, "--output takes a folder for the ensemble")
    target = (out / MODEL_FILE).resolve()
    for source in sources:
        if target in (Path(source).resolve(), (Path(source) / MODEL_FILE).resolve()):
            raise ConfigError(f"{out}: holds the member {source}, whose {MODEL_FILE} the ensemble would replace; "
                              "choose another --output")
    if (out / MODEL_FILE).exists() and not overwrite:
        raise ConfigError(f"{out / MODEL_FILE} already exists; use --overwrite to replace it")
    members = [load_model(source) for source in sources]
    for source, member in zip(sources, members):
        if member.payload.get("member_configs"):  # its weights are its members', in another layout
            raise ConfigError(f"{source}: is itself an ensemble; give its members instead")
    first = members[0]
    for source, member in zip(sources[1:], members[1:]):
        for what, mine, theirs in (("vocabulary", member.vocab.tokens, first.vocab.tokens),
                                   ("word fallback", member.vocab.fallback, first.vocab.fallback),
                                   ("labels", member.label_names, first.label_names),
                                   ("tokenizer settings", member.tokenizer, first.tokenizer),
                                   ("token limit", member.max_tokens, first.max_tokens)):
            if mine != theirs:
                raise ConfigError(f"{source}: its {what} differ from those of {sources[0]}; the members of an "
                                  "ensemble must be trained on the same data with the same text settings")
    configs = [m.model.config for m in members]
    try:
        ensemble = EnsembleClassifier(configs)
    except ValueError as exc:  # members the model cannot join (n-grams hashed differently)
        raise ConfigError(f"{exc}; train them with the same ngram_buckets and ngram_words") from None
    for slot, member in zip(ensemble.members, members):
        slot.load_state_dict(member.model.state_dict())
    payload = {
        **{k: first.payload[k] for k in ("hbilstm_version", "tokenizer", "max_tokens", "train_config", "dataset",
                                          "data_files", "metric") if k in first.payload},
        "kind": "model",
        "model_config": ensemble.config.to_dict(),  # the shape as the ensemble reads text
        "member_configs": [c.to_dict() for c in configs],
        "members": [str(m.path) for m in members],
        "state_dict": {k: v.detach().cpu() for k, v in ensemble.state_dict().items()},
        **vocab_payload(first.vocab),
        "labels": list(first.label_names),
    }
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / MODEL_FILE, payload)
    write_json_atomic(out / ENSEMBLE_FILE, {
        "members": [{"path": str(m.path), "results": read_json_if_any(m.path.parent / "results.json")}
                    for m in members],
        "averaging": "mean of the members' class probabilities",
    })
    return out / MODEL_FILE
