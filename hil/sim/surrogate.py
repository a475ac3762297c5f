"""Spike nonlinearity with a surrogate gradient scaled to each neuron's own threshold.

Forward: a spike where the membrane current reaches the threshold, Heaviside(x) with
x = ln(Imem / Ispkthr) = u - u_th (u = ln(Imem / Io)). Backward: the fast-sigmoid derivative
1 / (2 WIDTH (1 + |x| / WIDTH)^2), bounded (peak 1 / (2 WIDTH)) and of unit area, like the
derivative of the unit step it stands in for: the gradient is O(1) per e-fold of membrane current
around *this neuron's* threshold whatever the absolute current scale, and a membrane trajectory that
sweeps across the threshold passes on exactly the unit jump of the count. Rockpool's step_pwl
instead has unit slope per ampere (reference section 1.7), which yields gradients of order 1e-8.

Written as a straight-through expression, Heaviside(x) + (g(x) - g(x).detach()) with
g(x) = x / (2 (WIDTH + |x|)), whose derivative is the slope above: the forward value is exactly the
step (g - g.detach() is exactly 0) and torch.compile can fuse it.
"""

from __future__ import annotations

import torch

WIDTH = 1.0  # surrogate width in e-folds of membrane current (~ Ut/kappa = 35 mV of Vmem)


def spike(x: torch.Tensor) -> torch.Tensor:
    """1 where x = ln(Imem/Ispkthr) >= 0, else 0; surrogate gradient
    1/(2 WIDTH (1+|x|/WIDTH)^2) (unit area)."""
    g = 0.5 * x / (WIDTH + x.abs())
    return (x >= 0).to(x.dtype) + (g - g.detach())


def surrogate_derivative(x: torch.Tensor) -> torch.Tensor:
    """The backward slope d spike / d x used by `spike` (for tests and documentation)."""
    return 0.5 / (WIDTH * (1.0 + x.abs() / WIDTH) ** 2)
