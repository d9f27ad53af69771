import tomllib

import pytest

from reglab.config import apply_overrides, config_hash, config_to_toml, load_config, parse_config
from reglab.errors import ConfigError


def test_unknown_key_names_the_key_and_the_allowed_keys():
    with pytest.raises(ConfigError) as err:
        parse_config({"train": {"epochz": 3}})
    assert "train.epochz" in str(err.value)
    assert "epochs" in str(err.value)


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"regularizer": [{"kind": "l2", "alpha": -1.0}]}, "regularizer[0].alpha"),
        ({"data": {"name": "cifar"}}, "data.name"),
        ({"train": {"optimizer": "lbfgs"}}, "train.optimizer"),
        ({"train": {"lr": 0}}, "train.lr"),
        ({"data": {"noise": 80}}, "data.noise"),
        ({"regularizer": [{"kind": "l2", "alpha": 1.0, "strength": 2}]}, "regularizer[0].strength"),
    ],
)
def test_bad_values_name_the_key(raw, key):
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert key in str(err.value)


def test_unknown_dataset_lists_the_allowed_names():
    with pytest.raises(ConfigError) as err:
        parse_config({"data": {"name": "cifar"}})
    assert "'digits'" in str(err.value) and "'mnist'" in str(err.value)


def test_adamw_needs_a_decoupled_decay_piece():
    with pytest.raises(ConfigError, match="weight_decay"):
        parse_config({"train": {"optimizer": "adamw"}})
    parse_config({"train": {"optimizer": "adamw"}, "regularizer": [{"kind": "weight_decay", "wd": 0.1}]})


def test_overrides_are_read_as_toml_and_index_lists():
    raw = {"train": {"epochs": 5}, "regularizer": [{"kind": "l2", "alpha": 0.1}]}
    out = apply_overrides(raw, ["train.epochs=3", "regularizer.0.alpha=1e-4", "data.name=mnist",
                                "model.hidden=[8, 4]"])
    assert out["train"]["epochs"] == 3
    assert out["regularizer"][0]["alpha"] == 1e-4
    assert out["data"]["name"] == "mnist"
    assert out["model"]["hidden"] == [8, 4]
    assert raw["train"]["epochs"] == 5  # the input is not modified
    with pytest.raises(ConfigError):
        apply_overrides(raw, ["regularizer.3.alpha=1"])
    with pytest.raises(ConfigError):
        apply_overrides(raw, ["no-equals-sign"])


def test_resolved_config_round_trips_through_toml_and_hash_is_stable():
    cfg = parse_config({"regularizer": [{"kind": "l2", "alpha": 0.1, "mask": ["*.weight"]}]})
    again = parse_config(tomllib.loads(config_to_toml(cfg)))
    assert again == cfg
    assert config_hash(again) == config_hash(cfg)
    assert config_hash(parse_config({"train": {"seed": 1}})) != config_hash(parse_config({}))


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nepochs = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_examples_parse(repo_root):
    import glob

    files = sorted(glob.glob(f"{repo_root}/examples/*.toml"))
    assert files
    for path in files:
        if "verify_" in path:
            continue
        load_config(path)
