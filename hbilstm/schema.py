"""What the plain values of a saved model must be, checked before anything is built from them.

A checkpoint's payload (``model.pt``) and a model folder's ``config.json`` carry the model's shape
(``model_config``, and ``member_configs`` for an ensemble), its ``labels``, ``tokenizer``
settings and ``max_tokens``. :func:`check_model_values` checks their types and ranges, that the
labels are distinct names, one per class, and that every size is positive and under a hard cap,
so that a damaged or hostile file is one line of error and never a traceback, a nonsense label
or a model too large to allocate. No torch here.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from .errors import CheckpointError
from .model.config import CARRIES, MAX_NGRAM_WORDS, POOLINGS

# Hard caps, far above any model hbilstm trains (the default: 2 layers of 64 units, a 20k vocabulary).
MAX_VOCAB = 10_000_000
MAX_CLASSES = 10_000
MAX_WIDTH = 16_384  # embedding_dim, hidden, char_features, vector_features
MAX_LAYERS = 512
MAX_NGRAM_BUCKETS = 1 << 26
MAX_LEXICON_FEATURES = 1024
MAX_TOKENS = 1_000_000
MAX_LABEL_CHARS = 200

_WHOLE = {  # field: (least, most); the most may name another field's value
    "vocab_size": (1, MAX_VOCAB), "num_classes": (2, MAX_CLASSES), "embedding_dim": (1, MAX_WIDTH),
    "hidden": (1, MAX_WIDTH), "layers": (1, MAX_LAYERS), "padding_idx": (0, "vocab_size"),
    "unknown_idx": (0, "vocab_size"), "lexicon_features": (0, MAX_LEXICON_FEATURES),
    "char_features": (0, MAX_WIDTH), "vector_features": (0, MAX_WIDTH), "ngram_buckets": (0, MAX_NGRAM_BUCKETS),
    "ngram_words": (0, MAX_NGRAM_WORDS),
}
_RATES = ("dropout", "layer_dropout", "word_dropout")  # in [0, 1)
_REQUIRED = ("vocab_size", "num_classes")


def _fail(where: str, message: str) -> CheckpointError:
    return CheckpointError(f"{where}: {message}")


def whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_model_config(config: Any, where: str, key: str = "model_config") -> None:
    """A ``model_config`` mapping as :class:`~hbilstm.model.config.ModelConfig` takes it."""
    if not isinstance(config, dict):
        raise _fail(where, f"{key} must be a mapping of the model's shape, not {type(config).__name__}")
    for name in _REQUIRED:
        if name not in config:
            raise _fail(where, f"{key} has no {name!r}")
    for name, (least, most) in _WHOLE.items():
        if name not in config:
            continue
        value = config[name]
        if not whole(value):
            raise _fail(where, f"{key}.{name} must be a whole number, not {value!r}")
        top = config["vocab_size"] - 1 if most == "vocab_size" else most
        if not least <= value <= top:
            raise _fail(where, f"{key}.{name} must be between {least} and {top:,}, not {value:,}")
    for name in _RATES:
        if name in config and not (number(config[name]) and 0 <= config[name] < 1):
            raise _fail(where, f"{key}.{name} must be a number in [0, 1), not {config[name]!r}")
    for name in ("gate_bias", "embedding_noise"):
        if name in config and not number(config[name]):
            raise _fail(where, f"{key}.{name} must be a finite number, not {config[name]!r}")
    if "embedding_noise" in config and config["embedding_noise"] < 0:
        raise _fail(where, f"{key}.embedding_noise must be at least 0, not {config['embedding_noise']!r}")
    for name, choices in (("carry", CARRIES), ("pooling", POOLINGS)):
        if name in config and config[name] not in choices:
            raise _fail(where, f"{key}.{name} must be one of {', '.join(choices)}, not {config[name]!r}")
    if config.get("ngram_words") and not config.get("ngram_buckets"):
        raise _fail(where, f"{key}.ngram_words is {config['ngram_words']!r}, but the model has no n-gram classifier "
                           "(ngram_buckets 0) to read them")
    temperatures = config.get("temperatures", [])
    parts = 2 if config.get("ngram_buckets") else 1
    if (not isinstance(temperatures, (list, tuple)) or len(temperatures) not in (0, parts)
            or not all(number(t) and t > 0 for t in temperatures)):
        raise _fail(where, f"{key}.temperatures must be a list of {parts} positive number(s) (one per classifier) "
                           f"or empty, not {temperatures!r}")
    offsets = config.get("offsets", [])
    classes = config["num_classes"]
    if not isinstance(offsets, (list, tuple)) or len(offsets) not in (0, classes) or not all(map(number, offsets)):
        raise _fail(where, f"{key}.offsets must be a list of {classes} finite number(s) (one per class) or empty, "
                           f"not {_short(offsets)}")


def check_labels(labels: Any, classes: int, where: str) -> list[str]:
    """The class names: a list of ``classes`` distinct, non-empty strings."""
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise _fail(where, f"labels must be a list of class names (strings), not {_short(labels)}")
    if len(labels) != classes:
        raise _fail(where, f"{len(labels)} labels for a model of {classes} classes")
    for name in labels:
        if not name.strip() or len(name) > MAX_LABEL_CHARS or name != name.strip():
            raise _fail(where, f"label {name[:40]!r} is not a usable class name (empty, padded or over "
                               f"{MAX_LABEL_CHARS} characters)")
    if len(set(labels)) != len(labels):
        twice = next(x for x in labels if labels.count(x) > 1)
        raise _fail(where, f"label {twice!r} is listed twice; each class needs its own name")
    return labels


def check_tokenizer(settings: Any, where: str) -> None:
    from .data.tokenizer import TokenizerConfig

    if not isinstance(settings, dict):
        raise _fail(where, f"tokenizer must be a mapping of settings, not {_short(settings)}")
    for name in TokenizerConfig.__dataclass_fields__:
        if name in settings and not isinstance(settings[name], bool):
            raise _fail(where, f"tokenizer.{name} must be true or false, not {settings[name]!r}")
    if settings.get("keep_hashtags") and not settings.get("split_hashtags"):
        raise _fail(where, "tokenizer.keep_hashtags is true but split_hashtags is not")


def check_model_values(values: dict[str, Any], where: str, vocab: Sequence[Any] | None = None) -> None:
    """Check a checkpoint payload or a model folder's config.json (see the module); with
    ``vocab`` (the token list), that it is a list of distinct strings, one per embedding row."""
    check_model_config(values.get("model_config"), where)
    members = values.get("member_configs")
    if members is not None:
        if not isinstance(members, list) or not members:
            raise _fail(where, "member_configs must be a non-empty list of model shapes")
        for i, member in enumerate(members):
            check_model_config(member, where, f"member_configs[{i}]")
    shape = values["model_config"]
    check_labels(values.get("labels"), shape["num_classes"], where)
    check_tokenizer(values.get("tokenizer"), where)
    max_tokens = values.get("max_tokens")
    if not whole(max_tokens) or not 1 <= max_tokens <= MAX_TOKENS:
        raise _fail(where, f"max_tokens must be a whole number between 1 and {MAX_TOKENS:,}, not {max_tokens!r}")
    if vocab is not None:
        check_vocab(vocab, shape["vocab_size"], where)


def check_vocab(vocab: Any, size: int, where: str) -> None:
    if not isinstance(vocab, list) or not all(isinstance(token, str) for token in vocab):
        raise _fail(where, "the vocabulary must be a list of tokens (strings)")
    if len(vocab) != size:
        raise _fail(where, f"the vocabulary has {len(vocab):,} tokens for a model of {size:,} embedding rows")
    if len(set(vocab)) != len(vocab):
        raise _fail(where, "the vocabulary lists a token twice")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
