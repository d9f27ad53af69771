"""reglab: train neural networks with the classical regularizers and see and verify what they do."""

from reglab._version import __version__

__all__ = ["__version__"]
