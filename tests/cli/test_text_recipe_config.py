"""The recipe keys of issues 5 and 6: typed, strict, round-tripping, checked across keys."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from seqlab.train.lazy_adadelta import LazyAdadelta
from seqlab.config import (
    Config,
    apply_overrides,
    from_dict,
    load_config,
    load_toml,
    save_config,
)
from seqlab.errors import ConfigurationError
from seqlab.tasks import task_for
from seqlab.tasks.base import build_trainer
from seqlab.tasks.classification import dataset_options
from seqlab.recipes.registry import list_recipes, load_recipe

KIM = {"mr": 76.1, "sst1": 45.0, "sst2": 82.7, "subj": 89.6, "trec": 91.2, "cr": 79.8, "mpqa": 83.4}


def _cfg(*overrides: str) -> Config:
    return apply_overrides(Config(), list(overrides))


def test_new_keys_round_trip_through_json(tmp_path):
    cfg = _cfg("model.kind=text_cnn", "model.filter_widths=2,3,7", "model.num_filters=17", "model.max_norm=none",
               "model.embedding_mode=non-static", "model.vectors=/v/glove.txt", "data.dataset=mr", "data.cv_fold=4",
               "data.cv_folds=5", "data.dev_fraction=0.2", "data.split_seed=9", "train.optimizer=adadelta",
               "train.rho=0.9")
    path = save_config(cfg, tmp_path / "config.json")
    back = load_config(path)
    assert back == cfg
    assert back.model.filter_widths == [2, 3, 7] and back.model.max_norm is None
    assert (back.data.cv_fold, back.data.cv_folds, back.data.dev_fraction, back.data.split_seed) == (4, 5, 0.2, 9)


def test_toml_none_string_switches_off_optional_numbers_only(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('[model]\nkind = "text_cnn"\nvectors = "none"\nmax_norm = "none"\n'
                      '[train]\ngrad_clip_norm = "none"\n', encoding="utf-8")
    cfg = load_toml(recipe)
    assert cfg.train.grad_clip_norm is None and cfg.model.max_norm is None
    assert cfg.model.vectors == "none"  # a str field keeps its text: it could be a file name


@pytest.mark.parametrize("override, words", [
    ("model.filter_width=3", ["unknown key 'filter_width'", "Did you mean 'filter_widths'?", "num_filters"]),
    ("data.cv_foldz=3", ["unknown key 'cv_foldz'", "Did you mean 'cv_fold", "dev_fraction"]),
    ("model.embedding_mode=random", ["not a valid choice", "'non-static'", "'multichannel'"]),
    ("model.kind=cnn", ["not a model of task 'classification'", "Did you mean 'text_cnn'?", "keras_lstm"]),
    ("model.pooling=max", ["unknown key 'pooling' in [model] of model.kind='text_cnn'", "num_filters"]),
    ("train.optimizer=adadeltaa", ["not a valid choice", "Did you mean 'adadelta'?"]),
    ("model.filter_widths=3,x", ["model.filter_widths[1]", "not an integer"]),
    ("data.cv_fold=first", ["data.cv_fold", "not an integer"]),
])
def test_overrides_are_strict(override, words):
    with pytest.raises(ConfigurationError) as err:
        _cfg("model.kind=text_cnn", override)
    for word in words:
        assert word in str(err.value)


def test_toml_types_are_strict():
    with pytest.raises(ConfigurationError, match=r"model.filter_widths = '3,4,5' is not a list"):
        from_dict(Config, {"model": {"kind": "text_cnn", "filter_widths": "3,4,5"}})
    with pytest.raises(ConfigurationError, match=r"model.filter_widths\[0\] = 3.5 is not an integer"):
        from_dict(Config, {"model": {"kind": "text_cnn", "filter_widths": [3.5]}})
    with pytest.raises(ConfigurationError, match=r"unknown key 'filter_widths' in \[model\] of model.kind='classifier'"):
        from_dict(Config, {"model": {"filter_widths": [3]}})


@pytest.mark.parametrize("overrides, words", [
    (["data.dataset=sst2", "data.cv_fold=0"], ["given test split", "mr, subj, cr, mpqa", "Remove data.cv_fold"]),
    (["data.dataset=mr", "data.cv_fold=10"], ["outside 0..9"]),
    (["data.dataset=mr", "data.cv_folds=1"], ["data.cv_folds must be >= 2"]),
    (["data.dataset=sst2", "data.dev_fraction=0.1"], ["given dev split", "mr, subj, cr, mpqa, trec"]),
    (["data.dataset=trec", "data.dev_fraction=1.0"], ["[0, 1)"]),
    (["data.dataset=trec", "data.dev_fraction=0"], ["data.eval_split='dev'", "dev_fraction > 0"]),
    (["train.optimizer=adam", "train.rho=0.9"], ["Adadelta's decay", "train.optimizer=adadelta"]),
    (["model.kind=text_cnn", "model.vectors=/x.bin"], ["embedding_mode='rand' ignores it"]),
    (["model.kind=text_cnn", "model.embedding_mode=static"], ["model.vectors is not set", "embedding_mode=rand"]),
    (["model.kind=classifier", "model.vectors=/x.bin"], ["unknown key 'vectors' in [model] of model.kind='classifier'"]),
    (["model.kind=text_cnn", "model.filter_widths=[]"], ["non-empty list of positive widths"]),
    (["model.kind=text_cnn", "model.filter_widths=0,3"], ["non-empty list of positive widths"]),
    (["recipe.task=language_modeling", "model.kind=window_lm", "data.dataset=ptb", "model.window_size=0"],
     ["window_size must be >= 1"]),
    (["recipe.task=language_modeling", "model.kind=window_lm", "data.dataset=sst2"],
     ["is a language model", "classification dataset"]),
    (["data.dataset=imdb"], ["unknown dataset 'imdb'", "valid: mr, sst1"]),
    (["train.monitor=val_acc"], ["train.monitor = 'val_acc' is not a number this run logs", "val_accuracy"]),
    (["model.kind=keras_lstm", "data.dataset=sst1"], ["binary model", "5 classes"]),
])
def test_cross_key_errors_say_how_to_fix(overrides, words):
    with pytest.raises(ConfigurationError) as err:
        config = _cfg(*overrides)
        task_for(config).check_config(config)
    for word in words:
        assert word in str(err.value)


def test_dataset_options_per_kind():
    assert dataset_options(_cfg("data.dataset=sst2")) == {}
    assert dataset_options(_cfg("data.dataset=trec")) == {"seed": 0, "dev_fraction": 0.1}
    assert dataset_options(_cfg("data.dataset=cr", "data.cv_fold=3", "data.split_seed=5")) == {
        "fold": 3, "num_folds": 10, "seed": 5, "dev_fraction": 0.1}
    with pytest.raises(ConfigurationError, match="run_recipe expands"):
        dataset_options(_cfg("data.dataset=mr"))


@pytest.mark.parametrize("name, reference", sorted(KIM.items()))
def test_kim_recipes_have_kims_hyperparameters(name, reference):
    cfg = load_recipe(f"kim-cnn-rand-{name}")
    task_for(cfg).check_config(cfg)
    assert cfg.recipe.reference == reference and "Kim 2014" in cfg.recipe.citation and "Table 2" in cfg.recipe.citation
    m, t, d = cfg.model, cfg.train, cfg.data
    assert (m.kind, m.embedding_mode, m.embedding_dim, m.filter_widths, m.num_filters) == (
        "text_cnn", "rand", 300, [3, 4, 5], 100)
    assert (m.dropout, m.max_norm, d.batch_size) == (0.5, 3.0, 50)
    assert (t.optimizer, t.lr, t.rho, t.grad_clip_norm, t.monitor, t.restore_best) == (
        "adadelta", 1.0, 0.95, None, "val_accuracy", True)
    assert t.max_time_s is not None and t.max_time_s <= 600  # each single run <= 10 minutes
    assert d.eval_split == "dev" and d.test_split == "test"
    assert (d.dev_fraction == 0.1) == (name in ("mr", "subj", "cr", "mpqa", "trec"))
    assert (d.cv_folds == 10) and d.cv_fold is None


def test_keras_recipe_has_the_notes_hyperparameters():
    cfg = load_recipe("keras-lecture-sst2")
    task_for(cfg).check_config(cfg)
    assert "keras-lecture-sst2" in list_recipes()
    assert (cfg.model.kind, cfg.model.embedding_dim, cfg.model.hidden_size, cfg.model.dropout) == (
        "keras_lstm", 256, 128, 0.5)
    assert (cfg.train.optimizer, cfg.train.lr, cfg.data.batch_size, cfg.train.epochs) == ("rmsprop", 0.001, 16, 10)
    assert cfg.recipe.reference == 84.9 and "notes claim no accuracy" in cfg.recipe.citation


def test_adadelta_gets_kims_rho_and_epsilon():
    cfg = _cfg("train.optimizer=adadelta", "train.lr=1.0", "train.device=cpu")
    trainer = build_trainer(cfg, torch.nn.Linear(3, 2))
    group = trainer.optimizer.param_groups[0]
    assert isinstance(trainer.optimizer, LazyAdadelta) and not group["lazy_rows"]  # no embedding here
    assert (group["lr"], group["rho"], group["eps"]) == (1.0, 0.95, 1e-6)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, rho=0.9))
    assert build_trainer(cfg, torch.nn.Linear(3, 2)).optimizer.param_groups[0]["rho"] == 0.9


def test_every_model_kind_belongs_to_one_task():
    tasks = {k: task_for(_cfg(f"recipe.task={t}", f"model.kind={k}")).name
             for t, kinds in (("classification", ("classifier", "text_cnn", "keras_lstm")),
                              ("language_modeling", ("language_model", "window_lm", "bow_lm"))) for k in kinds}
    assert tasks == {"classifier": "classification", "text_cnn": "classification", "keras_lstm": "classification",
                     "language_model": "language_modeling", "window_lm": "language_modeling",
                     "bow_lm": "language_modeling"}
    with pytest.raises(ConfigurationError, match="It is a model of task 'language_modeling': set "
                                                 "recipe.task=language_modeling too"):
        _cfg("model.kind=window_lm")
