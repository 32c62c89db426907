"""Training options: one flat dataclass, read from YAML, overridden from the command line.

``configs/default.yaml`` lists every option with its default and what it does (a test keeps the
two equal, and ``docs/options.md`` is generated from its comments). Unknown keys, wrong types and
invalid values raise :class:`~hbilstm.errors.ConfigError` naming the key, before any work starts.

The model's options are :class:`~hbilstm.model.config.ModelConfig`'s own: a field of both (same
name) is checked by ``ModelConfig`` alone and handed over by :meth:`TrainConfig.model_config`, so
a new model option is a field of ``ModelConfig``, a field here and a line in default.yaml.
"""

from __future__ import annotations

import difflib
import math
import re
import types
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Optional

import yaml

from .data.lexicon import FEATURES as LEXICON_FEATURES
from .data.lexicon import LEXICONS
from .data.ngrams import NGRAM_BUCKETS
from .data.tokenizer import TokenizerConfig
from .errors import ConfigError
from .model.config import ModelConfig

CLASS_WEIGHTS = ("balanced", "none")
DECISION_OFFSETS = (False, True, "auto")
METRIC_CHOICES = ("auto", "macro_recall", "macro_f1", "accuracy", "irony_f1", "stance_f1")
LOG_TO_CHOICES = ("none", "tensorboard")  # experiment trackers (hbilstm.tracking)
_MODEL = {f.name: f.default for f in fields(ModelConfig)}
_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


@dataclass
class TrainConfig:
    """Every option of ``hbilstm train``; see ``configs/default.yaml`` for what each does."""

    # data
    data: str = "tweeteval-sentiment"
    data_dir: Optional[str] = None
    text_column: str = "text"
    label_column: str = "label"
    id_column: str = "id"
    val_fraction: float = 0.1
    max_train: int = 0
    lowercase: bool = True
    squash_elongations: bool = True
    normalize_mentions: bool = True
    emoji_names: bool = True
    emoji_sentiment: bool = True
    split_hashtags: bool = False
    keep_hashtags: bool = False
    ascii_punctuation: bool = False
    min_freq: int = 2
    max_vocab: int = 50000
    max_tokens: int = 128
    embeddings: Optional[str] = None
    freeze_embeddings: bool = False
    train_missing_vectors: bool = False
    vector_fallback: bool = False
    init: Optional[str] = None  # a model to start from: hbilstm pretrain's encoder or hbilstm train's run
    exclude_held_out: bool = False  # drop train tweets found in another TweetEval task's val or test split
    teachers: Optional[str] = None  # trained models to distil into this one (hbilstm distill), comma-separated
    unlabelled: Optional[str] = None  # files of tweets for teachers or virtual_adversarial, comma-separated
    distill_temperature: float = 2.0
    distill_hard_weight: float = 0.0  # the gold label's share of a labelled tweet's target (0: the teachers' alone)
    # model (defaults are the model's own)
    embedding_dim: int = _MODEL["embedding_dim"]
    hidden: int = _MODEL["hidden"]
    layers: int = _MODEL["layers"]
    carry: str = _MODEL["carry"]
    gate_bias: float = _MODEL["gate_bias"]
    pooling: str = "attention"  # the training recipe's; a ModelConfig without one is max (older models)
    dropout: float = _MODEL["dropout"]
    layer_dropout: float = _MODEL["layer_dropout"]
    embedding_noise: float = 0.2
    word_dropout: float = 0.1
    lexicon: str = "none"
    char_features: int = _MODEL["char_features"]
    ngram_buckets: int = NGRAM_BUCKETS  # the training recipe's; a ModelConfig without one has none (older models)
    ngram_words: int = _MODEL["ngram_words"]
    # training
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.002
    weight_decay: float = 0.01
    clip: float = 1.0
    patience: int = 3
    class_weights: str = "balanced"
    label_smoothing: float = 0.1
    ema: float = 0.0
    swa_start: int = 3  # the training recipe's (docs/journal/accuracy.md, fourth round)
    calibrate: bool = True  # fit each classifier's temperature on val after training (fifth round)
    # fit one offset per class on val to the metric (fourteenth round); auto: keep them only where
    # cross-fitting on val says they pay (thirty-fifth round)
    decision_offsets: typing.Union[bool, str] = False
    lr_layer_decay: float = 1.0  # discriminative fine-tuning: each lower layer's lr is this times the one above's
    gradual_unfreeze: int = 0  # epochs between unfreezing each next layer, from the top down (0: all train)
    adversarial: float = 0.0  # size of the adversarial step on the embeddings, relative to their norm (0: off)
    virtual_adversarial: float = 0.0  # the same for the virtual adversarial step, no label needed (0: off)
    metric: str = "auto"
    seed: int = 13
    device: str = "auto"
    amp: bool = True
    cuda_graphs: bool = False  # not yet measured in hbilstm train on a GPU (training/graphs.py)
    threads: int = 0
    # tracking
    log_to: str = "none"

    def __post_init__(self) -> None:
        coerce_fields(self)
        if not self.ngram_buckets:  # no n-gram classifier: its runs of words go with it
            self.ngram_words = 0
        self._check()

    def _check(self) -> None:
        try:  # the model's and the tokenizer's options, by their own checks
            self.model_config(vocab_size=1, num_classes=1, embedding_dim=self.embedding_dim)
            TokenizerConfig.of(self)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        check_ranges(self, at_least={"epochs": 1, "batch_size": 1, "min_freq": 1, "max_vocab": 3, "max_tokens": 1,
                                     "patience": 0, "threads": 0, "max_train": 0, "swa_start": 0},
                     positive=("lr",), non_negative=("weight_decay", "clip"),
                     choices={"class_weights": CLASS_WEIGHTS, "metric": METRIC_CHOICES, "lexicon": LEXICONS,
                              "log_to": LOG_TO_CHOICES, "decision_offsets": DECISION_OFFSETS})
        if not self.distill_temperature > 0:
            raise ConfigError(f"distill_temperature must be positive, not {self.distill_temperature}")
        if not 0.0 <= self.distill_hard_weight <= 1.0:
            raise ConfigError(f"distill_hard_weight must be in [0, 1] (0: the teachers alone; 1: the gold label alone "
                              f"on labelled tweets), not {self.distill_hard_weight}")
        if self.unlabelled and not (self.teachers or self.virtual_adversarial):
            raise ConfigError("unlabelled tweets are read by teachers (hbilstm distill) or by virtual_adversarial: "
                              "set one of them too")
        if not 0.0 < self.lr_layer_decay <= 1.0:
            raise ConfigError(f"lr_layer_decay must be in (0, 1] (1: one learning rate for every layer), "
                              f"not {self.lr_layer_decay}")
        if self.gradual_unfreeze < 0:
            raise ConfigError(f"gradual_unfreeze must be at least 0, not {self.gradual_unfreeze}")
        if self.gradual_unfreeze and self.cuda_graphs:
            raise ConfigError("gradual_unfreeze changes which weights train from epoch to epoch, which a recorded "
                              "CUDA graph cannot follow: set cuda_graphs false")
        for name in ("adversarial", "virtual_adversarial"):
            size = getattr(self, name)
            if not 0.0 <= size <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1] (the step's size relative to the embeddings' norm; "
                                  f"0: off), not {size}")
            if size and self.cuda_graphs:
                raise ConfigError(f"{name} runs the model more than once a step, which the recorded CUDA graph does "
                                  "not: set cuda_graphs false")
        if self.init and self.train_missing_vectors:
            raise ConfigError("with init the pretrained vectors (embeddings) are joined beside the encoder's "
                              "embeddings and stay fixed: leave out train_missing_vectors")
        if self.vector_fallback and not self.embeddings:
            raise ConfigError("vector_fallback reads unknown words through pretrained vectors: set embeddings too")
        if self.char_features and self.char_features < 5:
            raise ConfigError(f"char_features must be 0 (none) or at least 5 (one filter per width), "
                              f"not {self.char_features}")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"ema must be in [0, 1) (0: no weight average), not {self.ema}")
        if self.ema and self.swa_start:
            raise ConfigError(f"ema and swa_start are two weight averages: keep one (swa_start is {self.swa_start}; "
                              "--set swa_start=0 to use ema)")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), not {self.label_smoothing}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), not {self.val_fraction}")
        check_device(self.device)

    def model_config(self, vocab_size: int, num_classes: int, embedding_dim: int,
                     vector_features: int = 0) -> ModelConfig:
        """The model these options train: every field the two dataclasses share, taken from here,
        with the sizes the data decides (``embedding_dim``: the pretrained vectors' width, where
        there are vectors and no pretrained encoder; ``vector_features``: their width, joined
        beside a pretrained encoder's embeddings) and the lexicon's feature count."""
        shared = {name: getattr(self, name) for name in _MODEL if hasattr(self, name)}
        return ModelConfig(
            **{
                **shared,
                "vocab_size": vocab_size,
                "num_classes": num_classes,
                "embedding_dim": embedding_dim,
                "vector_features": vector_features,
                "lexicon_features": LEXICON_FEATURES.get(self.lexicon, 0),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> "TrainConfig":
        return from_dict({**self.to_dict(), **changes})

    def located(self) -> "TrainConfig":
        """This config with ``data``/``data_dir`` resolved to where the data is now (see
        :func:`hbilstm.data.corpora.locate`), as a run stores them."""
        from .data.corpora import locate

        data, data_dir = locate(self.data, self.data_dir)
        return self.replace(data=data, data_dir=data_dir)


_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def check_ranges(options: Any, *, at_least: dict[str, int | float], positive: tuple[str, ...],
                 non_negative: tuple[str, ...], choices: dict[str, tuple[str, ...]]) -> None:
    """A ConfigError naming the first option of ``options`` out of its range: below its
    ``at_least`` value, not above zero (``positive``), below zero (``non_negative``) or not one
    of its ``choices``."""
    for name, low in at_least.items():
        if getattr(options, name) < low:
            raise ConfigError(f"{name} must be at least {low}, not {getattr(options, name)}")
    for name in positive:
        if not getattr(options, name) > 0:
            raise ConfigError(f"{name} must be positive, not {getattr(options, name)}")
    for name in non_negative:
        if getattr(options, name) < 0:
            raise ConfigError(f"{name} must be zero or positive, not {getattr(options, name)}")
    for name, allowed in choices.items():
        if getattr(options, name) not in allowed:
            shown = ", ".join(str(a).lower() if isinstance(a, bool) else str(a) for a in allowed)
            raise ConfigError(f"{name} must be one of {shown}, not {getattr(options, name)!r}")


def check_device(name: str) -> None:
    """ConfigError unless ``name`` is auto, cpu, cuda, cuda:N or mps (``--device`` everywhere)."""
    if not isinstance(name, str) or not _DEVICE.match(name):
        raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps, not {name!r}")


def _field_type(name: str, kind: type = None) -> Any:
    return typing.get_type_hints(kind or TrainConfig)[name]


def coerce_fields(config: Any) -> None:
    """Check (and where needed convert) every field of a config dataclass against its type."""
    for f in fields(config):
        setattr(config, f.name, _coerce(f.name, getattr(config, f.name), _field_type(f.name, type(config))))


def _coerce(name: str, value: Any, kind: Any) -> Any:
    """Check ``value`` against the field's type; ints are accepted where floats are expected."""
    optional = typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in typing.get_args(kind)
    if optional:
        if value is None:
            return None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    elif typing.get_origin(kind) in (typing.Union, types.UnionType):  # bool or a word (decision_offsets)
        for member in typing.get_args(kind):
            try:
                return _coerce(name, value, member)
            except ConfigError:
                continue
        choices = ", or ".join({bool: "true or false", str: "a word"}.get(a, a.__name__) for a in typing.get_args(kind))
        raise ConfigError(f"{name} must be {choices}, not {value!r}")
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        # YAML 1.1 reads "1e-3" (no dot) as text; accept it as the number it plainly is.
        elif isinstance(value, str) and _FLOAT.match(value.strip()):
            number = float(value)
        if number is not None:
            if not math.isfinite(number):  # no option means anything by nan or inf (lr=inf trains to NaN)
                raise ConfigError(f"{name} must be a finite number, not {number}")
            return number
    elif kind is str:
        if isinstance(value, str):
            return value
    wanted = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}[kind]
    raise ConfigError(f"{name} must be {wanted}, not {value!r}")


def from_dict(data: dict[str, Any], source: str = "config", kind: type = None) -> Any:
    """A ``kind`` of config (:class:`TrainConfig` by default) from a mapping; ConfigError naming an
    unknown key (and the nearest known one)."""
    kind = kind or TrainConfig
    known = [f.name for f in fields(kind)]
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{source}: unknown key {key!r}{hint}")
    return kind(**data)


# What an option was before it existed or before its default changed, for a config a run wrote
# then: its file lacks the key, and the run was trained with this value, whatever today's default.
BEFORE_OPTION: dict[str, Any] = {"embedding_noise": 0.0, "label_smoothing": 0.0, "ngram_buckets": 0, "swa_start": 0,
                                 "word_dropout": 0.0, "calibrate": False,
                                 "emoji_names": False, "emoji_sentiment": False}


def stored(data: dict[str, Any]) -> dict[str, Any]:
    """A config a run wrote, read as the run was trained: each option of :data:`BEFORE_OPTION`
    that the file lacks takes its value from there, not today's default."""
    return {**{k: v for k, v in BEFORE_OPTION.items() if k not in data}, **data}


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None,
                written_by_a_run: bool = False, kind: type = None) -> Any:
    """Defaults, then the YAML file at ``path`` (if any), then ``overrides`` (None values skipped),
    as a ``kind`` of config (:class:`TrainConfig` by default).
    ``written_by_a_run``: the file is a run's config.yaml, read with :func:`stored`."""
    data: dict[str, Any] = {}
    source = "config"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read ({exc})") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}: not valid YAML{where}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of option: value")
        data.update(stored(loaded) if written_by_a_run else loaded)
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    return from_dict(data, source, kind)


def parse_scalar(text: str) -> Any:
    """A command-line value: an int, a float (``1e-3`` too), ``true``/``false``/``null``, or text."""
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    try:
        value = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (bool, type(None))) else text


def to_yaml(config: TrainConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
