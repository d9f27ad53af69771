"""model.kind = "cnn" (LeNet-style) and model.kind = "python" (the user's own module)."""

import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reglab.config import ModelConfig, parse_config
from reglab.errors import ConfigError
from reglab.models import build_model, cnn, cnn_geometry, load_factory
from reglab.regularize import select_parameters
from reglab.train import Trainer, load_run

# ---------------------------------------------------------------- cnn


def _reference_forward(net, x, pool):
    """Nielsen's ConvPoolLayer order, written out: conv, max-pool, *then* the activation; then dense."""
    convs = [m for m in net if isinstance(m, nn.Conv2d)]
    dense = [m for m in net if isinstance(m, nn.Linear)]
    h = x.reshape(len(x), 1, 8, 8)
    for c in convs:
        h = torch.sigmoid(F.max_pool2d(F.conv2d(h, c.weight, c.bias), pool))
    h = h.flatten(1)
    for d in dense[:-1]:
        h = torch.sigmoid(h @ d.weight.T + d.bias)
    return h @ dense[-1].weight.T + dense[-1].bias


def test_cnn_is_the_lenet_function_on_images_and_flat_inputs():
    net = cnn((1, 8, 8), 10, channels=[3, 4], kernel_size=2, pool=2, hidden=[7], activation="sigmoid",
              generator=torch.Generator().manual_seed(0)).double()
    x = torch.randn(6, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    expected = _reference_forward(net, x, 2)
    torch.testing.assert_close(net(x), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(net(x.flatten(1)), expected, rtol=1e-12, atol=1e-12)
    # 8 → conv 2 → 7 → pool → 3 → conv 2 → 2 → pool → 1: 4 channels × 1 × 1 into the dense layer
    assert net[-3].in_features == 4


def test_cnn_geometry_by_hand():
    assert cnn_geometry((1, 28, 28), [20, 40], 5, 2) == [12, 12, 4, 4]
    assert cnn_geometry((1, 8, 8), [6], 3, 2) == [3, 3]
    with pytest.raises(ConfigError, match="model.channels") as info:
        cnn_geometry((1, 8, 8), [6, 6], 5, 2)  # 8 → 2 → nothing
    assert info.value.field == "model.channels"


def test_cnn_config_fills_nielsens_defaults_and_builds_from_a_flat_size():
    cfg = ModelConfig(kind="cnn", hidden=[100])
    assert (cfg.channels, cfg.kernel_size, cfg.pool) == ([20], 5, 2)
    net = build_model(cfg, 784, 10)
    assert [type(m).__name__ for m in net] == ["ToImages", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear",
                                              "ReLU", "Linear"]
    assert net[5].in_features == 20 * 12 * 12
    assert build_model(cfg, (1, 28, 28), 10)[5].in_features == 20 * 12 * 12


def test_cnn_masks_penalize_conv_and_dense_weights_only():
    net = build_model(ModelConfig(kind="cnn", channels=[3, 4], kernel_size=2, hidden=[6]), 64, 10)
    net = nn.Sequential(*net, nn.BatchNorm1d(10))  # a normalisation layer is never penalized by default
    assert [n for n, _ in select_parameters(net, "weights")] == ["1.weight", "4.weight", "8.weight", "10.weight"]
    assert [n for n, _ in select_parameters(net, "biases")] == ["1.bias", "4.bias", "8.bias", "10.bias"]


@pytest.mark.parametrize("data", [{"name": "circle"}, {"name": "linear"}, {"name": "polynomial"}])
def test_cnn_on_a_non_image_data_set_is_a_config_error(data):
    with pytest.raises(ConfigError, match="image data set"):
        parse_config({"data": data, "model": {"kind": "cnn"}})


def test_cnn_on_inputs_that_are_not_images_is_a_config_error():
    with pytest.raises(ConfigError, match="image data set") as info:
        build_model(ModelConfig(kind="cnn"), 2, 2)
    assert info.value.field == "model.kind"
    with pytest.raises(ConfigError, match="image data set"):
        build_model(ModelConfig(kind="cnn"), 50, 2)


@pytest.mark.parametrize("model, needle", [
    ({"channels": [4]}, "model.channels is for model.kind = 'cnn'"),
    ({"kind": "mlp", "pool": 3}, "model.pool"),
    ({"kind": "cnn", "features": "poly"}, "model.features"),
    ({"kind": "cnn", "channels": [0]}, "model.channels"),
    ({"kind": "python"}, "model.factory"),
    ({"kind": "mlp", "factory": "a.b:c"}, "model.factory is for"),
    ({"kind": "python", "factory": "no colon"}, "model.factory"),
])
def test_model_config_rejects_knobs_of_another_kind(model, needle):
    with pytest.raises(ConfigError, match=needle):
        parse_config({"model": model})


def test_resolved_cnn_config_round_trips(tmp_path):
    from reglab.config import config_to_toml, load_config

    cfg = parse_config({"model": {"kind": "cnn", "channels": [4], "init": "nielsen"}})
    (tmp_path / "c.toml").write_text(config_to_toml(cfg))
    assert load_config(tmp_path / "c.toml") == cfg


# ---------------------------------------------------------------- python factory

MODULE = """
import torch
from torch import nn

calls = []

def net(n_in, n_out):
    calls.append((n_in, n_out))
    return nn.Sequential(nn.Flatten(), nn.Linear(n_in, 7), nn.Tanh(), nn.Linear(7, n_out))

def not_a_module(n_in, n_out):
    return [nn.Linear(n_in, n_out)]

def broken(n_in, n_out):
    raise RuntimeError("no GPU in the factory")

def frozen(n_in, n_out):
    layer = nn.Linear(n_in, n_out)
    layer.requires_grad_(False)
    return layer

NOT_CALLABLE = 3
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    name = f"user_models_{abs(hash(str(tmp_path)))}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(MODULE))
    (tmp_path / "fails_on_import.py").write_text("raise ImportError('needs a package that is not installed')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for mod in (name, "fails_on_import"):
        sys.modules.pop(mod, None)


def test_python_factory_is_called_with_feature_and_output_counts(user_module):
    cfg = ModelConfig(kind="python", factory=f"{user_module}:net")
    state = torch.get_rng_state()
    one = build_model(cfg, (1, 8, 8), 10, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert sys.modules[user_module].calls == [(64, 10)]
    assert one(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    two, other = build_model(cfg, 64, 10, seed=3), build_model(cfg, 64, 10, seed=4)
    assert torch.equal(one[1].weight, two[1].weight)
    assert not torch.equal(one[1].weight, other[1].weight)
    nielsen = build_model(cfg.model_copy(update={"init": "nielsen"}), 64, 10, seed=3)
    assert float(nielsen[1].weight.detach().std()) == pytest.approx(1 / 8, rel=0.15)
    assert float(nielsen[1].bias.detach().abs().max()) > 1 / 8  # N(0, 1) biases, not torch's U(±1/8)


@pytest.mark.parametrize("attr, needle", [
    ("not_a_module", "returned a list, not a torch.nn.Module"),
    ("broken", "raised RuntimeError .*no GPU in the factory"),
    ("frozen", "without trainable parameters"),
    ("NOT_CALLABLE", "is a int, not a callable"),
    ("missing", "has no attribute 'missing'"),
])
def test_python_factory_errors_name_the_field(user_module, attr, needle):
    with pytest.raises(ConfigError, match=needle) as info:
        build_model(ModelConfig(kind="python", factory=f"{user_module}:{attr}"), 64, 10)
    assert info.value.field == "model.factory"


@pytest.mark.parametrize("spec, needle", [
    ("fails_on_import:net", "cannot be imported .*ImportError.*not installed"),
    ("no_such_module_anywhere:net", "cannot be imported .*ModuleNotFoundError"),
])
def test_python_factory_import_errors(user_module, spec, needle):
    with pytest.raises(ConfigError, match=needle):
        load_factory(spec)


def test_python_model_trains_and_reloads(user_module, tmp_path):
    from reglab.train import train

    cfg = parse_config({"model": {"kind": "python", "factory": f"{user_module}:net"},
                        "train": {"epochs": 1}, "regularizer": [{"kind": "l2", "alpha": 1e-3}]})
    assert Trainer(cfg).penalized == ["1.weight", "3.weight"]
    result = train(cfg, out=tmp_path / "runs")
    model, splits, loss_fn = load_run(result.run_id, tmp_path / "runs")
    with torch.no_grad():
        loss = float(loss_fn(model(splits.train.x), splits.train.y))
    assert loss == pytest.approx(result.final["train_loss"], rel=1e-5)
