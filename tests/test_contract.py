"""The contract every regularizer keeps, run over all of them (and over a chain of them).

1. At zero strength (α = 0, radius = ∞, p = 0, patience huge) a regularizer changes
   nothing: training gives bit-identical parameters to training without it.
2. Masks are respected: only the selected tensors get a penalty gradient or are
   changed by a step; an empty mask is the same as no regularizer.
3. dtype (float64) and device (cpu) are kept.
4. The same seed gives the same numbers; state survives ``state_dict`` round trips.
5. Bad parameters are errors that name the field, in the dataclasses (when they are bound) and in the
   config; the invalid values are read from each config class's declared constraints.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
import torch

from reglab.config import DataConfig, parse_config
from reglab.data import load_dataset
from reglab.errors import ConfigError
from reglab.models import mlp
from reglab.regularize import (
    L1,
    L2,
    BindContext,
    Dropout,
    EarlyStopping,
    L1Prox,
    L2Ball,
    MaxNorm,
    Regularizer,
    WeightDecay,
    chain,
)
from reglab.train import Trainer

INF = math.inf


@dataclass(frozen=True)
class Case:
    make: Callable[..., Regularizer]  # make(mask=..., **setting)
    neutral: dict[str, Any]
    active: dict[str, Any]
    bad: list[tuple[dict[str, Any], str]]  # (setting, field the error must name)
    acts_on_parameters: bool = True
    beyond_masks_off: dict[str, Any] = field(default_factory=dict)  # switches off pieces a mask cannot reach


def _chain(mask="weights", *, p, alpha, wd, radius, patience, restore):
    return chain(Dropout(p=p), L1(alpha=alpha, mask=mask), L2(alpha=alpha, mask=mask),
                 WeightDecay(wd=wd, mask=mask), L1Prox(alpha=alpha, mask=mask), L2Ball(radius=radius, mask=mask),
                 MaxNorm(max_norm=radius, mask=mask), EarlyStopping(patience=patience, restore_best=restore))


def _no_mask(cls):
    return lambda mask="weights", **kw: cls(**kw)


CASES: dict[str, Case] = {
    "l2": Case(L2, {"alpha": 0.0}, {"alpha": 0.05},
               [({"alpha": -1.0}, "alpha"), ({"convention": "x"}, "convention")]),
    "weight_decay": Case(WeightDecay, {"wd": 0.0}, {"wd": 0.05}, [({"wd": -0.1}, "wd")]),
    "l1": Case(L1, {"alpha": 0.0}, {"alpha": 0.01},
               [({"alpha": -1e-3}, "alpha"), ({"convention": "n"}, "convention")]),
    "l1_prox": Case(L1Prox, {"alpha": 0.0}, {"alpha": 0.01},
                    [({"alpha": -1.0}, "alpha"), ({"alpha": math.nan}, "alpha")]),
    "l2_ball": Case(L2Ball, {"radius": INF}, {"radius": 1.0},
                    [({"radius": 0.0}, "radius"), ({"radius": -2.0}, "radius"), ({"radius": math.nan}, "radius")]),
    "max_norm": Case(MaxNorm, {"max_norm": INF}, {"max_norm": 0.3}, [({"max_norm": 0.0}, "max_norm")]),
    "dropout_inverted": Case(
        _no_mask(Dropout), {"p": 0.0, "mode": "inverted"}, {"p": 0.5, "mode": "inverted"},
        [({"p": 1.0}, "p"), ({"p": -0.1}, "p"), ({"p": (0.5, 1.5)}, "p"), ({"input_p": 1.0}, "input_p"),
         ({"mode": "random"}, "mode")],
        acts_on_parameters=False),
    "dropout_halving": Case(
        _no_mask(Dropout), {"p": 0.0, "mode": "halving"}, {"p": 0.5, "mode": "halving"},
        [({"p": 1.0, "mode": "halving"}, "p"), ({"mode": "half"}, "mode")],
        acts_on_parameters=False),
    "early_stopping": Case(
        _no_mask(EarlyStopping), {"patience": 10**9, "restore_best": False}, {"patience": 0, "min_delta": 1e9},
        [({"patience": -1}, "patience"), ({"min_delta": -0.1}, "min_delta"), ({"monitor": "train_loss"}, "monitor"),
         ({"mode": "max"}, "mode")],
        acts_on_parameters=False),
    "chain": Case(
        _chain, {"p": 0.0, "alpha": 0.0, "wd": 0.0, "radius": INF, "patience": 10**9, "restore": False},
        {"p": 0.3, "alpha": 0.01, "wd": 0.01, "radius": 0.5, "patience": 10**9, "restore": False},
        [({"p": 0.0, "alpha": -1.0, "wd": 0.0, "radius": INF, "patience": 1, "restore": True}, "alpha")],
        beyond_masks_off={"p": 0.0}),
}
NAMES = list(CASES)
ON_PARAMETERS = [n for n in NAMES if CASES[n].acts_on_parameters]


@functools.cache
def _splits():
    return load_dataset(DataConfig(name="digits", n_train=64))


def _cfg(dtype: str = "float32", seed: int = 0, epochs: int = 3):
    return parse_config({
        "model": {"hidden": [16]},
        "train": {"epochs": epochs, "batch_size": 16, "lr": 0.2, "momentum": 0.5, "seed": seed, "device": "cpu",
                  "dtype": dtype},
    })


def _train(reg: Regularizer, dtype: str = "float32", seed: int = 0) -> Trainer:
    """The loop of ``reglab.train.train`` without the store: epochs, early stop, finish."""
    cfg = _cfg(dtype, seed)
    trainer = Trainer(cfg, splits=_splits(), regularizer=reg)
    while trainer.epoch < cfg.train.epochs:
        result = trainer.run_epoch()
        assert result.diverged is None
        if result.stop:
            break
    trainer.finish()
    return trainer


@functools.cache
def _baseline(dtype: str = "float32") -> Trainer:
    return _train(chain(), dtype)


def _params(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {n: p.detach() for n, p in trainer.model.named_parameters()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _equal_state(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal_state(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_equal_state(x, y) for x, y in zip(a, b))
    return a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


def _history(trainer: Trainer) -> list[dict[str, float]]:
    return [{k: v for k, v in h.items() if k != "epoch_time"} for h in trainer.history]


# ----------------------------------------------------------------------------- 1. zero strength

@pytest.mark.parametrize("name", NAMES)
def test_zero_strength_changes_nothing(name):
    case = CASES[name]
    neutral = _train(case.make(**case.neutral))
    base = _baseline()
    assert _same(_params(neutral), _params(base))
    assert _history(neutral) == _history(base)
    assert torch.equal(neutral.generator.get_state(), base.generator.get_state())  # no extra draws


@pytest.mark.parametrize("name", NAMES)
def test_nonzero_strength_changes_something(name):
    """The harness above can fail: at a real strength the same training ends elsewhere."""
    case = CASES[name]
    assert not _same(_params(_train(case.make(**case.active))), _params(_baseline()))


# ----------------------------------------------------------------------------- 2. masks

def _big_model() -> torch.nn.Sequential:
    net = mlp([6, 5, 3], "tanh", generator=torch.Generator().manual_seed(0)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(10.0)  # outside every ball of the active settings
    return net


@pytest.mark.parametrize("name", ON_PARAMETERS)
def test_only_masked_parameters_are_touched(name):
    case = CASES[name]
    context = BindContext(n_train=10, generator=torch.Generator().manual_seed(0))
    reg = case.make(mask=("1.weight",), **case.active)
    model = chain(reg).wrap_model(_big_model(), context)  # only a chain's model transforms change the network
    bound = reg.bind(model, context)
    assert set(bound.penalized) == {"1.weight"}
    params = dict(model.named_parameters())
    before = {n: p.detach().clone() for n, p in params.items()}
    touched = False
    penalty = bound.penalty()
    if penalty is not None:
        grads = torch.autograd.grad(penalty, list(params.values()), allow_unused=True)
        for (n, _), g in zip(params.items(), grads):
            if n != "1.weight":
                assert g is None or not g.any(), n
        touched = bool(grads[list(params).index("1.weight")].abs().sum() > 0)
    bound.pre_step(0.5)
    bound.post_step(0.5)
    for n, p in params.items():
        if n != "1.weight":
            assert torch.equal(p, before[n]), n
    touched = touched or not torch.equal(params["1.weight"], before["1.weight"])
    assert touched


@pytest.mark.parametrize("name", ON_PARAMETERS)
def test_an_empty_mask_is_no_regularizer(name):
    case = CASES[name]
    setting = {**case.active, **case.beyond_masks_off}
    assert _same(_params(_train(case.make(mask=(), **setting))), _params(_baseline()))


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ON_PARAMETERS])
def test_unit_and_callback_pieces_select_no_parameters(name):
    case = CASES[name]
    reg = case.make(**case.active)
    assert not hasattr(reg, "mask")  # model transforms and callbacks have no mask
    context = BindContext(generator=torch.Generator().manual_seed(0))
    model = _big_model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    wrapped = chain(reg).wrap_model(model, context)
    assert reg.bind(wrapped, context).penalized == []
    bound = chain(reg).bind(wrapped, context)
    assert bound.penalized == [] and bound.penalty() is None and bound.steps.pieces == []
    bound.pre_step(0.5)
    bound.post_step(0.5)
    assert _same({n: p.detach() for n, p in wrapped.named_parameters()}, before)


# ----------------------------------------------------------------------------- 3. dtype and device

@pytest.mark.parametrize("name", NAMES)
def test_dtype_and_device_are_kept(name):
    case = CASES[name]
    trainer = _train(case.make(**case.active), dtype="float64")
    for n, p in trainer.model.named_parameters():
        assert p.dtype == torch.float64 and p.device.type == "cpu", n
    x = trainer.data["train"].x[:4]
    trainer.model.train()
    assert trainer.model(x).dtype == torch.float64
    penalty = trainer.reg.penalty()
    assert penalty is None or penalty.dtype == torch.float64
    assert all(math.isfinite(h["train_loss"]) for h in trainer.history)


# ----------------------------------------------------------------------------- 4. determinism and state

@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_the_same_numbers(name):
    case = CASES[name]
    a, b = _train(case.make(**case.active)), _train(case.make(**case.active))
    assert _same(_params(a), _params(b))
    assert _history(a) == _history(b)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trips(name):
    case = CASES[name]
    trained = _train(case.make(**case.active))
    state = trained.reg.state_dict()
    fresh = Trainer(_cfg(), splits=_splits(), regularizer=case.make(**case.active))
    fresh.reg.load_state_dict(state)
    assert _equal_state(fresh.reg.state_dict(), state)
    assert fresh.reg.describe()["name"] == trained.reg.describe()["name"]


# ----------------------------------------------------------------------------- 5. bad parameters

BAD = [(name, setting, field_) for name in NAMES for setting, field_ in CASES[name].bad]


@pytest.mark.parametrize(("name", "setting", "field_"), BAD, ids=[f"{n}-{f}" for n, _, f in BAD])
def test_bad_parameters_are_errors_that_name_the_field(name, setting, field_):
    case = CASES[name]
    reg = case.make(**{**case.active, **setting})  # constructors only store their arguments ...
    with pytest.raises(ConfigError, match=field_):  # ... the schema checks them when work starts
        Trainer(_cfg(), splits=_splits(), regularizer=reg)


BAD_CONFIG = [
    ({"kind": "l1", "alpha": -1.0}, "alpha"),
    ({"kind": "l1_prox", "alpha": -1.0}, "alpha"),
    ({"kind": "l1", "alpha": 0.1, "convention": "torch"}, "convention"),
    ({"kind": "l2_ball", "radius": 0.0}, "radius"),
    ({"kind": "max_norm", "max_norm": -3.0}, "max_norm"),
    ({"kind": "dropout", "p": 1.0}, "p"),
    ({"kind": "dropout", "p": [0.5, -0.5]}, "p"),
    ({"kind": "dropout", "input_p": 1.2}, "input_p"),
    ({"kind": "dropout", "mode": "standard"}, "mode"),
    ({"kind": "early_stopping", "patience": -1}, "patience"),
    ({"kind": "early_stopping", "min_delta": -1.0}, "min_delta"),
    ({"kind": "early_stopping", "monitor": "test_loss"}, "monitor"),
    ({"kind": "early_stopping", "mode": "max"}, "mode"),
    ({"kind": "dropout", "p": 0.5, "mask": "weights"}, "mask"),
    ({"kind": "l2_ball"}, "radius"),
]


@pytest.mark.parametrize(("entry", "key"), BAD_CONFIG, ids=[f"{e['kind']}-{k}" for e, k in BAD_CONFIG])
def test_bad_config_values_name_the_key(entry, key):
    with pytest.raises(ConfigError, match=rf"regularizer\[1\]\.{key}\b"):
        parse_config({"regularizer": [{"kind": "l2", "alpha": 0.1}, entry]})


# ----------------------------------------------------------------------------- 5b. bad values read from the schemas

def _constraints(annotation: Any, metadata: list[Any]) -> tuple[Any, list[Any]]:
    """The scalar type and the annotated_types constraints of a field (inside a Union / Annotated too)."""
    import typing

    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        inner = [c for a in args[1:] for c in getattr(a, "metadata", [a])]  # a Field(...) holds its constraints
        return _constraints(args[0], [*metadata, *inner])
    if typing.get_origin(annotation) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        scalar = [a for a in args if a is not type(None)]
        return _constraints(scalar[0], metadata)
    return annotation, metadata


def _invalid_values(info) -> list[Any]:
    """Values that break a field's declared constraints: one past each bound, ∞/NaN, an unknown literal."""
    import typing

    import annotated_types as at

    kind, metadata = _constraints(info.annotation, list(info.metadata))
    if typing.get_origin(kind) is typing.Literal:
        return ["no-such-" + "-".join(map(str, typing.get_args(kind)))[:20], 7]
    if kind is bool:
        return ["perhaps"]
    if kind not in (int, float):
        return []
    bad: list[Any] = ["many"]
    allow_inf = any(getattr(m, "allow_inf_nan", False) for m in metadata)
    for m in metadata:
        if isinstance(m, at.Ge):
            bad.append(m.ge - (1 if kind is int else 1e-3))
        elif isinstance(m, at.Gt):
            bad.append(m.gt)
        elif isinstance(m, at.Le):
            bad.append(m.le + 1)
        elif isinstance(m, at.Lt):
            bad.append(m.lt)
    if kind is float:
        bad.append(math.nan)
        if not allow_inf:
            bad.append(INF)
    return bad


def _valid_entry(config_class) -> dict[str, Any]:
    """A valid entry: the defaults, and for required fields a value inside the constraints."""
    entry: dict[str, Any] = {"kind": config_class.kind_name()}
    for name, info in config_class.model_fields.items():
        if name != "kind" and info.is_required():
            entry[name] = 0.5
    config_class.model_validate(entry)
    return entry


def _schema_bad_cases() -> list[tuple[str, str, Any]]:
    from reglab.regularize import REGISTRY

    cases = []
    for kind, config_class in REGISTRY.items():
        for name, info in config_class.model_fields.items():
            if name == "kind":
                continue
            cases.extend((kind, name, value) for value in _invalid_values(info))
        if "mask" in config_class.model_fields:
            cases.extend([(kind, "mask", "weightz"), (kind, "mask", 3)])
    return cases


SCHEMA_BAD = _schema_bad_cases()


def test_the_schema_cases_cover_every_registered_kind_and_field():
    from reglab.regularize import REGISTRY

    covered = {(k, f) for k, f, _ in SCHEMA_BAD}
    for kind, config_class in REGISTRY.items():
        for name in config_class.model_fields:
            if name != "kind":
                assert (kind, name) in covered, (kind, name)
    assert len(SCHEMA_BAD) > 40


@pytest.mark.parametrize(("kind", "field_", "value"), SCHEMA_BAD,
                         ids=[f"{k}-{f}-{v!r}" for k, f, v in SCHEMA_BAD])
def test_values_outside_the_schema_are_one_error_naming_the_field(kind, field_, value):
    from reglab.regularize import REGISTRY

    config_class = REGISTRY[kind]
    entry = {**_valid_entry(config_class), field_: value}
    with pytest.raises(ConfigError) as err:  # in a config file ...
        parse_config({"regularizer": [{"kind": "l2", "alpha": 0.1}, entry]})
    message = str(err.value)
    assert message.count(f"regularizer[1].{field_}") == 1, message
    assert message.count(";") == 0, message  # one problem, one error
    settings = {k: (tuple(v) if isinstance(v, list) else v) for k, v in entry.items() if k != "kind"}
    piece = config_class.piece(**settings)
    with pytest.raises(ConfigError, match=rf"{kind}\.{field_}\b"):  # ... and from Python, through the same schema
        Trainer(_cfg(), splits=_splits(), regularizer=piece)


def test_a_piece_is_validated_once_and_a_config_built_piece_not_again(monkeypatch):
    from reglab.regularize import L2Config

    calls = []
    original = L2Config.validate_piece.__func__
    monkeypatch.setattr(L2Config, "validate_piece", classmethod(lambda cls, p: calls.append(p) or original(cls, p)))
    direct = L2(alpha=0.1)
    assert calls == []  # construction stores the arguments
    net = mlp([4, 3, 2])
    direct.bind(net)
    direct.bind(net)
    assert calls == [direct]  # checked when first bound, then remembered
    built = parse_config({"regularizer": [{"kind": "l2", "alpha": 0.1}]}).regularizer[0].build()
    built.bind(net)
    assert calls == [direct] and built == direct  # the config checked it already
