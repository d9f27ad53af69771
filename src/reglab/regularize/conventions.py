"""Convert an L2 strength between the conventions of books and libraries.

reglab's strength α multiplies the penalty added to the **mean** training loss C₀:

    C(w) = C₀(w) + (α/2)‖w‖²,        ∇C = ∇C₀ + α·w.

Every convention below is a linear rescaling of α, α = v/d, so a conversion is
``convert(v, a, b) = v / d_a · d_b``. The divisor d may need ``n`` (a number of
examples) or ``lr`` (a learning rate η).

=================  ==========================================  ============
name               what the number multiplies                  α from value
=================  ==========================================  ============
reglab             (α/2)‖w‖² added to the mean loss            α = v
torch              ``torch.optim.SGD(weight_decay=v)``         α = v
goodfellow         (α/2)wᵀw in Goodfellow et al. (7.1.1)       α = v
nielsen            (λ/2n)‖w‖², n = training-set size           α = v/n
sklearn-ridge      a‖w‖² next to ‖y − Xw‖² (sum of squares)    α = v/n
sklearn-mlp        (alpha/2n)‖W‖² in MLPClassifier/Regressor   α = v/n
playground         TensorFlow Playground "regularization rate" α = v
adamw              ``torch.optim.AdamW(weight_decay=v)``       α = v (SGD only)
loshchilov-hutter  λ of SGDW/AdamW, decay not scaled by lr     α = v/lr
=================  ==========================================  ============

Notes on the less obvious ones:

* **sklearn-ridge** minimizes ‖y − Xw‖² + a‖w‖². This matches reglab only for the
  half-mean-squared-error loss C₀ = (1/2n)Σᵢ(yᵢ − xᵢᵀw)²: multiplying
  C₀ + (α/2)‖w‖² by 2n gives a = n·α. (With the plain mean squared error, no ½,
  it would be a = n·α/2; this module assumes the ½.)
* **sklearn-mlp**: ``_backprop`` adds ``0.5·alpha·‖W‖²/n`` to the mean loss and
  ``alpha·W/n`` to the mean gradient, with n the number of samples passed to
  that call (or the sum of ``sample_weight``). ``lbfgs`` passes the whole
  training set; ``sgd`` and ``adam`` pass one mini-batch (``batch_size``, by
  default min(200, n_samples)), so there α = alpha/batch_size. Checked against
  scikit-learn 1.9.1, ``sklearn/neural_network/_multilayer_perceptron.py``.
* **playground**: ``updateWeights`` in ``src/nn.ts`` of tensorflow/playground
  (commit bd89e3a) does ``w -= (lr/m)·Σ∂E/∂w`` then ``w -= lr·rate·w_old`` per
  mini-batch of m examples, with E = ½(output − target)² per example: coupled
  L2 on the mean loss, α = rate. (For L1 it also clamps a weight that crosses
  zero to 0. An early 2016 version divided the penalty by m as well.)
* **adamw**: torch's AdamW (``param.mul_(1 - lr*weight_decay)``) and
  ``optax.adamw`` multiply the decay by the learning rate. For plain SGD without
  momentum, w ← w − lr·wd·w − lr·∇C₀ is exactly coupled L2 with α = wd. With
  momentum or an adaptive method (Adam) decoupled decay and L2 are different
  algorithms and no α reproduces it; the conversion is then only nominal.
* **loshchilov-hutter**: in the paper's Algorithms 1-2 the decay is
  w ← w − η_t·λ·w with η_t the schedule multiplier, *not* the learning rate; for
  SGD without momentum and η_t = 1 this equals coupled L2 with α = λ/lr, so
  ``lr`` is required.

Only L2 strengths are converted here. For L1, C = C₀ + α‖w‖₁ and Nielsen's
C₀ + (λ/n)‖w‖₁ relate in the same way, α = λ/n.

Example:
    >>> convert(5.0, "nielsen", "reglab", n=50_000)
    0.0001

References:
    M. Nielsen, *Neural Networks and Deep Learning*, ch. 3 ("Regularization").
    I. Goodfellow, Y. Bengio, A. Courville, *Deep Learning*, sec. 7.1.1.
    I. Loshchilov, F. Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping

from reglab.errors import ConfigError

__all__ = ["CONVENTIONS", "convert"]


@dataclass(frozen=True)
class _Convention:
    description: str
    needs: tuple[str, ...]
    # α = value / divisor(n, lr); a division keeps λ/n correctly rounded
    divisor: Callable[[float | None, float | None], float]


def _one(n: float | None, lr: float | None) -> float:
    return 1.0


def _n(n: float | None, lr: float | None) -> float:
    assert n is not None
    return n


def _lr(n: float | None, lr: float | None) -> float:
    assert lr is not None
    return lr


_TABLE: dict[str, _Convention] = {
    "reglab": _Convention(
        "α: C = C₀ + (α/2)‖w‖² with C₀ the mean loss over the training set.",
        (),
        _one,
    ),
    "torch": _Convention(
        "weight_decay of torch.optim.SGD (and Adam without decoupling): adds "
        "weight_decay·w to the gradient of the mean loss, i.e. α = weight_decay.",
        (),
        _one,
    ),
    "goodfellow": _Convention(
        "α of Goodfellow et al. 7.1.1: J̃ = J + (α/2)wᵀw with J the mean loss; same as reglab.",
        (),
        _one,
    ),
    "nielsen": _Convention(
        "λ of Nielsen ch. 3: C = C₀ + (λ/2n)‖w‖², n the training-set size, so α = λ/n.",
        ("n",),
        _n,
    ),
    "sklearn-ridge": _Convention(
        "alpha of sklearn.linear_model.Ridge: ‖y − Xw‖² + alpha‖w‖² (a SUM of squares). "
        "Assuming reglab's loss is half the mean squared error, C₀ = (1/2n)Σ rᵢ², "
        "dividing by 2n gives α = alpha/n.",
        ("n",),
        _n,
    ),
    "sklearn-mlp": _Convention(
        "alpha of MLPClassifier/MLPRegressor: (alpha/2n)‖W‖² added to the mean loss "
        "(intercepts not penalized), so α = alpha/n, where n is the number of samples "
        "in one loss evaluation: the training set for solver='lbfgs', the mini-batch "
        "size for 'sgd'/'adam' (checked in scikit-learn 1.9.1).",
        ("n",),
        _n,
    ),
    "playground": _Convention(
        "regularization rate of TensorFlow Playground (L2): each update is "
        "w ← w − lr·(mean gradient of ½(out − y)²) − lr·rate·w, so α = rate.",
        (),
        _one,
    ),
    "adamw": _Convention(
        "weight_decay of torch.optim.AdamW (and optax.adamw): w ← w − lr·wd·w each step, "
        "decoupled from the gradient. With plain SGD (no momentum) this equals L2 with "
        "α = wd; with Adam or momentum there is no equal L2 strength.",
        (),
        _one,
    ),
    "loshchilov-hutter": _Convention(
        "λ of SGDW/AdamW in Loshchilov & Hutter (2019): w ← w − η_t·λ·w with η_t the schedule "
        "multiplier, not the learning rate lr; for SGD without momentum and η_t = 1, α = λ/lr.",
        ("lr",),
        _lr,
    ),
}

CONVENTIONS: Mapping[str, str] = MappingProxyType({name: c.description for name, c in _TABLE.items()})
"""Name → one sentence saying what the number multiplies (read-only)."""


def _lookup(name: str) -> _Convention:
    try:
        return _TABLE[name]
    except (KeyError, TypeError):
        allowed = ", ".join(sorted(_TABLE))
        raise ConfigError(f"unknown convention {name!r}; choose one of: {allowed}") from None


def _check_positive(label: str, value: float | None, conv: str, what: str) -> float:
    if value is None:
        raise ConfigError(f"convention {conv!r} needs {label} ({what}); got {label}=None")
    if not (_is_real(value) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{label} must be a positive finite number, got {value!r}")
    return float(value)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _divisor(name: str, n: float | None, lr: float | None) -> float:
    conv = _lookup(name)
    if "n" in conv.needs:
        n = _check_positive("n", n, name, "the number of examples the loss averages over")
    if "lr" in conv.needs:
        lr = _check_positive("lr", lr, name, "the learning rate")
    return conv.divisor(n, lr)


def convert(value: float, from_: str, to: str, *, n: float | None = None, lr: float | None = None) -> float:
    """Convert an L2 strength ``value`` from convention ``from_`` to convention ``to``.

    Every convention is α = value/d(n, lr) for reglab's α in
    C = C₀ + (α/2)‖w‖² (C₀ the mean loss), so the result is value/d_from·d_to.
    See :data:`CONVENTIONS` and the module docstring for each d.

    Args:
        value: the strength, ≥ 0, in convention ``from_``.
        from_: name of the convention ``value`` is written in.
        to: name of the convention to express it in.
        n: number of examples, needed by "nielsen", "sklearn-ridge" (training-set
            size) and "sklearn-mlp" (samples per loss evaluation: the training set for
            lbfgs, the mini-batch for sgd/adam). One ``n`` serves both sides; to
            convert between two different n, go through "reglab" twice.
        lr: learning rate, needed by "loshchilov-hutter".

    Returns:
        The strength in convention ``to``.

    Raises:
        ConfigError (a ValueError): unknown convention (the message lists the
            allowed names), a missing ``n``/``lr``, or a negative/non-finite value.

    Example:
        >>> convert(1e-4, "reglab", "nielsen", n=50_000)
        5.0
        >>> convert(0.01, "reglab", "sklearn-ridge", n=200)
        2.0

    Reference: Nielsen, *Neural Networks and Deep Learning*, ch. 3 (λ/n);
    scikit-learn 1.9.1 ``neural_network/_multilayer_perceptron.py`` (``_backprop``).
    """
    if not (_is_real(value) and math.isfinite(value) and value >= 0):
        raise ConfigError(f"the strength must be a finite number ≥ 0, got {value!r}")
    alpha = float(value) / _divisor(from_, n, lr)
    return alpha * _divisor(to, n, lr)
