"""Recurrent state helpers: one walk over nested states and batches.

A recurrent state is a tensor or any nesting of tuples, named tuples, lists and dicts of
tensors: ``h`` of a GRU, ``(h, c)`` of an LSTM, a dict of per-layer states, a decoder's
``(state, attention_context)``.  Batches have the same shape of nesting.

* :func:`tree_map` applies a function to every leaf and rebuilds the nesting (named tuples
  stay named tuples); :func:`tree_leaves` lists the leaves in the same order.
* :func:`detach_state` is the ONE place truncated BPTT cuts the graph (STYLE.md principle 8).
* :func:`reorder_state` picks batch rows by index, for beam search: after each step the
  surviving hypotheses' states are gathered (JoeyNMT ``search.py``, ``index_select``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

__all__ = ["tree_map", "tree_leaves", "detach_state", "reorder_state"]


def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    """``fn`` applied to every leaf of nested tuples, named tuples, lists and dicts.

    The containers are rebuilt with their own type (a named tuple keeps its fields, a dict
    its keys and order); every other object, ``None`` included, is a leaf and is passed to
    ``fn``.  Example: ``tree_map(lambda t: t.to(device), (h, c))``.
    """
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):  # named tuple: fields by position
        return type(tree)(*(tree_map(fn, t) for t in tree))
    if isinstance(tree, (tuple, list)):
        return type(tree)(tree_map(fn, t) for t in tree)
    if isinstance(tree, dict):
        return {k: tree_map(fn, v) for k, v in tree.items()}
    return fn(tree)


def tree_leaves(tree: Any) -> Iterator[Any]:
    """The leaves of ``tree`` (see :func:`tree_map`), depth first, lazily."""
    if isinstance(tree, (tuple, list)):
        for t in tree:
            yield from tree_leaves(t)
    elif isinstance(tree, dict):
        for v in tree.values():
            yield from tree_leaves(v)
    else:
        yield tree


def _tensors(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[Any], Any]:
    """``fn`` on tensor leaves; other leaves are returned unchanged."""
    return lambda x: fn(x) if isinstance(x, torch.Tensor) else x


def detach_state(state: Any) -> Any:
    """Cut the autograd graph of a recurrent state: tensors, tuples, lists, dicts, nested.

    The state carried into the next window must be a plain value, not the end of the
    previous window's graph: otherwise ``backward()`` would run through every earlier
    window (memory and time growing with the stream length), and the previous graph,
    already freed by its ``backward()``, would raise "Trying to backward through the graph
    a second time" (pytorch/examples word_language_model, ``repackage_hidden``).  ``None``
    stays ``None``; non-tensor leaves are returned unchanged.
    """
    return tree_map(_tensors(torch.Tensor.detach), state)


def reorder_state(state: Any, index: torch.Tensor, dim: int = 0) -> Any:
    """Rows ``index`` of every tensor in ``state``, along the batch dimension ``dim``.

    Beam search keeps ``B·K`` hypotheses as batch rows; after each step the ``B·K`` best
    continuations come from rows ``index`` ``(B·K,)`` of the previous step, and their
    states must follow (``index_select``).  ``dim`` is where the batch is: 0 for
    batch-first tensors such as an attention context ``(B, H)``, 1 for the ``(L·D, B, H)``
    states of ``seqlab.nn``/``torch.nn`` recurrent layers.  Non-tensor leaves are returned
    unchanged; ``index`` is moved to each tensor's device.
    """
    if index.dim() != 1 or index.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"reorder_state needs a 1-D integer index of batch rows, got {index.dtype} {tuple(index.shape)}")
    return tree_map(_tensors(lambda t: t.index_select(dim, index.to(t.device))), state)
