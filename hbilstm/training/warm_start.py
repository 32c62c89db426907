"""``train --init``: starting a classifier from a pretrained encoder (``hbilstm pretrain``), or
from a model that ``hbilstm train`` trained (its classifiers too where the labels are the same).

The rule for the vocabulary: the encoder's, in its order, then the task's own training words
(those ``min_freq`` keeps) that it lacks, up to ``max_vocab`` entries in all (the encoder's words
are always kept). A word in both keeps its pretrained vector; a new word's row starts fresh. The
embeddings, the stack and the attention are the encoder's; the classifiers (the stack's, the n-gram
one) start fresh, as they answer another question.
"""

from __future__ import annotations

from pathlib import Path

from ..checkpoint import load_checkpoint, vocabulary_from_payload
from ..config import TrainConfig
from ..data.tokenizer import TokenizerConfig
from ..data.vocab import Vocabulary
from ..errors import CheckpointError, ConfigError
from ..model.bilm import transfer

ENCODER_FILE, MODEL_FILE = "encoder.pt", "model.pt"
SHAPE = ("embedding_dim", "hidden", "layers", "carry", "char_features")


def encoder_path(init: str | Path) -> Path:
    """The file to start from: a run directory's ``encoder.pt`` (``hbilstm pretrain``) or, failing
    that, its ``model.pt`` (``hbilstm train``), or the file given."""
    path = Path(init)
    if path.is_dir():
        for name in (ENCODER_FILE, MODEL_FILE):
            if (path / name).is_file():
                return path / name
        raise ConfigError(f"init: {path} holds no {ENCODER_FILE} or {MODEL_FILE}; give a run directory of "
                          "hbilstm pretrain or hbilstm train (or the file)")
    if not path.exists():
        raise ConfigError(f"init: {path}: no such run directory or checkpoint file")
    return path


def vectors_as_embeddings(payload: dict, config: TrainConfig) -> bool:
    """Whether the model to start from was trained with this run's word vectors as its embedding
    table (a run of the same recipe on another task): then this run takes them as its embeddings
    too, as it would without ``init``, instead of joining them beside."""
    trained_with = (payload.get("train_config") or {}).get("embeddings")
    return bool(config.embeddings) and trained_with == config.embeddings and \
        not payload["model_config"].get("vector_features", 0)


def load_encoder(config: TrainConfig, tokenizer_config: TokenizerConfig) -> dict:
    """The encoder ``config.init`` names, checked against the run: the same tokenizer settings and
    model shape (ConfigError naming the first difference)."""
    path = encoder_path(config.init)
    try:
        payload = load_checkpoint(path)
    except CheckpointError as exc:
        raise ConfigError(f"init: {exc}") from None
    theirs = TokenizerConfig.from_dict(payload["tokenizer"])
    if theirs != tokenizer_config:
        name = next(k for k in TokenizerConfig.__dataclass_fields__
                    if getattr(theirs, k) != getattr(tokenizer_config, k))
        value = str(getattr(theirs, name)).lower()
        raise ConfigError(f"init: the encoder was pretrained with {name} {value}, this run has "
                          f"{str(getattr(tokenizer_config, name)).lower()}: tokenize as it did (--set {name}={value})")
    if payload.get("member_configs"):
        raise ConfigError(f"init: {path} is an ensemble of several models; start from one of them")
    shape = payload["model_config"]
    for name in SHAPE:
        if name == "embedding_dim" and vectors_as_embeddings(payload, config):
            continue  # the vectors decide the width, on both sides
        if shape.get(name, 0) != getattr(config, name):
            raise ConfigError(f"init: the encoder has {name} {shape.get(name)}, this run {getattr(config, name)}: "
                              f"train with --set {name}={shape.get(name)}, or pretrain an encoder of this shape")
    payload["path"] = str(path)
    return payload


def merged_vocabulary(payload: dict, max_vocab: int):
    """The vocabulary rule of the module's docstring, as ``extend_vocab`` for the data pipeline."""
    encoder_vocab = vocabulary_from_payload(payload, payload.get("path", "encoder"))
    return lambda task_vocab: Vocabulary.merged(encoder_vocab, task_vocab, max_vocab)


def start_from(payload: dict, model, vocab: Vocabulary, labels: list[str] | None = None) -> dict:
    """Load the encoder's weights into ``model`` (whose vocabulary is ``vocab``, merged by the
    rule, and whose classes are ``labels``); what was taken, for the log and the manifest. A
    model trained on the same labels, in the same order (fine-tuning a sentiment model on other
    sentiment-labelled tweets), gives its classifiers too: the stack's, and the n-gram one where
    it read the same n-grams."""
    encoder_vocab = vocabulary_from_payload(payload)
    rows = [encoder_vocab.id(t) if t in encoder_vocab else -1 for t in vocab.tokens]
    kept: list[str] = []
    if labels is not None and list(payload.get("labels") or []) == list(labels):
        kept.append("classifier.")
        if payload["model_config"].get("ngram_words", 0) == model.config.ngram_words:
            kept.append("ngram_head.")
    skip = tuple(name for name in ("classifier.", "ngram_head.", "spellings", "lexicon") if name not in kept)
    taken = transfer(payload["state_dict"], model, rows, skip)
    return {"encoder": payload.get("path"), "weights": len(taken), "words_pretrained": sum(r >= 0 for r in rows),
            "words_new": sum(r < 0 for r in rows), "attention": any(n.startswith("attention.") for n in taken),
            "classifiers": any(n.startswith(("classifier.", "ngram_head.")) for n in taken)}
