"""seqlab.nn.state: tree_map / tree_leaves over nested states, detach_state, reorder_state."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch

from seqlab.nn import LSTM
from seqlab.nn.state import detach_state, reorder_state, tree_leaves, tree_map


class Pair(NamedTuple):
    h: torch.Tensor
    extra: object


def test_tree_map_keeps_every_container_type_and_visits_leaves_in_order():
    tree = {"a": (1, [2, 3]), "b": Pair(h=4, extra=None)}
    out = tree_map(lambda x: None if x is None else x * 10, tree)
    assert out == {"a": (10, [20, 30]), "b": Pair(h=40, extra=None)}
    assert isinstance(out["b"], Pair) and isinstance(out["a"][1], list)
    assert list(tree_leaves(tree)) == [1, 2, 3, 4, None]


def test_detach_state_cuts_the_graph_of_a_named_tuple_state():
    a = torch.ones(2, requires_grad=True) * 2
    out = detach_state(Pair(h=a, extra=[a * 3, "keep"]))
    assert isinstance(out, Pair) and out.h.grad_fn is None and out.extra[0].grad_fn is None
    assert out.extra[1] == "keep" and torch.equal(out.extra[0], a * 3)


def test_reorder_state_lets_an_lstm_continue_the_chosen_rows():
    """Beam search: continuing rows ``index`` from the reordered state equals continuing
    every row and then picking rows ``index`` of the result."""
    torch.manual_seed(0)
    lstm = LSTM(3, 5, num_layers=2, batch_first=True)
    x1, x2 = torch.randn(4, 2, 3), torch.randn(4, 2, 3)
    _, state = lstm(x1)  # (h, c), each (L, B, H) = (2, 4, 5)
    index = torch.tensor([2, 2, 0, 3])
    out_all, (h_all, c_all) = lstm(x2, state)
    out_sel, (h_sel, c_sel) = lstm(x2[index], reorder_state(state, index, dim=1))
    torch.testing.assert_close(out_sel, out_all[index])
    torch.testing.assert_close(h_sel, h_all[:, index])
    torch.testing.assert_close(c_sel, c_all[:, index])


def test_reorder_state_batch_first_nested_and_bad_index():
    state = {"context": torch.arange(6.0).view(3, 2), "step": 7, "none": None}
    out = reorder_state(state, torch.tensor([1, 0]))
    assert out["context"].tolist() == [[2.0, 3.0], [0.0, 1.0]] and out["step"] == 7 and out["none"] is None
    with pytest.raises(TypeError, match="1-D integer index"):
        reorder_state(state, torch.tensor([[0.0]]))
