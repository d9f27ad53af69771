"""Two-dimensional toy sets in the spirit of TensorFlow Playground: circle, xor, gauss, spiral.

Each draws ``n_points`` points with two classes (labels 0/1) from a seeded
generator; ``noise`` is in percent (0–50) and ``train_ratio`` is the percent of
points used for training (the rest is split evenly into validation and test).
Coordinates lie roughly in [−6, 6]², as in the Playground.
"""

from __future__ import annotations

import numpy as np
import torch

from reglab.data._splits import Split, Splits

__all__ = ["make_toy", "TOY_SETS"]

_RADIUS = 5.0


def _circle(n: int, p: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    half = n // 2
    r = np.concatenate([rng.uniform(0, 0.5 * _RADIUS, half), rng.uniform(0.7 * _RADIUS, _RADIUS, n - half)])
    angle = rng.uniform(0, 2 * np.pi, n)
    pts = np.stack([r * np.cos(angle), r * np.sin(angle)], 1)
    pts += rng.uniform(-_RADIUS, _RADIUS, (n, 2)) * p
    labels = (np.arange(n) < half).astype(np.int64)  # decided before the noise, as in the Playground
    return pts, labels


def _xor(n: int, p: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    pts = rng.uniform(-5, 5, (n, 2))
    pts += np.where(pts > 0, 0.3, -0.3)  # keep points off the axes
    labels = (pts[:, 0] * pts[:, 1] > 0).astype(np.int64)
    return pts + rng.uniform(-5, 5, (n, 2)) * p, labels


def _gauss(n: int, p: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    std = 0.5 + 4.0 * p
    labels = (np.arange(n) < n // 2).astype(np.int64)
    centres = np.where(labels[:, None] == 1, 2.0, -2.0)
    return centres + rng.normal(0, std, (n, 2)), labels


def _spiral(n: int, p: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    half = n // 2
    pts, labels = [], []
    for label, delta, count in ((1, 0.0, half), (0, np.pi, n - half)):
        t = np.arange(count) / count
        r = t * _RADIUS
        theta = 1.75 * t * 2 * np.pi + delta
        xy = np.stack([r * np.sin(theta), r * np.cos(theta)], 1)
        pts.append(xy + rng.uniform(-1, 1, (count, 2)) * p * _RADIUS / 5)
        labels.append(np.full(count, label, dtype=np.int64))
    return np.concatenate(pts), np.concatenate(labels)


TOY_SETS = {"circle": _circle, "xor": _xor, "gauss": _gauss, "spiral": _spiral}


def make_toy(name: str, *, n_points: int = 500, noise: float = 0.0, train_ratio: float = 50.0, seed: int = 0) -> Splits:
    """Draw a Playground-style 2-D set and split it (train_ratio % train, rest half val / half test)."""
    rng = np.random.default_rng(seed)
    pts, labels = TOY_SETS[name](n_points, noise / 100.0, rng)
    order = rng.permutation(n_points)
    n_train = int(round(train_ratio / 100.0 * n_points))
    n_val = (n_points - n_train) // 2
    parts = np.split(order, [n_train, n_train + n_val])
    x = torch.from_numpy(pts.astype(np.float32))
    y = torch.from_numpy(labels)
    s = [Split(x[i], y[i]) for i in parts]
    return Splits(name=name, task="classification", train=s[0], val=s[1], test=s[2], n_classes=2,
                  info={"noise_percent": noise, "train_ratio_percent": train_ratio})
