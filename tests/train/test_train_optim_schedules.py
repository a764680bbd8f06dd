"""The exponential schedule with a decay start (Zaremba et al. 2014's ``max_epoch``)."""

from __future__ import annotations

import pytest
import torch

from seqlab.config import apply_overrides
from seqlab.errors import ConfigurationError
from seqlab.tasks import task_for
from seqlab.tasks.base import _lr_schedule_spec
from seqlab.recipes.registry import load_recipe
from seqlab.train.optim import build_lr_schedule


def _rates(spec, epochs):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=20.0)
    schedule = build_lr_schedule(spec, opt, epochs=epochs, steps_per_epoch=None)
    rates = []
    for _ in range(epochs):
        rates.append(opt.param_groups[0]["lr"])  # the rate used during this epoch
        opt.step()
        schedule.epoch_end({})  # what the engine calls after each epoch
    return rates


def test_zaremba_small_schedule_by_hand():
    # 4 epochs at lr 20, then halved every epoch: 20 20 20 20 10 5 2.5 ...
    rates = _rates({"name": "exponential", "gamma": 0.5, "start": 4}, 8)
    assert rates == pytest.approx([20, 20, 20, 20, 10, 5, 2.5, 1.25])


def test_start_zero_is_torch_exponential():
    assert _rates({"name": "exponential", "gamma": 0.5}, 3) == pytest.approx([20, 10, 5])


def test_bad_start_is_a_clear_error():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ConfigurationError, match="start must be an int >= 0"):
        build_lr_schedule({"name": "exponential", "start": -1}, opt, epochs=3, steps_per_epoch=None)


def test_ptb_recipes_follow_the_paper_schedule():
    small = load_recipe("ptb-small")
    assert _lr_schedule_spec(small) == {"name": "exponential", "gamma": 0.5, "start": 4}
    medium = load_recipe("ptb-medium")
    assert _lr_schedule_spec(medium) == {"name": "exponential", "gamma": 0.8333, "start": 6}
    changed = apply_overrides(small, ["train.lr_decay_start=2"])
    assert _lr_schedule_spec(changed)["start"] == 2


def test_time_budget_cosine_follows_the_larger_of_steps_and_time():
    import math

    from seqlab.train import optim

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = build_lr_schedule({"name": "cosine", "time_budget_s": 100.0}, opt, epochs=1, steps_per_epoch=10)
    (clock,) = [c.cell_contents for c in schedule.scheduler.lr_lambdas[0].__closure__
                if isinstance(c.cell_contents, optim._BudgetClock)]
    now = [0.0]
    clock.now, clock.start = (lambda: now[0]), None  # a fake clock, started by the first step
    lrs = []
    for t in (0.0, 10.0, 20.0, 75.0, 80.0):  # seconds at steps 1..5 of 10 planned
        now[0] = t
        opt.step()
        schedule.batch_end()
        lrs.append(opt.param_groups[0]["lr"])
    # progress = max(step / 10, t / 100): steps lead (0.1, 0.2, 0.3), then time does (0.75, 0.8)
    assert lrs == pytest.approx([0.5 * (1 + math.cos(math.pi * p)) for p in (0.1, 0.2, 0.3, 0.75, 0.8)])


def test_time_budget_needs_cosine_and_max_time():

    config = apply_overrides(load_recipe("lstm-ptb-tied"), ["train.anneal_within_time_limit=true"])
    task_for(config).check_config(config)  # cosine + max_time_s: fine
    assert _lr_schedule_spec(config) == {"name": "cosine", "time_budget_s": 1800.0}
    bad = apply_overrides(config, ["train.max_time_s=none"])
    with pytest.raises(ConfigurationError, match="anneal_within_time_limit needs"):
        task_for(bad).check_config(bad)
