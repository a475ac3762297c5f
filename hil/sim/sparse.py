"""Sparse recurrent connectivity for the fused kernels: the synapses a spike reaches, not a row of
N x K columns.

The chip stores fan-in: at most 64 CAM entries per neuron (a fixed-width (source, type, weight)
table, an ELL layout; `ell_from_netlist` builds it from hil.chip.netlist). A spike-driven kernel
needs the transpose, fan-out by source: `fanout(w)` gives it as compressed rows (indptr, columns,
values) of the flattened (N, K N) weight currents over the simulated types, with the columns of
each row ascending, so the kernels add the same terms in the same order as the dense rows (the
zeros they skip add exact zeros): spikes and gradients are identical on both paths.
`use_sparse(w)` is the rule simulate applies by default: the sparse rows when at most
SPARSE_DENSITY of the weights are non-zero (the chip's 64 entries over N >= 512 neurons always are).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hil.chip.netlist import Netlist

# the scatter of one sparse entry costs a few dense row elements (vectorized loads and adds);
# below this fraction of non-zero weights the sparse rows are cheaper (docs/sim.md "Sparse")
SPARSE_DENSITY = 0.125
Csr = tuple[np.ndarray, np.ndarray, np.ndarray]


def no_csr() -> Csr:
    """The empty triple the kernels read as "dense rows"."""
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)


def use_sparse(w: np.ndarray) -> bool:
    """Whether the flattened weights (N, K N) are sparse enough for the sparse rows."""
    return bool(w.size > 0 and np.count_nonzero(w) <= SPARSE_DENSITY * w.size)


def fanout(w: np.ndarray) -> Csr:
    """Compressed rows of (N, M) weights: indptr (N + 1,) int64, columns (nnz,) int64 ascending
    within each row, values (nnz,) float32."""
    rows, cols = np.nonzero(w)  # row-major: rows ascending, columns ascending within a row
    indptr = np.zeros(w.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=w.shape[0]), out=indptr[1:])
    return indptr, cols.astype(np.int64), np.ascontiguousarray(w[rows, cols], dtype=np.float32)


@dataclass(frozen=True)
class Ell:
    """Recurrent fan-in as the chip holds it: for each post neuron (column) `width` entries.

    source (N, width) int64: the presynaptic column, -1 for an unused entry; types (N, width)
    int64: the synapse type (hil.chip.netlist.SYNAPSE_TYPES index); weight (N, width) [A]."""

    source: np.ndarray
    types: np.ndarray
    weight: np.ndarray

    @property
    def width(self) -> int:
        return int(self.source.shape[1])

    def dense(self) -> np.ndarray:
        """(4, N, N) weight currents [type, pre, post] [A], as hil.sim.Weights.w_rec holds them."""
        n = self.source.shape[0]
        w = np.zeros((4, n, n))
        post, slot = np.nonzero(self.source >= 0)
        np.add.at(
            w, (self.types[post, slot], self.source[post, slot], post), self.weight[post, slot]
        )
        return w


def ell_from_netlist(net: Netlist, weight_factor: np.ndarray | None = None) -> Ell:
    """The recurrent synapses of a netlist (one row per (source, CAM entry) that hears it) as an
    ELL table over the netlist's columns; the width is the largest fan-in (64 CAM entries each
    hear one tag, so more than 64 only where several sources share a tag)."""
    s = net.synapses
    rec = ~s["from_input"]
    w = net.weights(weight_factor)[rec]
    post = net.columns(s["target"][rec])
    pre = net.columns(s["source"][rec])
    typ = s["type"][rec].astype(np.int64)
    n = net.neurons.size
    order = np.argsort(post, kind="stable")
    post, pre, typ, w = post[order], pre[order], typ[order], w[order]
    count = np.bincount(post, minlength=n)
    width = int(count.max()) if count.size else 0
    slot = np.arange(post.size) - np.repeat(np.cumsum(count) - count, count)
    source = np.full((n, width), -1, np.int64)
    types = np.zeros((n, width), np.int64)
    weight = np.zeros((n, width))
    source[post, slot], types[post, slot], weight[post, slot] = pre, typ, w
    return Ell(source, types, weight)
