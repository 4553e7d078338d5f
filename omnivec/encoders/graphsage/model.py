"""The GraphSAGE network (PyG ``SAGEConv`` layers), its full-batch training, and weights as
bytes.

Aggregation is a *weighted mean* over a node's neighbours in the undirected view of the graph
(:class:`~omnivec.encoders.graphsage.features.AggregationGraph`): the adjacency, rows
normalised to sum to one, is a torch sparse CSR matrix multiplied with ``torch.sparse.mm``
(neither pyg-lib nor torch-sparse is needed). Each layer is a PyG ``SAGEConv(aggr="sum")``
whose update ``lin_l(mean of neighbours) + lin_r(self)`` is applied with that product; the
product's backward uses a pre-transposed matrix, which made a full-batch step several times
faster than torch's own CSR backward (docs/graphs.md).
"""

from __future__ import annotations

import io
import itertools
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from omnivec.encoders.graphsage.features import AggregationGraph

__all__ = [
    "build_model",
    "normalized_adjacency",
    "pack_state",
    "pair_batches",
    "train",
    "unpack_state",
]


def build_model(in_features: int, hidden: int, dim: int, layers: int, seed: int) -> Any:
    """``layers`` SAGEConv layers ``in_features -> hidden -> ... -> dim`` with ReLU between;
    parameters initialised from ``seed``."""
    import torch
    from torch_geometric.nn import SAGEConv

    class SAGE(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            sizes = [in_features] + [hidden] * (layers - 1) + [dim]
            self.convs = torch.nn.ModuleList(
                SAGEConv(a, b, aggr="sum") for a, b in itertools.pairwise(sizes)
            )

        def forward(self, x: Any, adj: tuple[Any, Any]) -> Any:
            convs: list[Any] = list(self.convs)
            for i, conv in enumerate(convs):
                # SAGEConv's own update (aggr="sum", root weight, no normalisation), with the
                # neighbour mean as a sparse product whose backward uses the pre-transposed
                # matrix: torch's CSR backward took ~75% of a step (measured, 9k nodes)
                x = conv.lin_l(_SpMM.apply(x, adj[0], adj[1])) + conv.lin_r(x)
                if i < len(convs) - 1:
                    x = torch.relu(x)
            return x

    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return SAGE()
    finally:
        torch.random.set_rng_state(state)


def _spmm_class() -> Any:
    import torch

    class SpMM(torch.autograd.Function):  # type: ignore[misc]
        """``a @ x`` for a sparse ``a`` whose transpose ``a_t`` is given for the backward."""

        @staticmethod
        def forward(ctx: Any, x: Any, a: Any, a_t: Any) -> Any:
            ctx.a_t = a_t
            return torch.sparse.mm(a, x)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            gx = torch.sparse.mm(ctx.a_t, grad) if ctx.needs_input_grad[0] else None
            return gx, None, None

    return SpMM


class _LazySpMM:
    """Builds the autograd function on first use, so importing this module needs no torch."""

    _cls: Any = None

    def apply(self, x: Any, a: Any, a_t: Any) -> Any:
        if self._cls is None:
            type(self)._cls = _spmm_class()
        return self._cls.apply(x, a, a_t)


_SpMM = _LazySpMM()


def normalized_adjacency(agg: AggregationGraph) -> tuple[Any, Any]:
    """The weighted-mean operator and its transpose, float32 torch sparse CSR ``(n, n)``: row
    ``i`` of the first holds ``w(i, j) / sum_j w(i, j)`` (an isolated node's row is empty)."""
    import scipy.sparse as sp
    import torch

    n = agg.num_nodes
    rows = np.repeat(np.arange(n), np.diff(agg.indptr))
    deg = np.bincount(rows, weights=agg.weights, minlength=n)
    vals = (agg.weights / np.maximum(deg[rows], 1e-300)).astype(np.float32)
    mean = sp.csr_matrix((vals, agg.indices, agg.indptr), shape=(n, n))
    out = []
    for m in (mean, mean.T.tocsr()):
        m.sort_indices()
        with warnings.catch_warnings():
            # "sparse CSR tensor support is in beta": the one op used here (spmm) is stable
            warnings.simplefilter("ignore", UserWarning)
            out.append(
                torch.sparse_csr_tensor(
                    torch.from_numpy(m.indptr.astype(np.int64)),
                    torch.from_numpy(m.indices.astype(np.int64)),
                    torch.from_numpy(m.data.astype(np.float32)),
                    size=(n, n),
                )
            )
    return out[0], out[1]


def pair_batches(walks: np.ndarray, context_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Skip-gram pairs of walks (int32 ``(B, L + 1)``, ``-1`` padded): the first node of each
    window of ``context_size`` nodes with each later one. Two int64 ``(P,)`` arrays."""
    us, vs = [], []
    length = walks.shape[1]
    for j in range(1, context_size):
        u = walks[:, : length - j].reshape(-1)
        v = walks[:, j:].reshape(-1)
        ok = (u >= 0) & (v >= 0) & (u != v)
        us.append(u[ok])
        vs.append(v[ok])
    return np.concatenate(us).astype(np.int64), np.concatenate(vs).astype(np.int64)


def train(
    model: Any,
    x: Any,
    adj: Any,
    steps: int,
    lr: float,
    sample: Callable[[int], tuple[np.ndarray, np.ndarray]],
    num_negative: int,
    gen: Any,
    labels: tuple[np.ndarray, np.ndarray, int] | None,
    on_step: Callable[[float], None],
) -> list[float]:
    """Adam on the unsupervised walk loss (plus cross-entropy of a linear head on the output
    when ``labels`` = (node rows, class ids, n classes) are given); returns the loss per step.

    Each step is one full-batch forward pass: ``-log σ(z_u·z_v)`` over the walk pairs of
    ``sample(step)`` and ``-log σ(-z_u·z_n)`` over ``num_negative`` uniform negatives per pair.
    """
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    params = list(model.parameters())
    head = None
    if labels is not None:
        head = torch.nn.Linear(model.convs[-1].out_channels, labels[2])
        params += list(head.parameters())
        rows_t = torch.from_numpy(labels[0])
        y_t = torch.from_numpy(labels[1])
    opt = torch.optim.Adam(params, lr=lr)
    history = []
    model.train()
    for step in range(steps):
        u_np, v_np = sample(step)
        z = model(x, adj)
        loss = torch.zeros(())
        if u_np.size:
            u = torch.from_numpy(u_np)
            v = torch.from_numpy(v_np)
            neg = torch.randint(0, n, (u.shape[0], num_negative), generator=gen)
            # index_select: its backward is index_add_, several times faster on the CPU than
            # the backward of z[idx] (measured)
            zu = z.index_select(0, u)
            pos = (zu * z.index_select(0, v)).sum(-1)
            zn = z.index_select(0, neg.reshape(-1)).view(neg.shape[0], num_negative, -1)
            negs = torch.bmm(zn, zu.unsqueeze(-1)).squeeze(-1)
            loss = -F.logsigmoid(pos).mean() - F.logsigmoid(-negs).mean()
        if head is not None:
            loss = loss + F.cross_entropy(head(z[rows_t]), y_t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            from omnivec.errors import EncoderError

            raise EncoderError(
                f"graphsage training diverged at step {step + 1} (loss {value}); "
                "lower lr or scale the features"
            )
        history.append(value)
        on_step(value)
    model.eval()
    return history


def pack_state(model: Any, mean: np.ndarray, scale: np.ndarray) -> bytes:
    """Weights and feature scaling as one ``.npz`` (no pickle): ``param:<name>`` arrays and
    ``feature_mean`` / ``feature_scale`` float64 ``(f,)``."""
    arrays = {f"param:{k}": v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    arrays["feature_mean"] = mean
    arrays["feature_scale"] = scale
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def unpack_state(data: bytes, model: Any) -> tuple[np.ndarray, np.ndarray]:
    """Load :func:`pack_state` bytes into ``model``; returns (feature mean, feature scale)."""
    import torch

    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        params = {
            k[len("param:") :]: torch.from_numpy(np.array(npz[k]))
            for k in npz.files
            if k.startswith("param:")
        }
        mean, scale = np.array(npz["feature_mean"]), np.array(npz["feature_scale"])
    model.load_state_dict(params)
    model.eval()
    return mean, scale
