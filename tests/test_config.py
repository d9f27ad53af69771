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


# ----------------------------------------------------------------------------- stored configs read back equal

GENERATED = [
    {},
    {"name": 'quotes " and \\ backslash, ünïcode α', "data": {"name": "circle", "noise": 12.5, "n_points": 80}},
    {"data": {"name": "linear", "dim": 3, "spectrum": [3.0, 1.0, 1e-3], "whiten": True, "n_train": 20},
     "model": {"kind": "linear", "bias": False}, "train": {"dtype": "float64", "betas": [0.8, 0.99]}},
    {"data": {"name": "polynomial", "degree": 5, "noise_std": 0.0}, "model": {"features": "poly", "poly_degree": 5}},
    {"data": {"name": "mnist-full", "data_dir": "/tmp/idx", "verify_checksums": False}},
    {"data": {"name": "mnist"}, "augment": {"mode": "offline", "copies": 2, "rotation": 10.0},
     "train": {"optimizer": "adamw"}, "regularizer": [{"kind": "weight_decay", "wd": 1e-2, "mask": "all"}]},
    {"regularizer": [
        {"kind": "dropout", "p": [0.5, 0.25], "input_p": 0.2, "mode": "halving"},
        {"kind": "l1", "alpha": 1e-4, "convention": "nielsen", "mask": ["0.weight", "*.bias"]},
        {"kind": "l2", "alpha": 0.0},
        {"kind": "l1_prox", "alpha": 1e-300},
        {"kind": "l2_ball", "radius": float("inf")},
        {"kind": "max_norm", "max_norm": 3.5, "mask": "biases"},
        {"kind": "early_stopping", "monitor": "val_error", "patience": 0, "restore_best": False},
    ], "model": {"hidden": [16, 8]}},
    {"data": {"name": "linear", "dim": 2, "n": 20}, "model": {"kind": "linear"},
     "verify": {"alphas": [0.1, 1.0], "penalty": "l1", "mask": ["0.weight"], "reference_alpha": 0.5}},
]


def _stored_configs(repo_root):
    import glob

    files = sorted(glob.glob(f"{repo_root}/examples/*.toml"))
    assert len(files) >= 10
    return [load_config(path) for path in files] + [parse_config(raw) for raw in GENERATED]


def test_every_stored_config_reads_back_to_the_same_resolved_config(repo_root):
    for cfg in _stored_configs(repo_root):
        text = config_to_toml(cfg)
        again = parse_config(tomllib.loads(text))
        assert again == cfg, text
        assert again.model_dump() == cfg.model_dump()
        assert config_hash(again) == config_hash(cfg)
        assert config_to_toml(again) == text  # and writes the same text again


def test_stored_config_keeps_infinity_and_leaves_out_unset_values():
    cfg = parse_config({"regularizer": [{"kind": "l2_ball", "radius": float("inf")}]})
    stored = tomllib.loads(config_to_toml(cfg))
    assert stored["regularizer"] == [{"kind": "l2_ball", "mask": "weights", "radius": float("inf")}]
    assert "name" not in stored and "n_train" not in stored["data"] and "augment" not in stored
    assert set(stored["data"]) == {"name", "seed", "val_fraction", "test_fraction"}  # only the digits knobs
