"""Property: whatever config and ``--set`` values a user gives, ``reglab train --json`` either
trains (a completed or diverged run, exit 0 or 3, one JSON run document with that status) or
refuses cleanly (exit 2, one JSON error document, no traceback). Nothing else.

Generated values mix valid ones with the kinds of bad input users type: wrong types, NaN and
Inf, negatives, zeros, unknown keys and names, rich markup. Values that set the cost of a run
(epochs, sizes, data set) are drawn from small sets so every example trains in well under a
second.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import tomli_w
from _cli_harness import assert_no_traceback, error_document, invoke, run_document
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

WEIRD_TEXT = st.sampled_from(["", " ", "[/b]", "[red]x", "[[regularizer]]", "ümlaut", "a=b", "1e3", "null",
                              "weights", "all", "biases", "\\", '"'])
FLOATS = st.one_of(
    st.sampled_from([0.0, -0.0, 1e-3, 0.1, 1.0, -1.0, 1e8, 1e300, -1e300, 5e-324,
                     math.inf, -math.inf, math.nan]),
    st.floats(-10, 10, allow_nan=False),
)
SMALL_INTS = st.sampled_from([-5, -1, 0, 1, 2, 3, 8])
ANY_SCALAR = st.one_of(FLOATS, SMALL_INTS, st.booleans(), WEIRD_TEXT)

# key -> (valid values, bad values); cost-setting keys only ever take small values
KEYS: dict[str, tuple[st.SearchStrategy, st.SearchStrategy]] = {
    "data.name": (st.sampled_from(["digits", "circle", "xor", "gauss", "spiral", "polynomial", "linear"]),
                  st.sampled_from(["mnist-full", "imagenet", "[/x]", 3, ""])),
    "data.seed": (st.integers(0, 5), st.sampled_from([-1, 1.5, "x"])),
    "data.n_train": (st.sampled_from([1, 2, 30, 80]), st.sampled_from([-1, 0, 1.5, "ten"])),
    "data.val_fraction": (st.floats(0, 0.5), FLOATS),
    "data.test_fraction": (st.floats(0.05, 0.4), FLOATS),
    "data.noise": (st.floats(0, 50), FLOATS),
    "data.degree": (st.integers(0, 5), SMALL_INTS),
    "data.noise_std": (st.floats(0, 2), FLOATS),
    "data.spectrum": (st.lists(st.floats(0.01, 10), min_size=10, max_size=10), st.lists(FLOATS, max_size=3)),
    "model.kind": (st.sampled_from(["mlp", "linear", "logistic"]), st.sampled_from(["cnn", ""])),
    "model.hidden": (st.lists(st.integers(1, 8), max_size=2),
                     st.one_of(st.lists(SMALL_INTS, min_size=1, max_size=3), SMALL_INTS, WEIRD_TEXT)),
    "model.activation": (st.sampled_from(["relu", "tanh", "sigmoid", "linear"]), st.just("gelu")),
    "model.features": (st.sampled_from(["raw", "playground", "poly"]), st.just("fourier")),
    "model.bias": (st.booleans(), WEIRD_TEXT),
    "model.init_seed": (st.integers(0, 5), st.just(-1)),
    "train.epochs": (st.sampled_from([1, 2]), st.sampled_from([-1, 0, 1.5, "one", math.nan])),
    "train.seed": (st.integers(0, 5), st.just(-3)),
    "train.batch_size": (st.sampled_from([1, 16, 64, 10_000]), st.sampled_from([-1, 0, 2.5, "big"])),
    "train.lr": (st.sampled_from([1e-4, 0.01, 0.1, 1.0, 10.0, 1e8, 1e300, 5e-324]), FLOATS),
    "train.optimizer": (st.sampled_from(["sgd", "adam"]), st.sampled_from(["adamw", "rmsprop", "[/b]"])),
    "train.momentum": (st.sampled_from([0.0, 0.5, 0.9, 0.999]), FLOATS),
    "train.nesterov": (st.just(False), st.just(True)),
    "train.betas": (st.lists(st.floats(0, 0.999), min_size=2, max_size=2), st.lists(FLOATS, max_size=3)),
    "train.loss": (st.sampled_from(["auto", "cross_entropy", "half_mse", "mse"]), st.just("hinge")),
    "train.dtype": (st.sampled_from(["float32", "float64"]), st.just("float16")),
    "train.checkpoint": (st.booleans(), ANY_SCALAR),
    "train.checkpoint_every": (st.integers(1, 3), st.sampled_from([-1, 0])),
    "train.epochz": (st.nothing(), ANY_SCALAR),
    "trian.epochs": (st.nothing(), ANY_SCALAR),
}
REG_KINDS = ["l2", "weight_decay", "l1", "l1_prox", "l2_ball", "max_norm", "dropout", "early_stopping"]
STRENGTH = st.sampled_from([0.0, 1e-4, 1e-2, 1.0, 1e3])
REG_VALID = {"l2": {"alpha": STRENGTH}, "l1": {"alpha": STRENGTH}, "l1_prox": {"alpha": STRENGTH},
             "weight_decay": {"wd": STRENGTH}, "l2_ball": {"radius": st.sampled_from([0.1, 1.0, 10.0, math.inf])},
             "max_norm": {"max_norm": st.sampled_from([0.5, 3.0, math.inf])},
             "dropout": {"p": st.one_of(st.floats(0, 0.9), st.lists(st.floats(0, 0.9), min_size=1, max_size=2))},
             "early_stopping": {"patience": st.integers(0, 3)}}
REG_FIELDS = {"alpha": FLOATS, "wd": FLOATS, "radius": FLOATS, "max_norm": FLOATS, "p": FLOATS,
              "input_p": FLOATS, "patience": SMALL_INTS, "mask": st.one_of(WEIRD_TEXT, st.lists(WEIRD_TEXT, max_size=2)),
              "convention": st.sampled_from(["reglab", "nielsen", "torch"]), "mode": WEIRD_TEXT}


def value_for(draw, key: str) -> object:
    """Mostly valid values (3 in 4), so that runs train as often as they are refused."""
    valid, bad = KEYS[key]
    if key in ("train.epochz", "trian.epochs") or draw(st.integers(0, 3)) == 0:
        return draw(bad)
    return draw(valid)


BASE = {
    "data": {"name": "digits", "n_train": 80},
    "model": {"hidden": [4]},
    "train": {"epochs": 1, "batch_size": 32, "lr": 0.1},
}


def _toml_literal(value: object) -> str:
    """How a user would type ``value`` after ``--set key=``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value == math.inf else "-inf" if value == -math.inf
                                                else repr(value))
    if isinstance(value, list):
        return "[" + ", ".join(_toml_literal(v) for v in value) + "]"
    if isinstance(value, str):
        return value if value and value.isidentifier() else json.dumps(value)  # bare words are taken as strings
    return str(value)


@st.composite
def regularizer(draw):
    kind = draw(st.sampled_from(REG_KINDS))
    reg = {"kind": kind, **{name: draw(values) for name, values in REG_VALID[kind].items()}}
    if draw(st.integers(0, 3)) == 0:  # one bad or unknown field, or a bad kind
        name = draw(st.sampled_from(sorted(REG_FIELDS) + ["kind"]))
        reg[name] = draw(st.sampled_from(["l3", "L2", ""])) if name == "kind" else draw(REG_FIELDS[name])
    return reg


@st.composite
def config_file(draw):
    """A whole config (as a dict written to TOML): the tiny base with some keys changed or added."""
    cfg = json.loads(json.dumps(BASE))
    for key in draw(st.lists(st.sampled_from(sorted(KEYS)), max_size=3, unique=True)):
        section, name = key.split(".")
        cfg.setdefault(section, {})[name] = value_for(draw, key)
    cfg["regularizer"] = draw(st.lists(regularizer(), max_size=2))
    if not cfg["regularizer"]:
        del cfg["regularizer"]
    return cfg


@st.composite
def overrides(draw):
    sets = []
    for key in draw(st.lists(st.sampled_from(sorted(KEYS)), max_size=3, unique=True)):
        sets.append(f"{key}={_toml_literal(value_for(draw, key))}")
    for _ in range(draw(st.integers(0, 3)) // 3):
        index = draw(st.sampled_from([0, 1, 5]))
        name = draw(st.sampled_from(sorted(REG_FIELDS) + ["kind"]))
        value = draw(st.sampled_from(REG_KINDS)) if name == "kind" else draw(REG_FIELDS[name])
        sets.append(f"regularizer.{index}.{name}={_toml_literal(value)}")
    if draw(st.integers(0, 5)) == 0:
        sets.append(draw(st.sampled_from(["train.lr", "=1", "train..lr=1", "train.lr.x=1", "train=3", "a.b.c=[/b]"])))
    return sets


def _write_toml(path: Path, cfg: dict) -> bool:
    try:
        path.write_text(tomli_w.dumps(cfg), encoding="utf-8")
    except (TypeError, ValueError):
        return False  # not representable in TOML (tomli-w refuses mixed arrays of tables etc.)
    return True


def check_outcome(out) -> str:
    """The property itself; returns the outcome's name (for the statistics)."""
    assert_no_traceback(out)
    if out.code == 2:
        error_document(out)
        return "bad input"
    assert out.code in (0, 3), f"exit code must be 0 (completed), 3 (diverged) or 2 (bad input)\n{out!r}"
    doc = run_document(out)
    expected = "completed" if out.code == 0 else "diverged"
    assert doc.get("status") == expected, f"exit {out.code} but status {doc.get('status')!r}\n{out!r}"
    return expected


SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(cfg=config_file(), sets=overrides())
def test_train_json_either_runs_or_refuses_cleanly(cfg, sets):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.toml"
        if not _write_toml(path, cfg):
            path.write_text(json.dumps(cfg), encoding="utf-8")  # then it is simply not TOML: also bad input
        args = ["train", path, "--out", Path(tmp) / "out", "--json", "--quiet"]
        for item in sets:
            args += ["--set", item]
        check_outcome(invoke(args))


@settings(max_examples=10, deadline=None, derandomize=True, database=None)
@given(text=st.one_of(st.text(max_size=40), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))))
def test_train_json_on_arbitrary_file_content_refuses_cleanly(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.toml"
        path.write_bytes(text.encode("utf-8", "surrogateescape") if text else b"")
        out = invoke(["train", path, "--out", Path(tmp) / "out", "--json", "--quiet"])
        # random text is almost never a valid config; if it is one, it is the property's other branch
        check_outcome(out)
