"""Copy-memory and adding-problem generators: layout, determinism, baselines."""

import math

import pytest
import torch

from seqlab.data.synthetic import AddingProblemDataset, CopyMemoryDataset
from seqlab.errors import ConfigurationError


def test_copy_memory_layout():
    ds = CopyMemoryDataset(num_samples=5, delay=7, copy_length=3, num_symbols=4, seed=1)
    x, y = ds[2]
    assert x.shape == y.shape == (7 + 6,)
    symbols = x[:3]
    assert ((symbols >= 1) & (symbols <= 4)).all()
    assert x[3:].tolist() == [0] * 6 + [5] + [0] * 3  # blanks, marker (num_symbols + 1) one step before recall
    assert y[:-3].tolist() == [0] * 10 and torch.equal(y[-3:], symbols)
    assert ds.num_classes == 6
    assert ds.chance_cross_entropy == pytest.approx(3 * math.log(4) / 13)


def test_copy_memory_is_deterministic_per_seed():
    a, b, c = (CopyMemoryDataset(20, delay=5, seed=s) for s in (3, 3, 4))
    assert torch.equal(a.inputs, b.inputs) and not torch.equal(a.inputs, c.inputs)
    torch.manual_seed(123)  # the global RNG has no influence
    assert torch.equal(CopyMemoryDataset(20, delay=5, seed=3).inputs, a.inputs)


def test_recall_accuracy():
    ds = CopyMemoryDataset(4, delay=3, copy_length=2, num_symbols=3)
    targets = ds.targets
    perfect = torch.nn.functional.one_hot(targets, ds.num_classes).float()
    assert ds.recall_accuracy(perfect, targets) == 1.0
    wrong = perfect.clone()
    wrong[:, -1] = torch.nn.functional.one_hot(torch.zeros(4, dtype=torch.long), ds.num_classes).float()
    assert ds.recall_accuracy(wrong, targets) == 0.5


def test_adding_problem_layout_and_baseline():
    ds = AddingProblemDataset(num_samples=4000, length=50, seed=0)
    x, y = ds[0]
    assert x.shape == (50, 2) and y.shape == ()
    markers = ds.inputs[:, :, 1]
    assert (markers.sum(1) == 2).all()
    assert (markers[:, :25].sum(1) == 1).all() and (markers[:, 25:].sum(1) == 1).all()
    assert torch.allclose((ds.inputs[:, :, 0] * markers).sum(1), ds.targets)
    # predicting the constant 1 gives MSE 1/6
    assert ((ds.targets - 1.0) ** 2).mean().item() == pytest.approx(ds.baseline_mse, abs=0.01)


def test_errors():
    with pytest.raises(ConfigurationError):
        CopyMemoryDataset(0, delay=5)
    with pytest.raises(ConfigurationError):
        AddingProblemDataset(10, length=1)
