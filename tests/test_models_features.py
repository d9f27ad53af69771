"""The Playground feature map, all seven inputs or a subset, against columns computed by hand."""

import math

import pytest
import torch

from reglab.config import parse_config
from reglab.models import PlaygroundFeatures, build_model, mlp

X = [[2.0, 3.0], [-1.0, 0.5], [0.0, -4.0]]


def hand_columns(x1: float, x2: float) -> dict[str, float]:
    return {"x1": x1, "x2": x2, "x1sq": x1 * x1, "x2sq": x2 * x2, "x1x2": x1 * x2,
            "sinx1": math.sin(x1), "sinx2": math.sin(x2)}


@pytest.mark.parametrize("names, canonical", [
    (None, ["x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2"]),
    (["sinx1", "x1x2"], ["x1x2", "sinx1"]),  # the canonical order, whatever the order given
    (["x2sq"], ["x2sq"]),
    (["sinx2", "x1", "x1sq"], ["x1", "x1sq", "sinx2"]),
])
def test_the_map_gives_the_chosen_columns_in_canonical_order(names, canonical):
    layer = PlaygroundFeatures(names)
    out = layer(torch.tensor(X, dtype=torch.float64))
    want = torch.tensor([[hand_columns(*row)[n] for n in canonical] for row in X], dtype=torch.float64)
    assert layer.names == tuple(canonical) and layer.out_features == len(canonical)
    assert out.shape == (len(X), len(canonical))
    torch.testing.assert_close(out, want, rtol=1e-15, atol=1e-15)


def test_all_seven_by_name_is_bit_identical_to_the_default():
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    every = ["x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2"]
    assert torch.equal(PlaygroundFeatures(every)(x), PlaygroundFeatures()(x))
    assert PlaygroundFeatures.out_features == PlaygroundFeatures().out_features == 7


@pytest.mark.parametrize("names", [[], ["x1", "x1"], ["x3"]])
def test_an_empty_repeated_or_unknown_subset_is_refused(names):
    with pytest.raises(ValueError, match="names must be distinct"):
        PlaygroundFeatures(names)


def test_feature_names_need_the_playground_map():
    with pytest.raises(ValueError, match="feature_names is for features='playground'"):
        mlp([2, 2], features="raw", feature_names=["x1"])


@pytest.mark.parametrize("kind", ["mlp", "logistic"])
def test_build_model_feeds_the_subset_to_the_first_layer(kind):
    names = ["x2", "x1x2", "sinx1"]
    cfg = parse_config({"data": {"name": "xor"}, "model": {"kind": kind, "hidden": [3], "activation": "tanh",
                                                           "features": "playground", "feature_names": names}}
                       if kind == "mlp" else
                       {"data": {"name": "xor"}, "model": {"kind": kind, "features": "playground",
                                                           "feature_names": names}})
    net = build_model(cfg.model, 2, 2, seed=5)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert linears[0].in_features == 3
    x = torch.tensor(X)
    h = torch.tensor([[hand_columns(*row)[n] for n in names] for row in X])
    for i, layer in enumerate(linears):
        h = h @ layer.weight.T + layer.bias
        if i < len(linears) - 1:
            h = torch.tanh(h)
    torch.testing.assert_close(net(x), h)
    # the weights are drawn as for a raw network of that many inputs, from the same seed
    raw = mlp([3, *([3] if kind == "mlp" else []), 2], "tanh" if kind == "mlp" else "linear",
              generator=torch.Generator().manual_seed(5))
    for a, b in zip(linears, [m for m in raw if isinstance(m, torch.nn.Linear)], strict=True):
        assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)


def test_the_playground_page_config_and_map_share_one_list_of_names():
    from reglab.config._schema import PLAYGROUND_FEATURES
    from reglab.playground import FEATURES

    assert PlaygroundFeatures().names == PLAYGROUND_FEATURES == FEATURES
