"""Adadelta that updates an embedding's rows only when they have a gradient: exact, and fast.

Why: Kim's CNN-rand trains a (V, 300) embedding with Adadelta (Zeiler 2012), and a dense
Adadelta step touches all V rows of four (V, E) tensors, although a batch of 50 sentences
uses a few hundred words. Measured on this 2-core CPU (MR, V = 18.7k, 1 thread): the dense
optimizer step took longer than the forward and backward passes together (68.6 ms against
56.5 ms per batch of 50).

Why skipping is exact: for a row whose gradient is zero, an Adadelta step is
``E[g²] ← ρ·E[g²]``, ``Δx = 0``, ``E[Δx²] ← ρ·E[Δx²]``: both running averages decay and the
parameter does not move. So ``k`` skipped steps are one multiplication of both averages by
``ρᵏ``, which this optimizer applies when the row is next used (it keeps, per row, the step of
its last update), then it takes the ordinary step. Parameters equal ``torch.optim.Adadelta``'s
to float rounding at every step (tests/train/test_lazy_adadelta.py); the running averages of
rows not yet revisited are stored undecayed (``row_step`` says since when).

Param groups with ``lazy_rows=True`` get the row-wise update (2-D parameters, dense gradients:
nothing else changes for clipping, DDP or diagnostics); other groups take torch.optim.Adadelta's
dense step. Weight decay makes every row's gradient non-zero, so a lazy group refuses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from seqlab.errors import ConfigurationError

__all__ = ["LazyAdadelta"]


class LazyAdadelta(torch.optim.Optimizer):
    """Adadelta (Zeiler 2012) with exact lazy row updates for ``lazy_rows=True`` groups.

    Args:
        params: parameters or param groups (a group may set ``lazy_rows``).
        lr, rho, eps, weight_decay: as ``torch.optim.Adadelta``.
        lazy_rows: the default for groups that do not set it.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, lazy_rows: bool = False) -> None:
        if not lr >= 0.0:
            raise ConfigurationError(f"Adadelta lr must be >= 0, got {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ConfigurationError(f"Adadelta rho must be in [0, 1], got {rho}")
        if not eps >= 0.0:
            raise ConfigurationError(f"Adadelta eps must be >= 0, got {eps}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, lazy_rows=lazy_rows))
        for group in self.param_groups:
            if group["lazy_rows"]:
                if group["weight_decay"] != 0:
                    raise ConfigurationError(
                        "LazyAdadelta: weight_decay gives every embedding row a gradient at every step, so a "
                        "lazy_rows group cannot use it; set weight_decay=0 or lazy_rows=False for that group."
                    )
                bad = [tuple(p.shape) for p in group["params"] if p.dim() != 2]
                if bad:
                    raise ConfigurationError(f"LazyAdadelta: lazy_rows needs 2-D (rows, features) parameters, got {bad}")

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state, also one saved by ``torch.optim.Adadelta`` over the same parameters.

        seqlab's Adadelta recipes used torch's (one param group) before this optimizer (a
        lazy group, then the rest). When the saved single group holds the same parameters in
        the same flat order (the embedding first, as in every seqlab classifier), and every
        saved average has its parameter's shape, it is split into this optimizer's groups;
        its rows are up to date, so ``row_step`` starts at the saved step.
        """
        saved = state_dict.get("param_groups", [])
        if len(saved) == 1 and len(self.param_groups) > 1:
            flat = [p for group in self.param_groups for p in group["params"]]
            ids = list(saved[0]["params"])
            shapes_match = len(ids) == len(flat) and all(
                tuple(state_dict["state"][i]["square_avg"].shape) == tuple(p.shape)
                for i, p in zip(ids, flat) if i in state_dict["state"]
            )
            if shapes_match:
                groups, start = [], 0
                for group in self.param_groups:
                    n = len(group["params"])
                    groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids[start:start + n]})
                    start += n
                state_dict = {"state": state_dict["state"], "param_groups": groups}
        super().load_state_dict(state_dict)

    def _state(self, p: Tensor, lazy: bool) -> dict:
        state = self.state[p]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32)
            state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["acc_delta"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if lazy and "row_step" not in state:
            # a state without it (fresh, or torch's Adadelta) is up to date on every row
            state["row_step"] = torch.full((p.shape[0],), int(state["step"]), dtype=torch.long, device=p.device)
        return state

    @torch.no_grad()
    def step(self, closure=None):
        """One Adadelta step; the lazy groups only touch rows with a non-zero gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, rho, eps, wd, lazy = group["lr"], group["rho"], group["eps"], group["weight_decay"], group["lazy_rows"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    raise ConfigurationError("LazyAdadelta takes dense gradients (nn.Embedding(sparse=False)).")
                state = self._state(p, lazy)
                state["step"] += 1
                if not lazy:
                    if wd != 0:
                        grad = grad.add(p, alpha=wd)
                    _adadelta_(p, grad, state["square_avg"], state["acc_delta"], lr, rho, eps)
                    continue
                step = int(state["step"])
                # a row is non-zero iff its max or its min is (two fast reductions; a NaN counts)
                rows = (grad.amax(dim=1).ne(0) | grad.amin(dim=1).ne(0)).nonzero().squeeze(1)  # (R,)
                if rows.numel() == 0:
                    continue
                skipped = (step - 1 - state["row_step"][rows]).to(p.dtype)  # (R,) steps with a zero gradient
                decay = torch.pow(torch.as_tensor(rho, dtype=p.dtype, device=p.device), skipped).unsqueeze(1)
                square_avg = state["square_avg"][rows].mul_(decay)  # (R, E)
                acc_delta = state["acc_delta"][rows].mul_(decay)
                param = p[rows]
                _adadelta_(param, grad[rows], square_avg, acc_delta, lr, rho, eps)
                p[rows] = param
                state["square_avg"][rows] = square_avg
                state["acc_delta"][rows] = acc_delta
                state["row_step"][rows] = step
        return loss


def _adadelta_(param: Tensor, grad: Tensor, square_avg: Tensor, acc_delta: Tensor, lr: float, rho: float,
               eps: float) -> None:
    """Zeiler (2012), Algorithm 1, in place, in torch.optim.Adadelta's order of operations."""
    square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)
    std = square_avg.add(eps).sqrt_()
    delta = acc_delta.add(eps).sqrt_().div_(std).mul_(grad)
    acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)
    param.add_(delta, alpha=-lr)
