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
        if "sweep_" in path:  # a base config plus a [sweep] table: read as a sweep, every point validated
            from reglab.sweep import load_sweep

            assert load_sweep(path).points
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

    from reglab.sweep import load_sweep

    files = sorted(glob.glob(f"{repo_root}/examples/*.toml"))
    assert len(files) >= 10
    runs = [load_config(path) for path in files if "sweep_" not in path]
    points = [point.config for path in files if "sweep_" in path for point in load_sweep(path).points]
    return runs + points + [parse_config(raw) for raw in GENERATED]


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


def test_generated_configs_read_back_to_the_same_resolved_config():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    finite = st.floats(min_value=1e-12, max_value=1e6, allow_nan=False, allow_infinity=False)
    probability = st.floats(min_value=0.0, max_value=0.99)
    mask = st.one_of(st.sampled_from(["weights", "all", "biases"]),
                     st.lists(st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8),
                              max_size=3))
    entry = st.one_of(
        st.fixed_dictionaries({"kind": st.sampled_from(["l2", "l1", "l1_prox"]), "alpha": finite, "mask": mask,
                               "convention": st.sampled_from(["reglab", "nielsen"])}),
        st.fixed_dictionaries({"kind": st.just("weight_decay"), "wd": finite}),
        st.fixed_dictionaries({"kind": st.just("l2_ball"), "radius": st.one_of(finite, st.just(float("inf")))}),
        st.fixed_dictionaries({"kind": st.just("dropout"), "p": st.one_of(probability, st.lists(probability,
                                                                                                   max_size=3))}),
        st.fixed_dictionaries({"kind": st.just("early_stopping"), "patience": st.integers(0, 10**6),
                               "min_delta": finite}),
    )
    data = st.one_of(
        st.fixed_dictionaries({"name": st.sampled_from(["circle", "xor", "gauss", "spiral"]),
                               "noise": st.floats(0.0, 50.0), "n_points": st.integers(10, 1000)}),
        st.fixed_dictionaries({"name": st.just("digits"), "val_fraction": st.floats(0.0, 0.5),
                               "n_train": st.integers(1, 10**6)}),
        st.fixed_dictionaries({"name": st.just("linear"), "dim": st.just(2),
                               "spectrum": st.lists(finite, min_size=2, max_size=2)}),
    )
    configs = st.fixed_dictionaries({"name": st.text(st.characters(codec="utf-8", exclude_characters="\x00")),
                                     "data": data, "regularizer": st.lists(entry, max_size=4),
                                     "train": st.fixed_dictionaries({"lr": finite, "seed": st.integers(0, 2**62)})})

    @settings(max_examples=60, deadline=None, database=None)
    @given(configs)
    def round_trip(raw):
        cfg = parse_config(raw)
        again = parse_config(tomllib.loads(config_to_toml(cfg)))
        assert again == cfg
        assert config_hash(again) == config_hash(cfg)

    round_trip()
