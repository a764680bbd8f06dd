"""LazyAdadelta: the same parameters as torch.optim.Adadelta, step by step, with lazy embedding rows."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from seqlab.errors import ConfigurationError
from seqlab.train.lazy_adadelta import LazyAdadelta


class _Bag(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(30, 5, padding_idx=0)
        self.output = nn.Linear(5, 3)

    def forward(self, ids):
        return self.output(self.embedding(ids).mean(1))


def _groups(model, lazy=True):
    emb = list(model.embedding.parameters())
    rest = [p for p in model.parameters() if all(p is not q for q in emb)]
    return [{"params": emb, "lazy_rows": lazy}, {"params": rest}]


def _batches(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    # small batches from a few rows at a time, so most rows skip many steps
    return [(torch.randint(0, 30, (4, 3), generator=g) % (5 + 3 * (i % 4)), torch.randint(0, 3, (4,), generator=g))
            for i in range(n)]


def _train(model, opt, batches):
    for ids, y in batches:
        opt.zero_grad()
        nn.functional.cross_entropy(model(ids), y).backward()
        opt.step()


def test_matches_torch_adadelta_at_every_step():
    torch.manual_seed(0)
    ref = _Bag().double()
    lazy = copy.deepcopy(ref)
    opt_ref = torch.optim.Adadelta(ref.parameters(), lr=1.0, rho=0.95, eps=1e-6)
    opt_lazy = LazyAdadelta(_groups(lazy), lr=1.0, rho=0.95, eps=1e-6)
    for batch in _batches(40):
        _train(ref, opt_ref, [batch])
        _train(lazy, opt_lazy, [batch])
        for (name, a), b in zip(ref.named_parameters(), lazy.parameters()):
            torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12, msg=name)
    state = opt_lazy.state[lazy.embedding.weight]
    assert int(state["row_step"].min()) < 40  # some rows really were skipped
    assert lazy.embedding.weight[0].abs().sum() == 0  # the padding row never moves


def test_resume_from_state_dict_equals_uninterrupted(tmp_path):
    torch.manual_seed(1)
    model = _Bag()
    opt = LazyAdadelta(_groups(model), lr=1.0, rho=0.95)
    batches = _batches(30, seed=3)
    _train(model, opt, batches[:15])
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "ck.pt")
    _train(model, opt, batches[15:])

    resumed = _Bag()
    ck = torch.load(tmp_path / "ck.pt", weights_only=True)
    resumed.load_state_dict(ck["model"])
    opt2 = LazyAdadelta(_groups(resumed), lr=1.0, rho=0.95)
    opt2.load_state_dict(ck["opt"])
    _train(resumed, opt2, batches[15:])
    for a, b in zip(model.parameters(), resumed.parameters()):
        torch.testing.assert_close(b, a, rtol=0, atol=0)


def test_errors():
    model = _Bag()
    with pytest.raises(ConfigurationError, match="weight_decay"):
        LazyAdadelta(_groups(model), weight_decay=1e-4)
    with pytest.raises(ConfigurationError, match="2-D"):
        LazyAdadelta([{"params": [model.output.bias], "lazy_rows": True}])
    with pytest.raises(ConfigurationError, match="rho"):
        LazyAdadelta(model.parameters(), rho=1.5)


def test_kim_recipes_update_embedding_rows_lazily():
    from seqlab.config import apply_overrides
    from seqlab.tasks import build_model
    from seqlab.tasks.base import build_trainer
    from seqlab.recipes.registry import load_recipe

    config = apply_overrides(load_recipe("kim-cnn-rand-mr"), ["train.device=cpu"])
    model = build_model(config.model, vocab_size=50, num_classes=2)
    opt = build_trainer(config, model).optimizer
    assert isinstance(opt, LazyAdadelta)
    lazy, dense = opt.param_groups
    assert lazy["lazy_rows"] and lazy["params"] == [model.embedding.weight]
    assert not dense["lazy_rows"] and len(dense["params"]) == len(list(model.parameters())) - 1
    assert (lazy["rho"], lazy["eps"], lazy["lr"]) == (0.95, 1e-6, 1.0)  # Kim's Adadelta
    # weight decay reaches every row: then nothing is lazy
    config = apply_overrides(config, ["train.weight_decay=0.001"])
    (group,) = build_trainer(config, build_model(config.model, vocab_size=50, num_classes=2)).optimizer.param_groups
    assert not group["lazy_rows"] and group["weight_decay"] == 0.001


def test_resumes_from_torch_adadelta_state():
    """A checkpoint of torch's Adadelta (seqlab's Adadelta recipes before LazyAdadelta) resumes exactly."""
    torch.manual_seed(2)
    model = _Bag()
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-6)
    batches = _batches(20, seed=4)
    _train(model, opt, batches[:10])
    saved_model, saved_opt = copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())
    _train(model, opt, batches[10:])  # torch's Adadelta all the way

    resumed = _Bag()
    resumed.load_state_dict(saved_model)
    lazy = LazyAdadelta(_groups(resumed), lr=1.0, rho=0.95, eps=1e-6)
    lazy.load_state_dict(saved_opt)
    _train(resumed, lazy, batches[10:])
    for a, b in zip(model.parameters(), resumed.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    # a state of other parameters is still refused
    other = LazyAdadelta([{"params": [nn.Parameter(torch.zeros(3, 3))], "lazy_rows": True},
                          {"params": [nn.Parameter(torch.zeros(2))]}])
    with pytest.raises(ValueError):
        other.load_state_dict(saved_opt)
