"""model.init: each scheme draws from the distribution it states, seeded, and "default" is torch's own draw.

Moments are checked against the stated distribution with tolerances from the
sample size (5 standard errors), and the whole sample with a Kolmogorov–Smirnov
test against the exact distribution (scipy), so a wrong scale, a wrong family
(uniform for normal) or a forgotten bias would each fail.
"""

import math

import pytest
import torch
from scipy import stats
from torch import nn

from reglab.config import ModelConfig, parse_config
from reglab.errors import ConfigError
from reglab.models import INITS, build_model, fans, initialize, mlp


def _weight_dist(scheme, fan_in, fan_out):
    if scheme == "default":
        b = 1 / math.sqrt(fan_in)
        return stats.uniform(-b, 2 * b)
    if scheme == "xavier":
        b = math.sqrt(6 / (fan_in + fan_out))
        return stats.uniform(-b, 2 * b)
    std = {"normal": 1.0, "nielsen": 1 / math.sqrt(fan_in), "kaiming": math.sqrt(2 / fan_in)}[scheme]
    return stats.norm(0, std)


def _bias_dist(scheme, fan_in):
    if scheme == "default":
        return _weight_dist("default", fan_in, 0)
    if scheme in ("normal", "nielsen"):
        return stats.norm(0, 1)
    return None  # zeros


def _check_sample(values, dist):
    x = values.detach().double().flatten().numpy()
    n = x.size
    mean, var = dist.mean(), dist.var()
    mu4 = dist.moment(4)  # about 0 = about the mean here: every distribution is centred
    assert abs(x.mean() - mean) <= 5 * math.sqrt(var / n)
    assert abs(x.var() - var) <= 5 * math.sqrt((mu4 - var**2) / n)
    assert stats.kstest(x, dist.cdf).pvalue > 1e-4


@pytest.mark.parametrize("scheme", INITS)
@pytest.mark.parametrize("layer", [nn.Linear(300, 200), nn.Conv2d(3, 400, 5)], ids=["linear", "conv"])
def test_every_scheme_draws_the_stated_distribution(scheme, layer):
    initialize(nn.Sequential(layer), scheme, torch.Generator().manual_seed(1))
    fan_in, fan_out = fans(layer.weight)
    assert (fan_in, fan_out) == ((300, 200) if isinstance(layer, nn.Linear) else (75, 10000))
    _check_sample(layer.weight, _weight_dist(scheme, fan_in, fan_out))
    bias = _bias_dist(scheme, fan_in)
    if bias is None:
        assert torch.count_nonzero(layer.bias) == 0
    else:
        _check_sample(layer.bias, bias)


def test_normal_biases_are_standard_normal_on_a_wide_layer():
    layer = nn.Linear(2, 20000)
    initialize(layer, "nielsen", torch.Generator().manual_seed(2))
    _check_sample(layer.bias, stats.norm(0, 1))
    _check_sample(layer.weight, stats.norm(0, 1 / math.sqrt(2)))


def test_default_is_torch_default_redrawn_from_the_generator():
    """The documented draw order: per layer, weight then bias, U(±1/√fan_in), from one generator."""
    net = mlp([5, 4, 3], "tanh", generator=torch.Generator().manual_seed(7))
    gen = torch.Generator().manual_seed(7)
    for layer in (net[1], net[3]):
        b = 1 / math.sqrt(layer.in_features)
        assert torch.equal(layer.weight, torch.empty(layer.weight.shape).uniform_(-b, b, generator=gen))
        assert torch.equal(layer.bias, torch.empty(layer.bias.shape).uniform_(-b, b, generator=gen))


def test_default_init_numbers_are_unchanged_by_the_init_option():
    """model.init = 'default' gives the very numbers of a config that does not mention init."""
    a = build_model(ModelConfig(hidden=[16, 8]), 64, 10, seed=3)
    b = build_model(ModelConfig(hidden=[16, 8], init="default"), 64, 10, seed=3)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name


@pytest.mark.parametrize("kind", ["mlp", "linear", "cnn"])
@pytest.mark.parametrize("scheme", INITS)
def test_init_is_seeded_and_leaves_the_global_generator_alone(kind, scheme):
    extra = {"channels": [3], "kernel_size": 3, "hidden": [5]} if kind == "cnn" else {}
    cfg = ModelConfig(kind=kind, init=scheme, **extra)
    state = torch.get_rng_state()
    one, two = (build_model(cfg, 64, 10, seed=4).state_dict() for _ in range(2))
    other = build_model(cfg, 64, 10, seed=5).state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(one[k], two[k]) for k in one)
    assert not torch.equal(one[next(iter(one))], other[next(iter(other))])
    pinned = build_model(cfg.model_copy(update={"init_seed": 4}), 64, 10, seed=99).state_dict()
    assert all(torch.equal(one[k], pinned[k]) for k in one)


def test_schemes_differ_from_each_other():
    weights = {s: build_model(ModelConfig(init=s, hidden=[30]), 784, 10, seed=0)[1].weight.detach() for s in INITS}
    stds = {s: float(w.std()) for s, w in weights.items()}
    assert stds["normal"] == pytest.approx(1.0, rel=0.02)
    assert stds["nielsen"] == pytest.approx(1 / 28, rel=0.02)
    assert stds["kaiming"] == pytest.approx(math.sqrt(2) / 28, rel=0.02)
    assert stds["xavier"] == pytest.approx(math.sqrt(2 / 814), rel=0.02)
    assert stds["default"] == pytest.approx(1 / (28 * math.sqrt(3)), rel=0.02)


def test_init_config_values():
    assert parse_config({"model": {"init": "nielsen"}}).model.init == "nielsen"
    with pytest.raises(ConfigError, match="model.init"):
        parse_config({"model": {"init": "glorot"}})
    with pytest.raises(ValueError, match="generator"):
        mlp([3, 2], init="normal")
    with pytest.raises(ValueError, match="init must be one of"):
        initialize(nn.Linear(2, 2), "zeros", torch.Generator())
