"""Curvature of the training loss as operators: Hessian and GGN products, and what to do with them.

:class:`Objective` is the mean loss of a model on data as a function of one flat
parameter vector (loss, gradient, Hessian-vector product, chunked over batches,
never modifying the model); it owns the flat layout. Everything else works from
matrix–vector products on it (chunked over ``batch_size`` examples at a time,
on ``device``, in ``dtype``). :func:`hessian_operator` and
:func:`ggn_operator` turn a model, a loss and data into a
:class:`CurvatureOperator` on the flat vector of the selected parameters (each
flattened row-major, concatenated in the order given); :func:`eigen`,
:func:`trace`, :func:`diagonal`, :func:`spectral_density` and
:func:`power_iteration` accept such an operator or a small dense tensor;
the long-running ones report a :class:`Progress` to a ``progress`` callback.

Convention: the curvature is that of the *mean* loss ``C₀`` over all examples,
the same ``C₀`` to which ``reglab`` adds ``(α/2)‖w‖²``; so the regularized Hessian
is ``H + αI`` and :mod:`reglab.theory` applies with the same ``α``.

Example:
    >>> import torch
    >>> from reglab.curvature import hessian_operator, eigen
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    >>> X, Y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    >>> op = hessian_operator(model, torch.nn.functional.cross_entropy, (X, Y), dtype=torch.float64)
    >>> eigen(op, 3).eigenvalues.shape
    torch.Size([3])
"""

from reglab.curvature._density import spectral_density
from reglab.curvature._device import resolve_device, resolve_dtype
from reglab.curvature._eigen import eigen
from reglab.curvature._ggn import GGNOperator, ggn_operator
from reglab.curvature._hessian import HessianOperator, dense_hessian, hessian, hessian_operator
from reglab.curvature._objective import Objective
from reglab.curvature._operator import CurvatureOperator, DenseOperator, as_operator, to_dense
from reglab.curvature._power import power_iteration
from reglab.curvature._progress import Progress, ProgressCallback
from reglab.curvature._results import DensityResult, DiagonalResult, EigenResult, TraceResult
from reglab.curvature._trace import diagonal, trace

__all__ = [
    "Objective",
    "CurvatureOperator",
    "DenseOperator",
    "HessianOperator",
    "GGNOperator",
    "hessian_operator",
    "ggn_operator",
    "hessian",
    "dense_hessian",
    "as_operator",
    "to_dense",
    "eigen",
    "power_iteration",
    "trace",
    "diagonal",
    "spectral_density",
    "EigenResult",
    "TraceResult",
    "DiagonalResult",
    "DensityResult",
    "Progress",
    "ProgressCallback",
    "resolve_device",
    "resolve_dtype",
]
