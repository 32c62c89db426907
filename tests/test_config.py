
import pytest
import yaml
from conftest import REPO

from hbilstm.config import TrainConfig, load_config
from hbilstm.errors import ConfigError


def test_configs_default_yaml_matches_the_built_in_defaults():
    on_disk = yaml.safe_load((REPO / "configs" / "default.yaml").read_text())
    assert on_disk == TrainConfig().to_dict()


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
])
def test_bad_configs_name_the_key(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


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
