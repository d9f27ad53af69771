"""Check the NumPy reference against torch autograd and torch.optim.SGD, in float64."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from reglab.reference._network import Network

_TORCH_ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "linear": lambda z: z}

# (hidden activation, output activation, cost): every activation, both costs
_CASES = [
    ("sigmoid", "sigmoid", "quadratic"),
    ("tanh", "tanh", "quadratic"),
    ("relu", "linear", "quadratic"),
    ("linear", "linear", "quadratic"),
    ("sigmoid", "sigmoid", "cross_entropy"),
    ("tanh", "sigmoid", "cross_entropy"),
    ("relu", "sigmoid", "cross_entropy"),
    ("relu", "relu", "quadratic"),
]


def _torch_parameters(net: Network) -> list[torch.Tensor]:
    """[W¹, b¹, W², b², ...] as float64 leaf tensors that require grad."""
    params = []
    for w, b in zip(net.weights, net.biases):
        params += [torch.tensor(w, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)]
    return [p.requires_grad_() for p in params]


def _torch_cost(net: Network, params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cost of the same network, written with torch.nn.functional (rows = examples)."""
    a = x
    n_layers = len(params) // 2
    for l in range(n_layers):
        z = F.linear(a, params[2 * l], params[2 * l + 1])  # z = a Wᵀ + b, W is (out, in)
        name = (net.output if l == n_layers - 1 else net.hidden).name
        a = _TORCH_ACTIVATIONS[name](z)
    if net.cost_name == "quadratic":
        return 0.5 * ((a - y) ** 2).sum(dim=1).mean()
    # cross-entropy needs a sigmoid output; the logit form is computed independently of a
    return F.binary_cross_entropy_with_logits(z, y, reduction="sum") / x.shape[0]


def _flat(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in arrays])


def relative_difference(reference: np.ndarray, other: np.ndarray) -> float:
    """‖reference − other‖_∞ / max(‖other‖_∞, tiny), tiny the smallest normal float64."""
    scale = max(float(np.max(np.abs(other))), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(reference - other))) / scale


def backprop_check(seed: int = 0, n_networks: int = 8, batch_size: int = 7) -> dict[str, Any]:
    """Compare :meth:`Network.backprop` with torch autograd on random networks, in float64.

    Builds ``n_networks`` networks (1-3 hidden layers of 1-6 units, cycling through
    sigmoid/tanh/relu/linear hidden layers and both costs), copies their Wˡ
    (layout (nˡ, nˡ⁻¹), that of ``torch.nn.Linear.weight``) and bˡ into torch,
    and compares the gradients of the mean cost over a random batch. For each
    case the relative difference is

        ‖g_ref − g_torch‖_∞ / max(‖g_torch‖_∞, tiny)

    over all parameters concatenated (tiny = smallest normal float64).

    Returns:
        ``{"max_rel_diff": float, "cases": [{"sizes", "activation",
        "output_activation", "cost", "batch_size", "rel_diff"}, ...]}``;
        ``max_rel_diff`` is about 1e-15 and should be ≤ 1e-10.

    Example:
        >>> backprop_check(seed=0, n_networks=2)["max_rel_diff"] <= 1e-10
        True

    Reference: Nielsen, *Neural Networks and Deep Learning*, ch. 2 (BP1-BP4).
    """
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n_networks):
        hidden, output, cost = _CASES[i % len(_CASES)]
        sizes = [int(s) for s in rng.integers(1, 7, size=int(rng.integers(3, 6)))]
        net = Network(sizes, activation=hidden, cost=cost, seed=rng, output_activation=output)
        x = rng.standard_normal((batch_size, sizes[0]))
        y = rng.uniform(size=(batch_size, sizes[-1])) if cost == "cross_entropy" else rng.standard_normal(
            (batch_size, sizes[-1])
        )
        grads = net.backprop(x, y)
        params = _torch_parameters(net)
        _torch_cost(net, params, torch.from_numpy(x), torch.from_numpy(y)).backward()
        reference = _flat([g for pair in zip(grads.weights, grads.biases) for g in pair])
        other = _flat([p.grad.numpy() for p in params])
        cases.append(
            {
                "sizes": sizes,
                "activation": hidden,
                "output_activation": output,
                "cost": cost,
                "batch_size": batch_size,
                "rel_diff": relative_difference(reference, other),
            }
        )
    return {"max_rel_diff": max((c["rel_diff"] for c in cases), default=0.0), "cases": cases}


def reference_epoch_vs_torch(
    seed: int = 0,
    *,
    sizes: tuple[int, ...] = (4, 6, 3),
    n_examples: int = 23,
    batch_size: int = 5,
    lr: float = 0.5,
    l2: float = 0.05,
) -> float:
    """Max |difference| of the parameters after one L2-regularized SGD epoch, NumPy vs torch.

    The reference runs :meth:`Network.sgd_epoch` with α = ``l2``
    (w ← (1 − ηα)w − η∇C₀, biases unpenalized). The torch side runs a plain loop
    with ``torch.optim.SGD`` and ``weight_decay=α`` on the weights only (a second
    param group with ``weight_decay=0`` for the biases), over the same mini-batches
    in the same order, starting from the same float64 parameters. ``n_examples``
    not divisible by ``batch_size`` exercises a short last batch. The result is
    about 1e-15.

    Example:
        >>> reference_epoch_vs_torch(0) < 1e-12
        True

    Reference: Nielsen, ch. 3 ("Regularization"); torch.optim.SGD documentation.
    """
    rng = np.random.default_rng(seed)
    net = Network(list(sizes), activation="sigmoid", cost="quadratic", seed=rng)
    x = rng.standard_normal((n_examples, sizes[0]))
    y = rng.uniform(size=(n_examples, sizes[-1]))
    params = _torch_parameters(net)
    optimizer = torch.optim.SGD(
        [{"params": params[0::2], "weight_decay": l2}, {"params": params[1::2], "weight_decay": 0.0}], lr=lr
    )
    order = net.sgd_epoch(x, y, lr, batch_size, rng, l2=l2)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for start in range(0, n_examples, batch_size):
        batch = torch.from_numpy(order[start : start + batch_size])
        optimizer.zero_grad()
        _torch_cost(net, params, xt[batch], yt[batch]).backward()
        optimizer.step()
    reference = _flat([p for pair in zip(net.weights, net.biases) for p in pair])
    return float(np.max(np.abs(reference - _flat([p.detach().numpy() for p in params]))))
