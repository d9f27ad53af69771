"""The fully connected network of Nielsen ch. 2, with backprop BP1-BP4 and SGD in NumPy."""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from reglab.reference._functions import COSTS, Activation, ArrayFn, cost_value, output_error, resolve_activation

ActivationSpec = str | tuple[ArrayFn, ArrayFn]


class Gradients(NamedTuple):
    """∂C/∂Wˡ and ∂C/∂bˡ for l = 1..L (lists aligned with ``Network.weights``/``biases``)."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]


class Network:
    """A fully connected network in the notation of Nielsen, ch. 2, in float64 NumPy.

    Layer l computes zˡ = Wˡaˡ⁻¹ + bˡ and aˡ = σ(zˡ), with Wˡ of shape (nˡ, nˡ⁻¹):
    wˡⱼₖ links neuron k of layer l−1 to neuron j of layer l (the layout of
    ``torch.nn.Linear.weight``). Inputs and outputs of the public methods have one
    ROW per example, shape (batch, n⁰) → (batch, nᴸ); inside, the notes' column
    vectors are used.

    Args:
        sizes: units per layer, input first, e.g. ``[784, 30, 10]``.
        activation: "sigmoid", "tanh", "relu", "linear", or a custom ``(f, f')``
            pair of elementwise NumPy functions; used in every layer.
        cost: "quadratic" (C_x = ½‖y − aᴸ‖²) or "cross_entropy"
            (C_x = −Σⱼ[yⱼ ln aⱼᴸ + (1 − yⱼ) ln(1 − aⱼᴸ)]).
        seed: int or ``np.random.Generator`` for the initialization
            Wˡ ~ N(0, 1/nˡ⁻¹), bˡ ~ N(0, 1) (Nielsen ch. 3, "weight initialization").
        output_activation: activation of layer L if it differs from ``activation``
            (e.g. "sigmoid" with cross-entropy over tanh hidden layers).

    Example:
        >>> net = Network([2, 3, 1], activation="tanh", cost="quadratic", seed=0)
        >>> grads = net.backprop(np.ones((4, 2)), np.zeros((4, 1)))
        >>> [g.shape for g in grads.weights]
        [(3, 2), (1, 3)]

    Reference: M. Nielsen, *Neural Networks and Deep Learning*, ch. 2 and 3.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        activation: ActivationSpec = "sigmoid",
        cost: str = "quadratic",
        seed: int | np.random.Generator,
        output_activation: ActivationSpec | None = None,
    ) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes needs at least two layers of ≥ 1 unit, got {sizes}")
        if cost not in COSTS:
            raise ValueError(f"unknown cost {cost!r}; choose one of {list(COSTS)}")
        self.sizes = sizes
        self.cost_name = cost
        self.hidden = resolve_activation(activation)
        self.output = resolve_activation(activation if output_activation is None else output_activation)
        if cost == "cross_entropy" and self.output.name in ("tanh", "relu", "linear"):
            raise ValueError(
                f"cross_entropy needs outputs in (0, 1); a {self.output.name!r} output layer gives none"
            )
        rng = np.random.default_rng(seed)
        self.weights = [rng.standard_normal((m, k)) / np.sqrt(k) for k, m in zip(sizes[:-1], sizes[1:])]
        self.biases = [rng.standard_normal(m) for m in sizes[1:]]

    @classmethod
    def from_parameters(
        cls,
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        *,
        activation: ActivationSpec = "sigmoid",
        cost: str = "quadratic",
        output_activation: ActivationSpec | None = None,
    ) -> "Network":
        """A network with the given Wˡ (shape (nˡ, nˡ⁻¹)) and bˡ (shape (nˡ,)), copied to float64."""
        sizes = [np.shape(weights[0])[1]] + [np.shape(w)[0] for w in weights]
        net = cls(sizes, activation=activation, cost=cost, seed=0, output_activation=output_activation)
        for l, (w, b) in enumerate(zip(weights, biases, strict=True)):
            w, b = np.array(w, dtype=np.float64), np.array(b, dtype=np.float64)
            if w.shape != net.weights[l].shape or b.shape != net.biases[l].shape:
                raise ValueError(f"layer {l + 1}: W {w.shape} and b {b.shape} do not chain with the other layers")
            net.weights[l], net.biases[l] = w, b
        return net

    def _activation(self, layer: int) -> Activation:
        return self.output if layer == len(self.weights) - 1 else self.hidden

    def _forward(self, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """zˡ and aˡ for every layer, columns = examples; activations[0] = a⁰ = x."""
        activations, zs = [x], []
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            zs.append(w @ activations[-1] + b[:, None])
            activations.append(self._activation(l).f(zs[-1]))
        return zs, activations

    def _columns(self, x: np.ndarray, width: int, what: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != width:
            raise ValueError(f"{what} must have shape (batch, {width}), got {x.shape}")
        return x.T

    def feedforward(self, x: np.ndarray) -> np.ndarray:
        """aᴸ for each row of ``x`` (shape (batch, n⁰)); returns shape (batch, nᴸ)."""
        _, activations = self._forward(self._columns(x, self.sizes[0], "x"))
        return activations[-1].T

    def cost(self, x: np.ndarray, y: np.ndarray) -> float:
        """C₀ = (1/m)Σₓ Cₓ over the m rows of ``x``, ``y`` (no penalty)."""
        a = self._columns(x, self.sizes[0], "x")
        return cost_value(self.cost_name, self._forward(a)[1][-1], self._columns(y, self.sizes[-1], "y"))

    def backprop(self, x_batch: np.ndarray, y_batch: np.ndarray) -> Gradients:
        """Gradient of the MEAN cost C₀ = (1/m)Σₓ Cₓ over the batch, by BP1-BP4.

        With one column per example x (vectorized over the batch):

        * BP1 δᴸ = ∇ₐCₓ ⊙ σ'(zᴸ)  (cross-entropy with sigmoid output: δᴸ = aᴸ − y)
        * BP2 δˡ = ((Wˡ⁺¹)ᵀδˡ⁺¹) ⊙ σ'(zˡ)
        * BP3 ∂C/∂bˡⱼ = (1/m)Σₓ δˡⱼ
        * BP4 ∂C/∂wˡⱼₖ = (1/m)Σₓ aˡ⁻¹ₖ δˡⱼ, i.e. (1/m) δˡ(aˡ⁻¹)ᵀ

        Args:
            x_batch: inputs, shape (m, n⁰).
            y_batch: targets, shape (m, nᴸ).

        Returns:
            :class:`Gradients` with the same shapes as ``weights`` and ``biases``.

        Reference: Nielsen, ch. 2, "The four fundamental equations behind backpropagation";
        lecture notes (seed 003) eqs. (11), (18), (19), (20).
        """
        x = self._columns(x_batch, self.sizes[0], "x_batch")
        y = self._columns(y_batch, self.sizes[-1], "y_batch")
        if x.shape[1] != y.shape[1]:
            raise ValueError(f"x_batch has {x.shape[1]} rows but y_batch has {y.shape[1]}")
        m = x.shape[1]
        zs, activations = self._forward(x)
        delta = output_error(self.cost_name, activations[-1], zs[-1], y, self.output)  # BP1
        grad_w, grad_b = [np.empty(0)] * len(self.weights), [np.empty(0)] * len(self.biases)
        for l in range(len(self.weights) - 1, -1, -1):
            if l < len(self.weights) - 1:
                delta = (self.weights[l + 1].T @ delta) * self.hidden.prime(zs[l])  # BP2
            grad_b[l] = delta.sum(axis=1) / m  # BP3
            grad_w[l] = delta @ activations[l].T / m  # BP4
        return Gradients(grad_w, grad_b)

    def update_mini_batch(
        self, x_batch: np.ndarray, y_batch: np.ndarray, lr: float, *, l2: float = 0.0, l1: float = 0.0
    ) -> None:
        """One SGD step on the mini-batch, in place, with reglab strengths α₂ = ``l2``, α₁ = ``l1``.

        The update rules of Nielsen ch. 3 with his λ/n written as α (the penalty
        is on the mean cost, C = C₀ + (α₂/2)‖w‖² + α₁‖w‖₁):

            w ← (1 − ηα₂)w − ηα₁ sgn(w) − η ∂C₀/∂w,        b ← b − η ∂C₀/∂b,

        where ∂C₀ is the mean gradient over the mini-batch. Biases are not penalized.
        With l1 = 0 this is the notes' eq. (28); with l2 = 0, eq. (41), with sgn(0) = 0.
        """
        grads = self.backprop(x_batch, y_batch)
        for l, (gw, gb) in enumerate(zip(grads.weights, grads.biases)):
            w = self.weights[l]
            self.weights[l] = (1.0 - lr * l2) * w - lr * l1 * np.sign(w) - lr * gw
            self.biases[l] = self.biases[l] - lr * gb

    def sgd_epoch(
        self,
        x: np.ndarray,
        y: np.ndarray,
        lr: float,
        batch_size: int,
        rng_or_seed: int | np.random.Generator,
        l2: float = 0.0,
        l1: float = 0.0,
        n: int | None = None,
        convention: str = "reglab",
    ) -> np.ndarray:
        """One epoch of mini-batch SGD, in place; returns the example order used.

        The rows of ``x``, ``y`` are shuffled by ``rng_or_seed.permutation`` and cut
        into consecutive mini-batches of ``batch_size`` (the last may be smaller);
        each gets :meth:`update_mini_batch`.

        Strength conventions: with ``convention="reglab"``, ``l2`` and ``l1`` are α
        (penalty on the mean cost). With ``convention="nielsen"`` they are Nielsen's
        λ, C = C₀ + (λ/2n)‖w‖² + (λ/n)‖w‖₁, converted by α = λ/n with ``n`` the
        training-set size (default ``len(x)``).

        Example:
            >>> net = Network([2, 1], activation="linear", seed=0)
            >>> order = net.sgd_epoch(np.ones((6, 2)), np.zeros((6, 1)), 0.1, 4, 0, l2=5.0, convention="nielsen")
            >>> sorted(order.tolist())
            [0, 1, 2, 3, 4, 5]

        Reference: Nielsen, ch. 1 (``SGD``/``update_mini_batch``) and ch. 3 ("Regularization").
        """
        if not (lr > 0 and batch_size >= 1 and l2 >= 0 and l1 >= 0):
            raise ValueError(
                "need lr > 0, batch_size ≥ 1, l2 ≥ 0, l1 ≥ 0; "
                f"got lr={lr}, batch_size={batch_size}, l2={l2}, l1={l1}"
            )
        if convention == "nielsen":
            n = len(x) if n is None else n
            l2, l1 = l2 / n, l1 / n
        elif convention != "reglab":
            raise ValueError(f"unknown convention {convention!r}; choose 'reglab' or 'nielsen'")
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        order = np.random.default_rng(rng_or_seed).permutation(len(x))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            self.update_mini_batch(x[batch], y[batch], lr, l2=l2, l1=l1)
        return order
