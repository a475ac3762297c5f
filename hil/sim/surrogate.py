"""Spike nonlinearity with a surrogate gradient scaled to each neuron's own threshold.

Forward: a spike where the membrane current reaches the threshold, Heaviside(x) with
x = ln(Imem / Ispkthr) = u - u_th (u = ln(Imem / Io)). Backward: the fast-sigmoid derivative
1 / (1 + |x| / width)^2 / width, so the gradient is O(1) per e-fold of membrane current around
*this neuron's* threshold whatever the absolute current scale. Rockpool's step_pwl instead has unit
slope per ampere (reference section 1.7), which yields gradients of order 1e-8.
"""

from __future__ import annotations

import torch

WIDTH = 1.0  # surrogate width in e-folds of membrane current (~ Ut/kappa = 35 mV of Vmem)


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad / (WIDTH * (1.0 + x.abs() / WIDTH) ** 2)


def spike(x: torch.Tensor) -> torch.Tensor:
    """1 where x = ln(Imem/Ispkthr) >= 0, else 0; surrogate gradient 1/(1+|x|)^2."""
    return _Spike.apply(x)


def surrogate_derivative(x: torch.Tensor) -> torch.Tensor:
    """The backward slope d spike / d x used by `spike` (for tests and documentation)."""
    return 1.0 / (WIDTH * (1.0 + x.abs() / WIDTH) ** 2)
