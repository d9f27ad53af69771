"""Every way a config can be wrong is one ConfigError that names the file or the dotted key (issue 9)."""

from __future__ import annotations

import math

import pytest

from reglab.config import DataConfig, apply_overrides, load_config, parse_config
from reglab.data import load_dataset
from reglab.errors import ConfigError, ReglabError


@pytest.mark.parametrize(("raw", "key"), [
    ({"regularizer": [{"kind": "l2", "alpha": math.inf}]}, "regularizer[0].alpha"),
    ({"regularizer": [{"kind": "l1", "alpha": math.nan}]}, "regularizer[0].alpha"),
    ({"regularizer": [{"kind": "weight_decay", "wd": math.inf}]}, "regularizer[0].wd"),
    ({"train": {"lr": math.inf}}, "train.lr"),
    ({"train": {"lr": math.nan}}, "train.lr"),
    ({"train": {"momentum": math.nan}}, "train.momentum"),
    ({"data": {"name": "circle", "noise": math.nan}}, "data.noise"),
    ({"data": {"name": "linear", "dim": 2, "spectrum": [1.0, math.inf]}}, "data.spectrum[1]"),
    ({"regularizer": [{"kind": "l2_ball", "radius": math.nan}]}, "regularizer[0].radius"),
    ({"regularizer": [{"kind": "max_norm", "max_norm": math.nan}]}, "regularizer[0].max_norm"),
    ({"regularizer": [{"kind": "early_stopping", "min_delta": math.inf}]}, "regularizer[0].min_delta"),
    ({"augment": {"rotation": math.nan}}, "augment.rotation"),
    ({"train": {"epochs": 0}}, "train.epochs"),
])
def test_infinite_nan_and_zero_epochs_are_rejected_naming_the_field(raw, key):
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert f"{key}:" in str(err.value)
    assert err.value.field == key


def test_an_infinite_radius_is_no_constraint_and_allowed():
    cfg = parse_config({"regularizer": [{"kind": "l2_ball", "radius": math.inf},
                                        {"kind": "max_norm", "max_norm": math.inf}]})
    assert [r.build() for r in cfg.regularizer][0].radius == math.inf


def test_an_empty_config_file_is_an_error_naming_the_file(tmp_path):
    for text in ("", "\n# only a comment\n"):
        path = tmp_path / "empty.toml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=r"empty\.toml is empty"):
            load_config(path)


def test_a_directory_as_the_config_says_it_is_a_directory(tmp_path):
    with pytest.raises(ConfigError, match=rf"{tmp_path.name} is a directory"):
        load_config(tmp_path)


@pytest.mark.parametrize("content", [b"\xff\xfe[train]\n", bytes(range(256)), b"[train]\nepochs = 3\n\x00\x00"])
def test_a_binary_or_non_utf8_config_is_an_error_naming_the_file(tmp_path, content):
    path = tmp_path / "weights.bin"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"weights\.bin is (not a UTF-8 text file|a binary file)"):
        load_config(path)


def test_set_on_a_missing_regularizer_says_there_is_none():
    with pytest.raises(ConfigError, match=r"there is no regularizer 0 \(the list is empty\)"):
        apply_overrides({}, ["regularizer.0.alpha=1"])
    with pytest.raises(ConfigError, match=r"there is no regularizer 0 \(the list is empty\)"):
        apply_overrides({"regularizer": []}, ["regularizer.0.alpha=1"])
    with pytest.raises(ConfigError, match=r"there is no regularizer 2 \(the list has 2 entries, 0 to 1\)"):
        apply_overrides({"regularizer": [{"kind": "l2"}, {"kind": "l1"}]}, ["regularizer.2.alpha=1"])


def test_set_on_a_missing_regularizer_in_a_file(tmp_path):
    path = tmp_path / "plain.toml"
    path.write_text("[train]\nepochs = 2\n")
    with pytest.raises(ConfigError, match=r"no regularizer 0 \(the list is empty\)"):
        load_config(path, ["regularizer.0.alpha=1"])


def test_a_bad_mask_is_one_error_naming_the_key_and_the_allowed_values():
    with pytest.raises(ConfigError) as err:
        parse_config({"regularizer": [{"kind": "l2", "alpha": 0.1, "mask": "weightz"}]})
    message = str(err.value)
    assert message.count("regularizer[0].mask") == 1 and ";" not in message
    assert "'weights'" in message and "'all'" in message and "'biases'" in message and "glob" in message
    assert "literal" not in message and "list[str]" not in message  # no internal union paths
    assert "'weightz'" in message


def test_the_adamw_hint_names_the_regularizer_table():
    with pytest.raises(ConfigError, match=r"add a \[\[regularizer\]\] with kind = 'weight_decay'"):
        parse_config({"train": {"optimizer": "adamw"}})


def test_a_knob_of_another_data_set_is_an_error_naming_it():
    with pytest.raises(ConfigError) as err:
        parse_config({"data": {"name": "digits", "noise": 10}})
    message = str(err.value)
    assert "unknown key 'data.noise'" in message
    assert "allowed keys here: n_train, name, seed, test_fraction, val_fraction" in message
    with pytest.raises(ConfigError, match=r"unknown key 'data.degree'; allowed keys here: .*n_points"):
        parse_config({"data": {"name": "circle", "degree": 3}})
    with pytest.raises(ConfigError, match="unknown key 'noise'"):
        load_dataset("digits", noise=10.0)


def test_data_config_chooses_the_family_by_name_and_keeps_working_as_before():
    cfg = parse_config({"data": {"name": "gauss", "noise": 20.0, "n_points": 100}})
    assert type(cfg.data).__name__ == "ToyDataConfig" and isinstance(cfg.data, DataConfig)
    assert cfg.data.noise == 20.0
    assert type(parse_config({}).data).__name__ == "DigitsDataConfig"
    assert parse_config({"name": "linear", "dim": 3}, DataConfig).dim == 3
    assert DataConfig(name="circle", noise=10.0) == parse_config({"name": "circle", "noise": 10.0}, DataConfig)
    with pytest.raises(ConfigError, match=r"name: Input should be 'digits', 'mnist'.*'linear' \(got 'cifar'\)"):
        parse_config({"name": "cifar"}, DataConfig)
    assert load_dataset("circle", noise=10.0, n_points=200).sizes() == {"train": 100, "val": 50, "test": 50}
    assert load_dataset(cfg.data, n_points=60).sizes() == load_dataset("gauss", noise=20.0, n_points=60).sizes()


def test_every_config_error_is_a_reglab_error(tmp_path):
    for call in (lambda: load_config(tmp_path), lambda: parse_config({"train": {"lr": math.inf}}),
                 lambda: apply_overrides({}, ["regularizer.0.alpha=1"])):
        with pytest.raises(ReglabError) as err:
            call()
        assert err.value.exit_code == 2


# A run folder's config.toml as reglab wrote it before [data] became one class per family
# (every knob of every data set listed; written by the previous config_to_toml).
LEGACY_RUN_CONFIG = """\
[data]
name = "circle"
seed = 0
val_fraction = 0.2
test_fraction = 0.2
verify_checksums = true
n_points = 500
noise = 12.0
train_ratio = 50.0
degree = 3
n = 200
n_test = 200
dim = 10
whiten = false
noise_std = 0.1

[model]
kind = "mlp"
hidden = [64]
activation = "relu"
features = "raw"
poly_degree = 1
bias = true

[train]
epochs = 10
seed = 0
batch_size = 64
lr = 0.1
optimizer = "sgd"
momentum = 0.0
nesterov = false
betas = [0.9, 0.999]
loss = "auto"
device = "auto"
dtype = "float32"
checkpoint = true
checkpoint_every = 1
"""


def test_a_run_folder_config_from_before_the_data_families_still_loads(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(LEGACY_RUN_CONFIG)
    cfg = load_config(path)
    assert type(cfg.data).__name__ == "ToyDataConfig" and cfg.data.noise == 12.0 and cfg.data.n_points == 500
    assert cfg == parse_config({"data": {"name": "circle", "noise": 12.0}})
    hand_written = tmp_path / "mine.toml"  # a [data] table written by hand is never trimmed
    hand_written.write_text('[data]\nname = "digits"\nnoise = 10.0\n')
    with pytest.raises(ConfigError, match="unknown key 'data.noise'"):
        load_config(hand_written)


def test_data_family_configs_survive_pickling_and_construct():
    import pickle

    cfg = parse_config({"data": {"name": "spiral", "noise": 5.0}, "regularizer": [{"kind": "l1", "alpha": 0.1}]})
    again = pickle.loads(pickle.dumps(cfg))  # process pools pickle configs
    assert again == cfg and type(again.data) is type(cfg.data)
    built = DataConfig.model_construct(name="xor")
    assert type(built).__name__ == "ToyDataConfig" and built.n_points == 500


def test_the_error_carries_the_first_field_or_none_for_a_whole_config_rule():
    with pytest.raises(ConfigError) as err:
        parse_config({"train": {"optimizer": "adamw"}})
    assert err.value.field is None
    with pytest.raises(ConfigError) as err:
        parse_config({"data": {"name": "digits", "noise": 1.0}})
    assert err.value.field == "data.noise"
