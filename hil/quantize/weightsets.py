"""The two weight sets the quantization targets of issue 10 are stated on, generated (seeded).

Units: signed weight currents [A], indexed [pre, post]; 1 Rockpool weight unit = Iscale = 10 nA.

- `tutorial(seed)`: shaped like the Rockpool Dynap-SE2 tutorial's trained weights
  (shared/reference/paper_facts.md A.3): w_in 60 x 2 with 33 positive and 87 negative entries,
  spanning -15.03 .. +12.28 units, and w_rec exactly the tutorial's [[10.72, -7.33], [-7.08, 10.12]].
  The trained w_in itself is not available here; its entries are drawn as half-normal magnitudes
  rescaled to that span, with the stated sign counts.
- `random_256(seed)`: a 256-neuron random network like the one rockpool_dynapse.md section 4 measured
  (48 recurrent plus 16 input synapses per neuron): 64 input channels, each neuron listens to 16
  distinct inputs and 48 distinct other neurons, weights Gaussian with s.d. 4 units (so the largest
  are near +-15 units, the tutorial's range).
"""

from __future__ import annotations

import numpy as np

ISCALE_A = 1e-8  # Rockpool's Iscale: one weight unit [A]
TUTORIAL_W_REC = np.array([[10.72, -7.33], [-7.08, 10.12]])


def tutorial(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(w_in (60, 2), w_rec (2, 2)) [A], tutorial-shaped (module docstring)."""
    rng = np.random.default_rng(seed)
    n_pos, n_neg = 33, 87
    sign = np.array([1.0] * n_pos + [-1.0] * n_neg)
    rng.shuffle(sign)
    mag = np.abs(rng.standard_normal(sign.size))
    w = np.empty(sign.size)
    pos, neg = sign > 0, sign < 0
    w[pos] = mag[pos] / mag[pos].max() * 12.28
    w[neg] = -mag[neg] / mag[neg].max() * 15.03
    return w.reshape(60, 2) * ISCALE_A, TUTORIAL_W_REC * ISCALE_A


def random_256(
    seed: int = 0,
    n_neurons: int = 256,
    n_inputs: int = 64,
    fan_in_rec: int = 48,
    fan_in_in: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """(w_in (n_inputs, N), w_rec (N, N)) [A], a random sparse network (module docstring)."""
    rng = np.random.default_rng(seed)
    w_in = np.zeros((n_inputs, n_neurons))
    w_rec = np.zeros((n_neurons, n_neurons))
    for post in range(n_neurons):
        ins = rng.choice(n_inputs, fan_in_in, replace=False)
        pre = rng.choice(np.delete(np.arange(n_neurons), post), fan_in_rec, replace=False)
        w_in[ins, post] = rng.normal(0, 4.0, fan_in_in)
        w_rec[pre, post] = rng.normal(0, 4.0, fan_in_rec)
    return w_in * ISCALE_A, w_rec * ISCALE_A
