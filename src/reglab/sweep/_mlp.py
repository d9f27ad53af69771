"""M multilayer perceptrons of one shape, forward and backward at once on stacked weights.

The vectorized engine's fast path for MLP templates (``nn.Sequential`` of an
optional ``Flatten``, ``Linear`` layers and element-wise activations): member m's
layer l holds ``W[m]`` (out × in) and ``b[m]``, and one mini-batch step is::

    z_l = h_{l−1} W_lᵀ + b_l            one torch.baddbmm over the members (M, B, out)
    h_l = φ(z_l)
    gz_L = ∂/∂z_L Σ_m C₀ᵐ(z_L[m], y[m])  autograd through the data loss only
    ∇W_l = gz_lᵀ h_{l−1},  ∇b_l = Σ_b gz_l,  gz_{l−1} = (gz_l W_l) ⊙ φ'(z_{l−1})

Members are independent, so the gradient of the *sum* of their mean losses is
each member's own gradient. The weight gradients (the large tensors) are
written into buffers allocated once (``out=``): a step allocates nothing the
size of the weights, which on a CPU matters as much as the arithmetic (fresh
multi-megabyte buffers cost a page fault per 4 KiB on first touch). The
activations' derivatives come from their outputs through the kernels autograd's
backward calls (tanh: 1 − h², sigmoid: h(1 − h), ReLU: 1[h > 0]); the tests hold
every member to its separate :func:`reglab.train.train` run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["StackedMLP", "mlp_layers"]

_ACTIVATIONS = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Identity)


@dataclass(frozen=True)
class _Layer:
    weight: str
    bias: str | None
    activation: nn.Module | None  # applied after this layer (None: the output layer, or the identity)


def mlp_layers(template: nn.Module) -> list[_Layer] | None:
    """The layers of an MLP template, or None when the template is anything else (the vmap path then runs)."""
    if not isinstance(template, nn.Sequential):
        return None
    modules = list(template.named_children())
    if modules and isinstance(modules[0][1], nn.Flatten):
        if (modules[0][1].start_dim, modules[0][1].end_dim) != (1, -1):
            return None
        modules = modules[1:]
    layers: list[_Layer] = []
    for name, module in modules:
        if type(module) is nn.Linear:  # exact classes: a subclass may compute something else
            layers.append(_Layer(f"{name}.weight", f"{name}.bias" if module.bias is not None else None, None))
        elif type(module) in _ACTIVATIONS and layers and layers[-1].activation is None:
            if type(module) is not nn.Identity:
                layers[-1] = _Layer(layers[-1].weight, layers[-1].bias, module)
        else:
            return None
    if layers and layers[-1].activation is not None:
        return None  # the loss takes the last Linear's output (the gradient at z_L has no φ' here)
    return layers or None


def _activation_grad(activation: nn.Module, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """g ⊙ φ'(z) from the activation's output h = φ(z), by the kernels autograd's own backward uses."""
    if isinstance(activation, nn.ReLU):
        return torch.ops.aten.threshold_backward(g, h, 0.0)  # 1[h > 0]: ReLU's derivative, 0 at 0
    if isinstance(activation, nn.Tanh):
        return torch.ops.aten.tanh_backward(g, h)  # 1 − h²
    return torch.ops.aten.sigmoid_backward(g, h)  # h(1 − h)


class StackedMLP:
    """Forward and backward of the stacked members of an MLP template (see the module docstring).

    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    >>> params = {n: torch.stack([p.detach()] * 2) for n, p in net.named_parameters()}
    >>> mlp = StackedMLP(mlp_layers(net), params, nn.functional.cross_entropy)
    >>> grads, loss = mlp.grads(params, torch.ones(2, 5, 3), torch.zeros(2, 5, dtype=torch.long))
    >>> grads["1.weight"].shape, bool(loss[0] == loss[1])
    (torch.Size([2, 4, 3]), True)
    """

    def __init__(self, layers: list[_Layer], params: dict[str, torch.Tensor],
                 loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        self.layers = layers
        self.loss_fn = loss_fn
        self.buffers: dict[str, torch.Tensor] = {}
        self._views: dict[str, tuple[torch.Tensor, tuple[torch.Tensor, ...]]] = {}
        self.resize(params)

    def resize(self, params: dict[str, torch.Tensor]) -> None:
        """(Re)allocate the gradient buffers for ``params`` (after members leave the stack)."""
        self.buffers = {n: torch.empty_like(t) for n, t in params.items()}

    def forward(self, params: dict[str, torch.Tensor], x: torch.Tensor, *, shared: bool = False
                ) -> list[torch.Tensor]:
        """Every layer's input and the output, [h₀, h₁, …, z_L].

        ``x`` is (M, B, …), a batch per member, or with ``shared`` one (B, …) batch that
        every member sees (evaluation; broadcast, never copied M times).
        """
        h = x.flatten(start_dim=1 if shared else 2)
        outs = [h]
        for layer in self.layers:
            w = params[layer.weight].mT
            if layer.bias is None:
                z = torch.matmul(h, w)
            elif h.dim() == 3:
                z = torch.baddbmm(params[layer.bias].unsqueeze(1), h, w)
            else:  # the shared first input: matmul broadcasts it over the members
                z = torch.matmul(h, w).add_(params[layer.bias].unsqueeze(1))
            h = layer.activation(z) if layer.activation is not None else z
            outs.append(h)
        return outs

    def sgd_step(self, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, lrs: list[float],
                 lr_column: torch.Tensor, decay: dict[str, tuple[list[float], torch.Tensor]]) -> torch.Tensor:
        """Plain SGD with the gradient never stored: ``w ← c·w − η·∇C₀`` per member; returns the losses (M,).

        ``lrs`` are the members' η (``lr_column`` the same as an (M,) tensor);
        ``decay[name]`` the members' factors c on that tensor, as numbers and as an (M,)
        tensor (1 − η·α for L2 on the old weights, 1 − η·wd for decoupled decay;
        a tensor left out has c = 1).
        Each weight update is one ``addmm_`` (c·W + (−η)·gᵀh) on the member's slice,
        so a weight matrix is read and written once per step, not three times.
        """
        outs, g, loss = self._output_grad(params, x, y)
        with torch.no_grad():
            for i in range(len(self.layers) - 1, -1, -1):
                layer, h_in = self.layers[i], outs[i]
                w = params[layer.weight]
                g_next = self._backpropagate(i, g, w, h_in) if i > 0 else None  # uses the weights before the step
                factors = decay[layer.weight][0] if layer.weight in decay else [1.0] * len(lrs)
                for w_m, g_m, h_m, c, lr in zip(self._rows(layer.weight, w), g.mT.unbind(0), h_in.unbind(0),
                                                factors, lrs):
                    w_m.addmm_(g_m, h_m, beta=c, alpha=-lr)
                if layer.bias is not None:
                    b = params[layer.bias]
                    if layer.bias in decay:
                        b.mul_(decay[layer.bias][1].unsqueeze(1))
                    b.addcmul_(g.sum(dim=1), lr_column.unsqueeze(1), value=-1)
                g = g_next
        return loss

    def _output_grad(self, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor
                     ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            outs = self.forward(params, x)
        out = outs[-1].detach().requires_grad_()
        with torch.enable_grad():
            if self.loss_fn is F.cross_entropy:  # one call for all members: the per-example terms, then means
                terms = F.cross_entropy(out.flatten(0, 1), y.flatten(0, 1), reduction="none")
                loss = terms.view(out.shape[:2]).mean(dim=1)
            else:  # each member's own loss call, as its separate run makes it
                loss = torch.stack([self.loss_fn(o, t) for o, t in zip(out.unbind(0), y.unbind(0))])
            (g,) = torch.autograd.grad(loss.sum(), out)
        return outs, g, loss.detach()

    def _rows(self, name: str, stacked: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The members' views of a stacked tensor (cached while the stack is the same tensor)."""
        cached = self._views.get(name)
        if cached is None or cached[0] is not stacked:
            cached = self._views[name] = (stacked, stacked.unbind(0))
        return cached[1]

    def _backpropagate(self, i: int, g: torch.Tensor, w: torch.Tensor, h_in: torch.Tensor) -> torch.Tensor:
        """∂/∂z_{i−1} from ∂/∂z_i: (g W) ⊙ φ'(z_{i−1})."""
        g = torch.bmm(g, w)
        before = self.layers[i - 1].activation
        return _activation_grad(before, g, h_in) if before is not None else g

    def grads(self, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor
              ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Each member's gradient of its mean data loss on its batch (in the buffers) and the losses (M,)."""
        outs, g, loss = self._output_grad(params, x, y)
        with torch.no_grad():
            for i in range(len(self.layers) - 1, -1, -1):
                layer, h_in = self.layers[i], outs[i]
                torch.bmm(g.mT, h_in, out=self.buffers[layer.weight])
                if layer.bias is not None:
                    torch.sum(g, dim=1, out=self.buffers[layer.bias])
                if i > 0:
                    g = self._backpropagate(i, g, params[layer.weight], h_in)
        return self.buffers, loss
