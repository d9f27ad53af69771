"""``[model] feature_names``: a subset of the Playground inputs, validated, canonical, out of old hashes."""

import tomllib

import pytest

from reglab.config import apply_overrides, config_hash, config_to_toml, parse_config
from reglab.errors import ConfigError

ALLOWED = "x1, x2, x1sq, x2sq, x1x2, sinx1, sinx2"


def model(**keys):
    return {"data": {"name": "xor"}, "model": keys}


@pytest.mark.parametrize("keys, field, words", [
    ({"feature_names": ["x1"]}, "model.feature_names", "is for model.features = 'playground' (features is 'raw')"),
    ({"features": "poly", "feature_names": ["x1"]}, "model.feature_names", "(features is 'poly')"),
    ({"kind": "cnn", "feature_names": ["x1"]}, "model.feature_names", "is for model.features = 'playground'"),
    ({"features": "playground", "feature_names": []}, "model.feature_names", f"name at least one of {ALLOWED}"),
    ({"features": "playground", "feature_names": ["sinx1", "x2", "sinx1"]}, "model.feature_names",
     f"names sinx1 more than once; each of {ALLOWED} at most once"),
    ({"features": "playground", "feature_names": ["x1", "x1^2"]}, "model.feature_names[1]",
     "Input should be 'x1', 'x2', 'x1sq', 'x2sq', 'x1x2', 'sinx1' or 'sinx2'"),
    ({"features": "playground", "feature_names": "x1"}, "model.feature_names", "valid list"),
])
def test_a_bad_subset_is_a_config_error_naming_the_field(keys, field, words):
    with pytest.raises(ConfigError) as err:
        parse_config(model(**keys))
    assert err.value.field == field
    assert field in str(err.value) and words in str(err.value)


def test_a_subset_is_stored_in_canonical_order_and_reads_back_equal():
    cfg = parse_config(model(features="playground", feature_names=["sinx2", "x1", "x1x2"]))
    assert cfg.model.feature_names == ["x1", "x1x2", "sinx2"]
    assert parse_config(tomllib.loads(config_to_toml(cfg))) == cfg
    same = parse_config(model(features="playground", feature_names=["x1", "x1x2", "sinx2"]))
    assert config_hash(same) == config_hash(cfg)
    assert config_hash(cfg) != config_hash(parse_config(model(features="playground")))


def test_an_unset_subset_stays_out_of_the_dump_so_old_hashes_hold():
    cfg = parse_config(model(features="playground"))
    assert cfg.model.feature_names is None
    assert "feature_names" not in cfg.model_dump(mode="json")["model"]
    assert "feature_names" not in cfg.model_dump()["model"]
    assert "feature_names" not in config_to_toml(cfg)


def test_a_subset_can_be_set_from_the_command_line():
    raw = apply_overrides(model(features="playground"), ['model.feature_names=["x2", "x1sq"]'])
    assert parse_config(raw).model.feature_names == ["x2", "x1sq"]
