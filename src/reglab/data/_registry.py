"""Name → loader for every built-in data set, driven by a :class:`DataConfig`.

``DataConfig`` chooses its family class by ``name`` (``ToyDataConfig`` for the
Playground sets …), so each loader reads only the knobs its family has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from reglab.config import DataConfig, parse_config
from reglab.data._digits import load_digits
from reglab.data._mnist import load_mnist_full, load_mnist_sample
from reglab.data._regression import make_linear, make_polynomial
from reglab.data._splits import Splits
from reglab.data._toy import make_toy

__all__ = ["DATASETS", "load_dataset", "DatasetInfo"]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    task: str
    description: str
    loader: Callable[[DataConfig], Splits]


def _toy(name: str) -> Callable[[DataConfig], Splits]:
    return lambda c: make_toy(name, n_points=c.n_points, noise=c.noise, train_ratio=c.train_ratio, seed=c.seed)


DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo("digits", "classification", "scikit-learn 8×8 digits, 10 classes (built in)",
                          lambda c: load_digits(seed=c.seed, val_fraction=c.val_fraction,
                                                test_fraction=c.test_fraction, n_train=c.n_train)),
    "mnist": DatasetInfo("mnist", "classification", "bundled MNIST sample 28×28, 5,000/1,000/1,000 (built in)",
                         lambda c: load_mnist_sample(n_train=c.n_train)),
    "mnist-full": DatasetInfo("mnist-full", "classification", "standard MNIST from IDX files (data.data_dir)",
                              lambda c: load_mnist_full(c.data_dir, seed=c.seed, verify=c.verify_checksums,
                                                        n_train=c.n_train)),
    "circle": DatasetInfo("circle", "classification", "Playground: disc inside a ring", _toy("circle")),
    "xor": DatasetInfo("xor", "classification", "Playground: exclusive or of the quadrants", _toy("xor")),
    "gauss": DatasetInfo("gauss", "classification", "Playground: two Gaussian clusters", _toy("gauss")),
    "spiral": DatasetInfo("spiral", "classification", "Playground: two interleaved spirals", _toy("spiral")),
    "polynomial": DatasetInfo("polynomial", "regression", "1-D polynomial of data.degree plus noise",
                              lambda c: make_polynomial(degree=c.degree, n=c.n, n_test=c.n_test,
                                                        noise_std=c.noise_std, seed=c.seed)),
    "linear": DatasetInfo("linear", "regression", "least squares with Hessian spectrum data.spectrum",
                          lambda c: make_linear(dim=c.dim, n=c.n, n_test=c.n_test, spectrum=c.spectrum,
                                                whiten=c.whiten, noise_std=c.noise_std, seed=c.seed)),
}


def load_dataset(cfg: DataConfig | str | None = None, **overrides: object) -> Splits:
    """Load a data set by config or name: ``load_dataset("digits")``, ``load_dataset(cfg.data)``.

    >>> splits = load_dataset("circle", noise=10.0, n_points=200)
    >>> splits.sizes()
    {'train': 100, 'val': 50, 'test': 50}
    """
    if cfg is None or isinstance(cfg, str):
        cfg = parse_config({"name": cfg or "digits", **overrides}, DataConfig)
    elif overrides:  # validated again: an override must belong to the data set's family
        cfg = parse_config({**cfg.model_dump(), **overrides}, DataConfig)
    splits = DATASETS[cfg.name].loader(cfg)
    if cfg.n_train is not None and cfg.name not in ("digits", "mnist", "mnist-full"):
        from reglab.data._splits import Split

        tr = splits.train
        splits = Splits(splits.name, splits.task, Split(tr.x[: cfg.n_train], tr.y[: cfg.n_train]), splits.val,
                        splits.test, splits.n_classes, splits.image_shape, splits.info)
    return splits
