
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
