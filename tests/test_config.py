
import re

import pytest
import yaml
from conftest import REPO

from hbilstm.config import TrainConfig, load_config
from hbilstm.errors import ConfigError


def test_configs_default_yaml_matches_the_built_in_defaults():
    on_disk = yaml.safe_load((REPO / "configs" / "default.yaml").read_text())
    assert on_disk == TrainConfig().to_dict()


def test_configs_pretrain_yaml_matches_the_built_in_pretraining_defaults():
    from hbilstm.pretraining import PretrainConfig

    on_disk = yaml.safe_load((REPO / "configs" / "pretrain.yaml").read_text())
    assert on_disk == PretrainConfig().to_dict()
    with pytest.raises(ConfigError, match="unknown key 'layerz'"):
        load_config(None, {"layerz": 3}, kind=PretrainConfig)


def test_every_shipped_config_loads():
    for path in sorted((REPO / "configs").glob("*.yaml")):
        if path.name == "pretrain.yaml":
            continue
        config = load_config(path)
        assert isinstance(config, TrainConfig), path.name


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("layers: 4\nlr: 1\ncarry: plain\n")
    config = load_config(path, {"layers": 10, "hidden": None})
    assert (config.layers, config.lr, config.carry, config.hidden) == (10, 1.0, "plain", 64)


@pytest.mark.parametrize("text,message", [
    ("layerz: 3\n", r"unknown key 'layerz' \(did you mean 'layers'\?\)"),
    ("layers: three\n", "layers must be a whole number, not 'three'"),
    ("layers: 0\n", "layers must be at least 1"),
    ("hidden: 0\n", "hidden must be at least 1"),
    ("dropout: 1.0\n", r"dropout must be in \[0, 1\)"),
    ("dropout: -0.1\n", r"dropout must be in \[0, 1\)"),
    ("carry: skip\n", "carry must be one of highway, plain, residual, gated-residual"),
    ("lowercase: 1\n", "lowercase must be true or false"),
    ("device: gpu\n", "device must be auto, cpu"),
    ("- a\n- b\n", "expected a mapping"),
    ("layers: [\n", "not valid YAML line"),
    ("lr: .inf\n", "lr must be a finite number, not inf"),
    ("clip: .nan\n", "clip must be a finite number, not nan"),
    ("gate_bias: -.inf\n", "gate_bias must be a finite number"),
    ("weight_decay: 1e999\n", "weight_decay must be a finite number"),
])
def test_bad_configs_name_the_key(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_numbers_that_are_not_finite_are_refused_from_set_too():
    from hbilstm.config import parse_scalar
    from hbilstm.pretraining import PretrainConfig

    # lr=inf once trained to NaN weights and saved them as the best model, with exit code 0
    for key, raw in (("lr", "inf"), ("distill_temperature", "inf"), ("clip", "nan")):
        with pytest.raises(ConfigError, match=f"{key} must be a finite number"):
            load_config(None, {key: parse_scalar(raw)})
    with pytest.raises(ConfigError, match="emoji_weight must be a finite number, not nan"):
        load_config(None, {"emoji_weight": parse_scalar("nan")}, kind=PretrainConfig)


def test_missing_config_file_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_a_runs_config_written_before_an_option_existed_reads_back_as_the_run_was_trained(tmp_path):
    # Today's defaults smooth the labels and add noise; a run written before those options (or
    # before their defaults changed) trained without them, and its config says so by lacking them.
    old = {k: v for k, v in TrainConfig().to_dict().items()
           if k not in ("label_smoothing", "embedding_noise", "ngram_buckets", "word_dropout", "emoji_sentiment")}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(old))
    assert (TrainConfig().label_smoothing, TrainConfig().embedding_noise) == (0.1, 0.2)
    as_run = load_config(path, written_by_a_run=True)
    assert (as_run.label_smoothing, as_run.embedding_noise) == (0.0, 0.0)
    assert as_run.ngram_buckets == 0 and TrainConfig().ngram_buckets == 262_144  # no n-gram classifier then
    assert as_run.word_dropout == 0.0 and TrainConfig().word_dropout == 0.1
    assert as_run.emoji_sentiment is False and TrainConfig().emoji_sentiment is True
    assert load_config(path).label_smoothing == 0.1  # a user's file takes today's defaults
    path.write_text(yaml.safe_dump({**old, "label_smoothing": 0.3}))
    assert load_config(path, written_by_a_run=True).label_smoothing == 0.3  # a key it has wins


def test_docs_options_md_is_written_from_default_yaml_and_explains_every_option():
    from dataclasses import fields

    from hbilstm.config import TrainConfig
    from hbilstm.options_doc import options_markdown

    text = (REPO / "configs" / "default.yaml").read_text(encoding="utf-8")
    page = options_markdown(text)
    assert (REPO / "docs" / "options.md").read_text(encoding="utf-8") == page, \
        "docs/options.md is stale: python -m hbilstm.options_doc configs/default.yaml > docs/options.md"
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert sorted(row.split("`")[1] for row in rows) == sorted(f.name for f in fields(TrainConfig))
    assert all(not row.endswith("|  |") for row in rows)  # every option says what it does


def test_the_model_config_is_derived_from_the_training_options_and_checked_once():
    from dataclasses import fields

    from hbilstm.config import TrainConfig
    from hbilstm.model.config import ModelConfig

    config = TrainConfig(layers=7, hidden=12, carry="residual", dropout=0.2, word_dropout=0.05, lexicon="vader",
                         ngram_buckets=99, pooling="mean")
    model = config.model_config(vocab_size=50, num_classes=3, embedding_dim=33)
    shared = [f.name for f in fields(ModelConfig) if f.name in TrainConfig.__dataclass_fields__]
    assert len(shared) >= 12 and all(getattr(model, n) == getattr(config, n) for n in shared if n != "embedding_dim")
    assert (model.vocab_size, model.num_classes, model.embedding_dim, model.lexicon_features) == (50, 3, 33, 2)
    # a model option's check is the model's own, worded alike
    for key, value, message in (("dropout", 1.5, "dropout must be in [0, 1), not 1.5"),
                                ("layers", 0, "layers must be at least 1, not 0"),
                                ("carry", "skip", "carry must be one of highway, plain, residual, gated-residual")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            TrainConfig(**{key: value})


def test_turning_the_ngram_classifier_off_turns_its_word_runs_off_too():
    # the vectors recipe reads runs of words; --set ngram_buckets=0 alone gives the stack by itself
    recipe = load_config(REPO / "configs" / "vectors.yaml", {"ngram_buckets": 0})
    assert load_config(REPO / "configs" / "vectors.yaml").ngram_words == 3
    assert (recipe.ngram_buckets, recipe.ngram_words) == (0, 0)
    assert TrainConfig(ngram_buckets=0, ngram_words=3).model_config(5, 2, 8).ngram_words == 0
    assert TrainConfig(ngram_buckets=10, ngram_words=3).model_config(5, 2, 8).ngram_words == 3


def test_help_defaults_are_read_from_the_config_dataclass():
    """Every `[default: X]` that a command's --help gives for a training option is TrainConfig's."""
    import typer.main

    from hbilstm.cli import app
    from hbilstm.cli.options import shown
    from hbilstm.config import TrainConfig

    command = typer.main.get_command(app)
    checked = 0
    for name in ("train",):
        for param in command.commands[name].params:
            field = TrainConfig.__dataclass_fields__.get(param.name)
            match = re.search(r"\[default: ([^\]]*)\]", getattr(param, "help", "") or "")
            if field is None or match is None or field.default is None:  # None's help says what it means
                continue
            assert match.group(1) == shown(field.default), param.name
            checked += 1
    assert checked >= 10


def test_compare_help_lists_every_training_option_it_takes():
    from typer.testing import CliRunner

    from hbilstm.cli import app

    text = " ".join(CliRunner().invoke(app, ["compare", "--help"], terminal_width=400).output.split())
    for name in ("log_to", "epochs", "hidden", "gate_bias", "ngram_buckets", "swa_start"):
        assert "--" + name.replace("_", "-") in text, name
