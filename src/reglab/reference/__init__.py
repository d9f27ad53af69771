"""The network of the lecture notes (seed 003) and Nielsen ch. 2-3, from scratch in NumPy.

A teaching and testing reference: backpropagation by BP1-BP4 vectorized over a
mini-batch, and mini-batch SGD with the notes' L2 and L1 update rules, in
float64. :func:`backprop_check` and :func:`reference_epoch_vs_torch` compare it
with torch autograd and ``torch.optim.SGD``.

Reference: M. Nielsen, *Neural Networks and Deep Learning*, ch. 2 and 3.
"""

from reglab.reference._check import backprop_check, reference_epoch_vs_torch, relative_difference
from reglab.reference._functions import ACTIVATIONS, Activation
from reglab.reference._network import Gradients, Network

__all__ = [
    "Network",
    "Gradients",
    "Activation",
    "ACTIVATIONS",
    "backprop_check",
    "reference_epoch_vs_torch",
    "relative_difference",
]
