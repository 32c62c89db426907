"""Options of ``hbilstm pretrain``: one flat dataclass, read from YAML (``configs/pretrain.yaml``
lists every option with its default) and overridden from the command line, checked like
:class:`~hbilstm.config.TrainConfig`'s."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Optional

from ..config import LOG_TO_CHOICES, TrainConfig, check_device, check_ranges, coerce_fields, from_dict
from ..data.tokenizer import TokenizerConfig
from ..errors import ConfigError
from ..model.config import ModelConfig

OBJECTIVES = ("lm", "emoji")
# The options pretraining shares with training take training's defaults (one source for each);
# the others are pretraining's own.
_TRAIN = {f.name: f.default for f in fields(TrainConfig)}


@dataclass
class PretrainConfig:
    """Every option of ``hbilstm pretrain``; see ``configs/pretrain.yaml`` for what each does."""

    # data
    data_dir: Optional[str] = _TRAIN["data_dir"]
    tasks: str = "tweeteval"
    text_column: str = _TRAIN["text_column"]
    objectives: str = "lm,emoji"
    emoji_weight: float = 1.0
    lowercase: bool = _TRAIN["lowercase"]
    squash_elongations: bool = _TRAIN["squash_elongations"]
    normalize_mentions: bool = _TRAIN["normalize_mentions"]
    emoji_names: bool = _TRAIN["emoji_names"]
    emoji_sentiment: bool = _TRAIN["emoji_sentiment"]
    split_hashtags: bool = _TRAIN["split_hashtags"]
    keep_hashtags: bool = _TRAIN["keep_hashtags"]
    ascii_punctuation: bool = _TRAIN["ascii_punctuation"]
    min_freq: int = _TRAIN["min_freq"]
    max_vocab: int = _TRAIN["max_vocab"]
    max_tokens: int = 64
    # model
    embedding_dim: int = _TRAIN["embedding_dim"]
    hidden: int = _TRAIN["hidden"]
    layers: int = _TRAIN["layers"]
    carry: str = _TRAIN["carry"]
    gate_bias: float = _TRAIN["gate_bias"]
    pooling: str = _TRAIN["pooling"]
    dropout: float = 0.1
    layer_dropout: float = _TRAIN["layer_dropout"]
    embedding_noise: float = 0.0
    word_dropout: float = 0.0
    # training
    epochs: int = 5
    batch_size: int = 128
    lr: float = _TRAIN["lr"]
    weight_decay: float = _TRAIN["weight_decay"]
    clip: float = _TRAIN["clip"]
    max_minutes: float = 0.0
    seed: int = _TRAIN["seed"]
    device: str = _TRAIN["device"]
    amp: bool = _TRAIN["amp"]
    threads: int = _TRAIN["threads"]
    log_to: str = _TRAIN["log_to"]

    def __post_init__(self) -> None:
        coerce_fields(self)
        try:  # the model's and the tokenizer's options, by their own checks
            self.model_config(vocab_size=3, num_classes=1)
            TokenizerConfig.of(self)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        check_ranges(self, at_least={"epochs": 1, "batch_size": 1, "min_freq": 1, "max_vocab": 3, "max_tokens": 2,
                                     "threads": 0},
                     positive=("lr",), non_negative=("weight_decay", "clip", "max_minutes", "emoji_weight"),
                     choices={"log_to": LOG_TO_CHOICES})
        unknown = [o for o in self.objective_list if o not in OBJECTIVES]
        if unknown or not self.objective_list:
            raise ConfigError(f"objectives must be lm, emoji or lm,emoji, not {self.objectives!r}")
        check_device(self.device)

    @property
    def objective_list(self) -> list[str]:
        return [o.strip() for o in self.objectives.split(",") if o.strip()]

    def task_list(self) -> list[str] | None:
        """The datasets whose train splits join the pool: None for every TweetEval task."""
        names = [t.strip() for t in self.tasks.split(",") if t.strip()]
        if names == ["tweeteval"]:
            return None
        return [] if names == ["none"] else names

    def model_config(self, vocab_size: int, num_classes: int) -> ModelConfig:
        known = {f.name for f in fields(ModelConfig)}
        shared = {k: v for k, v in asdict(self).items() if k in known}
        return ModelConfig(**{**shared, "vocab_size": vocab_size, "num_classes": num_classes})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> "PretrainConfig":
        return from_dict({**self.to_dict(), **changes}, kind=PretrainConfig)
