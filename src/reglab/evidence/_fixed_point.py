r"""MacKay's log-evidence and its fixed-point iteration, on a :class:`Spectrum`, in reglab's α.

**Conventions.** reglab's α multiplies the penalty on the *mean* loss,
``C = C₀ + (α/2)‖w‖²``, and ``H = QΛQᵀ`` is the Hessian (or GGN) of ``C₀``. The
evidence is written for the *summed* energy ``E_D = m·C₀`` with ``m = s·n``
(``n`` training examples; ``s = 1`` for cross-entropy, whose sum is the negative
log-likelihood, and for ``half_mse``, whose sum is ``½Σ‖f − y‖²``; ``s = ½`` for
``mse``) and a Gaussian prior ``N(0, a⁻¹I)`` on the ``k`` penalized weights. With a
Gaussian likelihood of noise precision β (regression; ``β = 1`` and no β term for
a categorical likelihood) the posterior's mode minimizes ``β·E_D + (a/2)‖w‖²``,
which is ``β·m·C`` with

.. math:: \alpha = \frac{a}{\beta\, m}\qquad(\text{MacKay's } a \text{ on the summed loss} = \beta\, m\, \alpha).

The Laplace approximation at the mode ``w̃(α)``, with ``A = β m H + a I``, is then

.. math::
    \log p(\mathcal D \mid a, \beta) = -\beta m\, C(\tilde w) + \frac{k}{2}\log\alpha
        - \frac12 \sum_i \log(\lambda_i + \alpha)
        \;\Big[ + \frac{N}{2}\log\frac{\beta}{2\pi} \Big]_{\text{Gaussian}},

(the factors ``β m`` of ``log det A`` and of ``(k/2) log a`` cancel), ``N = n·outputs``
data points. Setting its derivatives to zero gives MacKay's and Gull's updates,

.. math::
    \gamma = \sum_i \frac{\lambda_i}{\lambda_i + \alpha}, \qquad
    a \leftarrow \frac{\gamma}{\lVert \tilde w\rVert^2}, \qquad
    \beta \leftarrow \frac{N - \gamma}{2 E_D(\tilde w)},

i.e. ``α ← γ / (β m ‖w̃‖²)`` in reglab's convention. ``w̃(α)``, ``C(w̃)`` and
``E_D(w̃)`` come from the quadratic model of :class:`Spectrum`, so iterating needs
no retraining; it is exact for linear least squares.

References:
    MacKay, "Bayesian interpolation", Neural Computation 1992, and "A practical
    Bayesian framework for backpropagation networks", Neural Computation 1992;
    Gull, "Bayesian inductive inference and maximum entropy", 1988;
    Bishop, *Pattern Recognition and Machine Learning*, 2006, §3.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from reglab.errors import ConfigError
from reglab.evidence._spectrum import Spectrum

__all__ = ["Likelihood", "EvidenceValue", "FixedPoint", "log_evidence", "fixed_point"]

LIKELIHOODS = ("categorical", "gaussian")


@dataclass(frozen=True)
class Likelihood:
    """How the mean loss relates to the negative log-likelihood: ``E_D = scale·n·C₀``.

    ``kind="categorical"`` (cross-entropy, ``scale = 1``, no noise precision) or
    ``"gaussian"`` (``half_mse``: ``scale = 1``; ``mse``: ``scale = 0.5``;
    ``outputs`` values per example, ``N = n·outputs`` data points, noise precision β).
    """

    kind: str
    n: int
    outputs: int = 1
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in LIKELIHOODS:
            raise ConfigError(f"likelihood must be one of {', '.join(LIKELIHOODS)}; got {self.kind!r}",
                              field="likelihood")
        if not (isinstance(self.n, int) and self.n >= 1):
            raise ConfigError(f"n (training examples) must be a positive integer, got {self.n!r}", field="n")
        if not (isinstance(self.outputs, int) and self.outputs >= 1):
            raise ConfigError(f"outputs must be a positive integer, got {self.outputs!r}", field="outputs")
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise ConfigError(f"scale must be a positive number, got {self.scale!r}", field="scale")

    @property
    def m(self) -> float:
        """The factor between the summed energy and the mean loss, ``E_D = m·C₀``."""
        return self.scale * self.n

    @property
    def points(self) -> int:
        return self.n * self.outputs

    def summed_alpha(self, alpha: float, beta: float = 1.0) -> float:
        """MacKay's prior precision ``a = β·m·α`` on the summed loss, from reglab's α."""
        return beta * self.m * alpha


@dataclass(frozen=True)
class EvidenceValue:
    """``log p(D | α, β)`` with its standard error, and the parts it is made of."""

    log_evidence: float
    stderr: float
    gamma: float
    gamma_stderr: float
    weight_norm2: float
    data_loss: float

    def to_json(self) -> dict:
        return dict(self.__dict__)


def log_evidence(spectrum: Spectrum, alpha: float, likelihood: Likelihood, beta: float = 1.0) -> EvidenceValue:
    """The Laplace log-evidence at reglab strength ``alpha`` (and noise precision ``beta``); see the module docs.

    The stderr is that of ``½ log det`` from SLQ (0 on the dense path).

    Example:
        >>> import numpy as np
        >>> from reglab.evidence import Likelihood, Spectrum, NegativeReport, log_evidence
        >>> lam = np.array([1.0])  # one weight, H = 1, w₀ = w* = 1 (r = 1), C₀(w*) = 0
        >>> s = Spectrum("dense", "hessian", 1, lam, lam, np.array([1.0]), 0.5, NegativeReport(0, 0.0, "none"),
        ...              "none", 1, 1)
        >>> round(log_evidence(s, 1.0, Likelihood("categorical", 4)).log_evidence, 6)  # −4·(0.5−0.25) − ½log 2
        -1.346574
    """
    if not (alpha > 0 and math.isfinite(alpha)):
        raise ConfigError(f"alpha must be a positive finite number, got {alpha!r}", field="alpha")
    gamma, gamma_err = spectrum.gamma(alpha)
    logdet, logdet_err = spectrum.logdet(alpha)
    value = (-beta * likelihood.m * spectrum.penalized_loss(alpha) + 0.5 * spectrum.size * math.log(alpha)
             - 0.5 * logdet)
    if likelihood.kind == "gaussian":
        value += 0.5 * likelihood.points * math.log(beta / (2 * math.pi))
    return EvidenceValue(value, 0.5 * logdet_err, gamma, gamma_err, spectrum.weight_norm2(alpha),
                         spectrum.data_loss(alpha))


@dataclass
class FixedPoint:
    """The end of MacKay's iteration on one spectrum.

    ``alpha`` is reglab's strength; ``summed_alpha`` MacKay's ``a = β·m·α``;
    ``history`` one entry per iteration (α, β, γ, log-evidence).
    """

    alpha: float
    beta: float
    summed_alpha: float
    gamma: float
    iterations: int
    converged: bool
    evidence: EvidenceValue
    history: list[dict] = field(default_factory=list)


def fixed_point(spectrum: Spectrum, likelihood: Likelihood, alpha0: float, *, beta0: float | None = None,
                tol: float = 1e-12, max_iter: int = 10_000, keep_history: int = 200) -> FixedPoint:
    """Iterate ``a ← γ/‖w̃‖²`` (and ``β ← (N − γ)/2E_D`` for a Gaussian likelihood) from ``alpha0``.

    Stops when α and β change by less than ``tol`` relative. ``beta0`` defaults
    to ``N/(2 E_D(w̃(α₀)))``. Each step costs ``O(k)`` on the dense spectrum and
    ``O(top_k + probes·m)`` on the SLQ one: no curvature products.
    """
    if not (alpha0 > 0 and math.isfinite(alpha0)):
        raise ConfigError(f"alpha0 must be a positive finite number, got {alpha0!r}", field="alpha0")
    gaussian = likelihood.kind == "gaussian"
    alpha = float(alpha0)
    beta = 1.0
    if gaussian:
        beta = float(beta0) if beta0 is not None else likelihood.points / max(
            2 * likelihood.m * spectrum.data_loss(alpha), 1e-300)
    history: list[dict] = []
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):
        gamma, _ = spectrum.gamma(alpha)
        norm2 = spectrum.weight_norm2(alpha)
        if norm2 <= 0:
            raise ValueError("the predicted weights are zero: the evidence has no finite maximizer in α")
        new_beta = beta
        if gaussian:
            energy = likelihood.m * spectrum.data_loss(alpha)
            new_beta = (likelihood.points - gamma) / max(2 * energy, 1e-300)
        new_alpha = gamma / (new_beta * likelihood.m * norm2)
        if len(history) < keep_history:
            history.append({"iteration": iterations, "alpha": new_alpha, "beta": new_beta if gaussian else None,
                            "gamma": gamma})
        change = max(abs(new_alpha - alpha) / alpha, abs(new_beta - beta) / beta)
        alpha, beta = new_alpha, new_beta
        if not (alpha > 0 and math.isfinite(alpha)):
            raise ValueError(f"the fixed-point iteration left the positive reals (α = {alpha})")
        if change <= tol:
            converged = True
            break
    value = log_evidence(spectrum, alpha, likelihood, beta)
    return FixedPoint(alpha, beta, likelihood.summed_alpha(alpha, beta), value.gamma, iterations, converged, value,
                      history)
