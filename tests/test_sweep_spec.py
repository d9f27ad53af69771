"""Sweep configs: axes, grid expansion, per-point validation, stable ids, the plan."""

from __future__ import annotations

import itertools

import pytest

from reglab.config import config_hash, parse_config
from reglab.errors import ConfigError
from reglab.sweep import axis_values, load_sweep, parse_sweep, plan_units

BASE = {"data": {"name": "digits", "n_train": 100}, "model": {"hidden": [8]}, "train": {"epochs": 1},
        "regularizer": [{"kind": "l2", "alpha": 1e-3}]}


def sweep(axes, overrides=(), base=BASE):
    return parse_sweep({**base, "sweep": axes}, overrides)


def test_log_and_linear_ranges_hit_their_end_points_exactly():
    assert axis_values("a", {"log": [1e-5, 1e-1], "num": 5}) == [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    values = axis_values("a", {"log": [1e-3, 1.0], "num": 7})
    ratios = [b / a for a, b in zip(values, values[1:])]
    assert ratios == pytest.approx([10 ** 0.5] * 6, rel=1e-10)  # geometric, √10 apart
    assert axis_values("a", {"linear": [0.0, 1.0], "num": 5}) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert axis_values("a", {"log": [0.01, 0.01], "num": 1}) == [0.01]
    assert axis_values("a", ["l2", "l1"]) == ["l2", "l1"]


@pytest.mark.parametrize("spec, words", [
    ({"log": [0.0, 1.0], "num": 3}, "lo > 0"),
    ({"log": [1e-3, 1.0]}, "'num'"),
    ({"log": [1e-3, 1.0], "num": 0}, "num must be an integer >= 1"),
    ({"log": [1e-3, 1.0], "linear": [0, 1], "num": 2}, "exactly one of"),
    ({"log": [1e-3], "num": 2}, "two numbers"),
    ([], "at least one value"),
    (0.1, "a list of values or a range"),
])
def test_bad_axes_name_the_key(spec, words):
    with pytest.raises(ConfigError) as info:
        axis_values("regularizer.0.alpha", spec)
    assert words in str(info.value) and "regularizer.0.alpha" in str(info.value)
    assert info.value.field == "sweep.regularizer.0.alpha"


def test_the_grid_is_the_product_first_axis_slowest_and_each_point_is_a_full_config():
    axes = {"regularizer.0.alpha": [0.0, 1e-2, 1e-1], "regularizer.0.kind": ["l2", "l1_prox"], "train.seed": [0, 1]}
    s = sweep(axes)
    assert len(s) == 12
    assert [tuple(p.values.values()) for p in s.points] == list(itertools.product(*axes.values()))
    point = s.points[7]  # alpha 1e-2, l1_prox, seed 1
    assert (point.config.regularizer[0].kind, point.config.regularizer[0].alpha, point.config.train.seed) == \
        ("l1_prox", 1e-2, 1)
    expected = parse_config({**BASE, "train": {"epochs": 1, "seed": 1},
                             "regularizer": [{"kind": "l1_prox", "alpha": 1e-2}]})
    assert point.id == config_hash(expected)  # the stable id is the resolved config's hash
    assert sweep(axes).id == s.id and sweep({"train.seed": [0, 1]}).id != s.id


def test_overrides_change_the_base_but_not_an_axis():
    s = sweep({"train.seed": [0, 1]}, ["train.epochs=3", "model.hidden=[4, 4]"])
    assert {p.config.train.epochs for p in s.points} == {3}
    assert s.points[0].config.model.hidden == [4, 4]
    with pytest.raises(ConfigError, match="is an axis of the sweep"):
        sweep({"train.seed": [0, 1]}, ["train.seed=3"])


def test_an_invalid_point_is_reported_before_anything_runs_naming_point_and_key():
    with pytest.raises(ConfigError) as info:
        sweep({"train.seed": [0, 1], "train.lr": [0.1, -1.0]})
    message = str(info.value)
    assert message.startswith("sweep point 2 (train.seed=0, train.lr=-1.0)")
    assert "train.lr" in message and info.value.field == "sweep.train.lr"
    with pytest.raises(ConfigError, match=r"sweep point 2 .*unknown key 'regularizer\[0\].alpha'"):
        sweep({"regularizer.0.kind": ["l2", "l2_ball"]})  # the ball has a radius, not an alpha


def test_duplicate_points_and_missing_table_are_errors():
    with pytest.raises(ConfigError, match="resolve to the same config"):
        sweep({"train.seed": [0, 0]})
    with pytest.raises(ConfigError, match=r"needs a \[sweep\] table"):
        parse_sweep(BASE)


def test_the_digits_example_is_the_documented_grid(repo_root):
    s = load_sweep(f"{repo_root}/examples/sweep_digits.toml")
    assert len(s) == 20
    assert sorted({p.values["regularizer.0.alpha"] for p in s.points}) == [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    assert {p.config.regularizer[0].kind for p in s.points} == {"l2", "l1_prox"}
    assert {p.config.train.seed for p in s.points} == {0, 1}
    units = plan_units(s.points)
    assert [(u.engine, len(u.members)) for u in units] == [("vectorized", 20)]


def test_the_plan_says_which_points_cannot_be_vectorized_and_why():
    s = sweep({"train.seed": [0, 1], "regularizer.0.kind": ["l2", "l1"]},
              base={**BASE, "regularizer": [{"kind": "l2", "alpha": 1e-3}, {"kind": "dropout", "p": 0.2}]})
    units = plan_units(s.points)
    assert [u.engine for u in units] == ["separate"] * 4
    assert all("dropout" in u.reason for u in units)
    es = sweep({"train.seed": [0, 1]}, base={**BASE, "regularizer": [{"kind": "early_stopping"}]})
    assert {u.reason for u in plan_units(es.points)} == {"early stopping ends each run at its own epoch"}
    mixed = sweep({"model.hidden": [[8], [6]], "train.seed": [0, 1, 2]})
    units = plan_units(mixed.points, max_members=2)
    assert [[m.index for m in u.members] for u in units] == [[0, 1], [2], [3, 4], [5]]
    assert [u.engine for u in units] == ["vectorized", "separate", "vectorized", "separate"]
