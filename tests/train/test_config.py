"""seqlab.config: typed overrides, strict keys with suggestions, value errors, round trips."""

from __future__ import annotations

from typing import Literal, Optional

import pytest

from seqlab.config import (
    Config,
    TrainConfig,
    apply_overrides,
    from_dict,
    load_config,
    load_toml,
    parse_value,
    save_config,
    to_dict,
    valid_keys,
)
from seqlab.errors import ConfigurationError
from seqlab.recipes.registry import list_recipes, load_recipe, recipe_path
from seqlab.tasks.classification import ClassificationData, ClassifierConfig


def test_overrides_of_each_type():
    cfg = apply_overrides(Config(), [
        "train.epochs=3",                 # int
        "train.lr=1e-3",                  # float (scientific notation)
        "model.dropout=0",                # float from an int literal
        "model.bidirectional=true",       # bool
        "data.bucket=no",                 # bool, other spelling
        "train.device=cpu",               # str
        "train.grad_clip_norm=none",      # Optional -> None
        "data.limit=500",                 # Optional[int] -> value
        "model.cell=peephole",            # Literal choice
        "train.lr_schedule=cosine",       # Optional[Literal]
    ])
    assert cfg.train.epochs == 3 and isinstance(cfg.train.epochs, int)
    assert cfg.train.lr == 0.001 and isinstance(cfg.train.lr, float)
    assert cfg.model.dropout == 0.0 and isinstance(cfg.model.dropout, float)
    assert cfg.model.bidirectional is True and cfg.data.bucket is False
    assert cfg.train.device == "cpu"
    assert cfg.train.grad_clip_norm is None
    assert cfg.data.limit == 500
    assert cfg.model.cell == "peephole"
    assert cfg.train.lr_schedule == "cosine"


def test_overrides_do_not_mutate_the_original():
    base = Config()
    apply_overrides(base, ["train.epochs=99", "model.hidden_size=7"])
    assert base.train.epochs == TrainConfig().epochs and base.model.hidden_size == ClassifierConfig().hidden_size


def test_parse_lists_and_optional_literals():
    assert parse_value("[1, 2, 3]", list[int]) == [1, 2, 3]
    assert parse_value("3,4,5", list[int]) == [3, 4, 5]
    assert parse_value("a, b", list[str]) == ["a", "b"]
    assert parse_value("null", Optional[Literal["x", "y"]]) is None
    assert parse_value("y", Optional[Literal["x", "y"]]) == "y"
    with pytest.raises(ConfigurationError, match=r"\[1\] = 'x' is not an integer"):
        parse_value("1,x", list[int], "sizes")


def test_unknown_key_lists_valid_keys_and_suggests_closest():
    with pytest.raises(ConfigurationError) as err:
        apply_overrides(Config(), ["train.epoch=3"])
    msg = str(err.value)
    assert "unknown key 'epoch' in [train]" in msg
    assert "Did you mean 'epochs'?" in msg
    for key in valid_keys(TrainConfig):
        assert key in msg
    with pytest.raises(ConfigurationError, match="Did you mean 'hidden_size'") as err:
        apply_overrides(Config(), ["model.hiden_size=3"])
    assert "embedding_dim" in str(err.value)


def test_unknown_section_and_malformed_override():
    with pytest.raises(ConfigurationError, match="unknown section 'trian'.*Did you mean 'train'.*recipe, data, model, train"):
        apply_overrides(Config(), ["trian.epochs=3"])
    with pytest.raises(ConfigurationError, match="has no '='"):
        apply_overrides(Config(), ["train.epochs"])
    with pytest.raises(ConfigurationError, match="must name a section and a key.*Did you mean 'train.epochs'"):
        apply_overrides(Config(), ["epochs=3"])


@pytest.mark.parametrize("override,pattern", [
    ("train.epochs=three", "train.epochs = 'three' is not an integer"),
    ("train.epochs=2.5", "is not an integer"),
    ("train.lr=fast", "train.lr = 'fast' is not a number"),
    ("model.bidirectional=maybe", "is not a bool; write true or false"),
    ("model.cell=peeophole", "not a valid choice; expected one of 'standard', 'peephole', 'coupled', 'layernorm'. Did you mean 'peephole'"),
    ("train.optimizer=adamm", "Did you mean 'adam'"),
    ("train.epochs=none", "is not an integer"),
])
def test_bad_values_are_clear_errors(override, pattern):
    with pytest.raises(ConfigurationError, match=pattern.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        apply_overrides(Config(), [override])


def test_toml_is_strict(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('[recipe]\nname = "x"\n[model]\nhidden_size = 16\n[train]\nlr = 1\n')
    cfg = load_toml(good)
    assert cfg.model.hidden_size == 16 and cfg.train.lr == 1.0 and cfg.data == ClassificationData()
    typo = tmp_path / "typo.toml"
    typo.write_text("[model]\nhiden_size = 16\n")
    with pytest.raises(ConfigurationError, match="unknown key 'hiden_size' in \\[model\\] of model.kind='classifier'. Did you mean 'hidden_size'"):
        load_toml(typo)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[train]\nepochs = "3"\n')
    with pytest.raises(ConfigurationError, match="train.epochs = '3' is not an integer"):
        load_toml(wrong)
    boolean = tmp_path / "bool.toml"
    boolean.write_text("[train]\nepochs = true\n")
    with pytest.raises(ConfigurationError, match="not an integer"):
        load_toml(boolean)
    section = tmp_path / "section.toml"
    section.write_text("[modle]\nx = 1\n")
    with pytest.raises(ConfigurationError, match="unknown key 'modle' in the top level. Did you mean 'model'"):
        load_toml(section)
    broken = tmp_path / "broken.toml"
    broken.write_text("[train\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_toml(broken)
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_toml(tmp_path / "missing.toml")


def test_resolved_config_round_trips(tmp_path):
    cfg = apply_overrides(load_recipe("lstm-sst2"), ["train.grad_clip_norm=none", "data.limit=10", "train.lr=0.1"])
    path = save_config(cfg, tmp_path / "config.json")
    again = load_config(path)
    assert again == cfg
    assert from_dict(Config, to_dict(cfg)) == cfg
    assert again.train.grad_clip_norm is None  # None survives (it would not in TOML)


def test_shipped_recipes_load_and_carry_metadata():
    names = list_recipes()
    for required in ("lstm-sst2", "gru-sst2", "bilstm-sst2", "peephole-lstm-sst2", "char-shakespeare"):
        assert required in names
    for name in names:
        cfg = load_recipe(name)
        assert cfg.recipe.name == name
        assert cfg.recipe.reference is not None and cfg.recipe.citation
    assert load_recipe("bilstm-sst2").model.bidirectional is True
    assert load_recipe("bilstm-sst2").recipe.reference == 87.5
    assert load_recipe("peephole-lstm-sst2").model.cell == "peephole"
    assert load_recipe("gru-sst2").model.rnn_type == "gru"
    lm = load_recipe("char-shakespeare")
    assert lm.model.kind == "language_model" and lm.recipe.reference == 1.88 and not lm.recipe.higher_is_better
    assert recipe_path(recipe_path("lstm-sst2")) == recipe_path("lstm-sst2")  # a path works too
    with pytest.raises(ConfigurationError, match="unknown recipe 'lstm-sst'. Did you mean 'lstm-sst2'"):
        load_recipe("lstm-sst")
