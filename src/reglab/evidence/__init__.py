r"""Choose the weight decay for the user: MacKay's evidence maximization from the curvature spectrum.

The notes show that L2 regularization keeps the directions with ``λᵢ ≫ α`` and
removes those with ``λᵢ ≪ α``, and that ``γ = Σ λᵢ/(λᵢ+α)`` counts the
parameters that remain. MacKay's evidence framework turns that count into a
rule: at the regularized minimizer ``w̃``, the prior precision that maximizes
the (Laplace) marginal likelihood satisfies ``a = γ/‖w̃‖²``, and for regression
the noise precision ``β = (N − γ)/(2E_D)`` (Gull–MacKay).

**Conventions.** Everything public takes and returns reglab's α: the strength
on the *mean* loss, ``C = C₀ + (α/2)‖w‖²`` (= torch's ``weight_decay``; Nielsen's
λ = α·n, see :func:`reglab.regularize.conventions.convert`), with ``H`` the
Hessian (or GGN) of ``C₀``. The evidence's own scaling is on the summed energy
``E_D = m·C₀`` (``m = n`` for cross-entropy and ``half_mse``, ``n/2`` for ``mse``)
with prior precision ``a``; the two are converted explicitly, ``a = β·m·α``
(:meth:`Likelihood.summed_alpha`); scikit-learn's ``BayesianRidge`` reports
``lambda_ = a`` and ``alpha_ = β`` (for ``½‖y − Xw‖²``, ``m = n``), so reglab's
``α = lambda_/(alpha_·n)``.

The parts:

* :func:`spectrum_at` → :class:`Spectrum`: the exact spectrum (``"dense"``, small
  models) or Lanczos top-k plus stochastic Lanczos quadrature of the rest
  (``"lanczos+slq"``, with error bars), of the Hessian or the GGN; negative
  eigenvalues reported in :class:`NegativeReport` and never clamped silently.
* :func:`log_evidence` and :func:`fixed_point` on a spectrum, with the
  predicted ``w̃(α) = (H+αI)⁻¹(Hw₀ − ∇C₀(w₀))`` (the notes' ``Q(Λ+αI)⁻¹ΛQᵀw*``);
* :func:`tune_alpha`: rounds of train → spectrum → fixed point until α stops
  moving (or moves less than its SLQ noise, or gains too little evidence); the mode between
  trainings is the quadratic model's prediction (``mode="predicted"``) or the trained
  weights (``"held"``, :meth:`Spectrum.held`); it reports the trainings used and the compute.

Example:
    >>> import numpy as np
    >>> from reglab.evidence import Likelihood, NegativeReport, Spectrum, fixed_point
    >>> lam = np.array([4.0, 1.0, 0.25])
    >>> s = Spectrum("dense", "hessian", 3, lam, lam, (lam * np.array([1.0, -1.0, 0.5])) ** 2, 1.0,
    ...              NegativeReport(0, 0.0, "none"), "none", 3, 1)
    >>> point = fixed_point(s, Likelihood("categorical", n=100), alpha0=1e-2)
    >>> point.converged, round(point.gamma / (100 * s.weight_norm2(point.alpha)) / point.alpha, 9)
    (True, 1.0)

References:
    MacKay, "Bayesian interpolation" and "A practical Bayesian framework for
    backpropagation networks", Neural Computation 4, 1992; Bishop, *Pattern
    Recognition and Machine Learning*, 2006, §3.5; Ubaru, Chen & Saad, "Fast
    estimation of tr(f(A)) via stochastic Lanczos quadrature", SIMAX 2017.
"""

from reglab.evidence._fixed_point import EvidenceValue, FixedPoint, Likelihood, fixed_point, log_evidence
from reglab.evidence._spectrum import (
    CURVATURES,
    NEGATIVE_HANDLING,
    UNPENALIZED,
    NegativeReport,
    Spectrum,
    dense_spectrum,
    lanczos_spectrum,
    spectrum_at,
)
from reglab.evidence._tune import (
    MODES,
    Fit,
    TuneResult,
    alpha_noise,
    evidence_curve,
    evidence_gain,
    lbfgs_fit,
    tune_alpha,
)

__all__ = [
    "Likelihood",
    "Spectrum",
    "NegativeReport",
    "EvidenceValue",
    "FixedPoint",
    "Fit",
    "TuneResult",
    "spectrum_at",
    "dense_spectrum",
    "lanczos_spectrum",
    "log_evidence",
    "fixed_point",
    "tune_alpha",
    "lbfgs_fit",
    "evidence_curve",
    "evidence_gain",
    "alpha_noise",
    "MODES",
    "CURVATURES",
    "NEGATIVE_HANDLING",
    "UNPENALIZED",
]
