r"""How close a predicted minimizer is to the trained one: the one definition reglab uses.

.. math::
    \text{rel\_err}(p, t) = \frac{\lVert p - t\rVert_2}{\max(\lVert p\rVert_2, \lVert t\rVert_2)},
    \qquad \text{holds} \iff \text{rel\_err} \le \text{threshold},

symmetric in ``p`` and ``t``, at most 2, and finite when the trained network
collapses to ``w = 0`` (then 1 unless the prediction is 0 too; 0 when both are).
For small errors it equals ``‖p − t‖/‖t‖`` to first order. ``reglab verify``,
``ridge-geometry`` and ``spectrum-shrinkage`` all judge the quadratic model with it,
and :data:`HOLDS_THRESHOLD` is the default threshold everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["HOLDS_THRESHOLD", "Comparison", "compare", "relative_error"]

HOLDS_THRESHOLD = 0.05
"""Relative error up to which a prediction "holds" (``reglab verify``'s default ``--threshold``)."""


@dataclass(frozen=True)
class Comparison:
    """A predicted vs a trained vector: ``rel_err`` (see the module), cosine, both norms, and ``holds``."""

    rel_err: float
    cosine: float
    norm_predicted: float
    norm_trained: float
    holds: bool


def relative_error(predicted: torch.Tensor, trained: torch.Tensor) -> torch.Tensor:
    """``‖p − t‖ / max(‖p‖, ‖t‖)`` along the last dimension (0 where both are 0)."""
    scale = torch.maximum(predicted.norm(dim=-1), trained.norm(dim=-1))
    # both 0: the difference is 0 too, and 0 / tiny = 0
    return (predicted - trained).norm(dim=-1) / scale.clamp(min=torch.finfo(scale.dtype).tiny)


def compare(predicted: torch.Tensor, trained: torch.Tensor,
            threshold: float = HOLDS_THRESHOLD) -> Comparison | list[Comparison]:
    """Compare a prediction with the trained minimizer; rows of ``(m, k)`` inputs are compared one by one.

    >>> c = compare(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 0.1]))
    >>> round(c.rel_err, 4), c.holds
    (0.0995, False)
    >>> [c.holds for c in compare(torch.zeros(2, 3), torch.zeros(2, 3))]
    [True, True]
    """
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    p, t = torch.as_tensor(predicted), torch.as_tensor(trained)
    if p.shape != t.shape or p.ndim not in (1, 2):
        raise ValueError(f"predicted and trained must have the same shape (k,) or (m, k), got "
                         f"{tuple(p.shape)} and {tuple(t.shape)}")
    p, t = p.double(), t.double()
    rows = zip(relative_error(p, t).reshape(-1).tolist(),
               torch.nn.functional.cosine_similarity(p, t, dim=-1).reshape(-1).tolist(),
               p.norm(dim=-1).reshape(-1).tolist(), t.norm(dim=-1).reshape(-1).tolist(), strict=True)
    result = [Comparison(rel, cos, n_p, n_t, rel <= threshold) for rel, cos, n_p, n_t in rows]
    return result[0] if p.ndim == 1 else result
