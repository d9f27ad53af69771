"""Data sets with fixed, seeded train / validation / test splits.

Built in: ``digits`` (scikit-learn), ``mnist`` (a 7,000-image sample of real MNIST
shipped in the package), ``mnist-full`` (the four IDX files from a folder), the
Playground sets ``circle``, ``xor``, ``gauss``, ``spiral``, and the regression sets
``polynomial`` and ``linear``. See :func:`load_dataset`.
"""

from reglab.data._digits import load_digits
from reglab.data._idx import read_idx, write_idx
from reglab.data._mnist import download_mnist, load_mnist_full, load_mnist_sample, sample_metadata
from reglab.data._regression import make_linear, make_polynomial
from reglab.data._registry import DATASETS, load_dataset
from reglab.data._splits import Split, Splits
from reglab.data._toy import make_toy

__all__ = [
    "Split",
    "Splits",
    "DATASETS",
    "load_dataset",
    "load_digits",
    "load_mnist_sample",
    "load_mnist_full",
    "download_mnist",
    "sample_metadata",
    "make_toy",
    "make_polynomial",
    "make_linear",
    "read_idx",
    "write_idx",
]
