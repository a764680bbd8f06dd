"""seqlab.tasks.base: the config -> engine mapping (schedules, headline numbers, subsets)."""

from __future__ import annotations

import pytest
import torch

from seqlab.config import Config, apply_overrides
from seqlab.tasks.base import _lr_schedule_spec, build_trainer, format_metric, headline
from seqlab.tasks.classification import _subset
from seqlab.recipes.registry import load_recipe
from seqlab.train.optim import build_lr_schedule


@pytest.mark.parametrize("name", ["cosine", "step", "exponential", "plateau", "linear_warmup"])
def test_every_schedule_builds_in_the_engine(name):
    cfg = apply_overrides(Config(), [f"train.lr_schedule={name}", "train.lr_decay=0.1", "train.lr_step_size=1"])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = build_lr_schedule(_lr_schedule_spec(cfg), opt, epochs=3, steps_per_epoch=4)
    assert schedule is not None
    if name == "step":
        opt.step()
        schedule.epoch_end({})
        assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    assert _lr_schedule_spec(Config()) is None


def test_trainer_gets_the_train_section():
    cfg = apply_overrides(Config(), ["train.optimizer=rmsprop", "train.lr=0.05", "train.weight_decay=0.01",
                                     "train.grad_clip_norm=2.5", "train.device=cpu"])
    model = torch.nn.Linear(3, 2)
    trainer = build_trainer(cfg, model, verbose=0)
    assert isinstance(trainer.optimizer, torch.optim.RMSprop)
    group = trainer.optimizer.param_groups[0]
    assert group["lr"] == 0.05 and group["weight_decay"] == 0.01
    assert trainer.grad_clip_norm == 2.5 and trainer.device.type == "cpu"


def test_headline_units():
    sst = load_recipe("lstm-sst2")
    assert headline(sst, {"val_accuracy": 0.5, "test_accuracy": 0.8}) == pytest.approx(80.0)  # test first, in %
    assert headline(sst, {"val_accuracy": 0.5}) == pytest.approx(50.0)
    assert headline(sst, {}) is None
    assert format_metric(sst, 81.234) == "81.23 %" and format_metric(sst, None) == "—"
    lm = load_recipe("char-shakespeare")
    assert headline(lm, {"val_loss": 1.7, "val_perplexity": 5.5}) == 1.7
    assert format_metric(lm, 1.7) == "1.700 nats"


def test_subset_is_seeded_and_sorted():
    a = _subset(100, 10, seed=0)
    assert a == _subset(100, 10, seed=0) != _subset(100, 10, seed=1)
    assert a == sorted(a) and len(set(a)) == 10
    assert _subset(5, None, 0) == _subset(5, 9, 0) == [0, 1, 2, 3, 4]
