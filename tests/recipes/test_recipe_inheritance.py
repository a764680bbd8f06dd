"""Recipes inherit (``base = "..."``, issue 12 item 5): same resolved configs as before, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqlab.config import apply_overrides, load_config, to_dict
from seqlab.errors import ConfigurationError
from seqlab.recipes.registry import RECIPES_DIR, list_recipes, load_recipe, resolve_recipe_table

#: every recipe's resolved config at 06aef4d (main), recorded before any recipe had a base
BEFORE = json.loads((Path(__file__).parent / "fixtures" / "resolved_recipes_06aef4d.json").read_text(encoding="utf-8"))

INHERITING = ["kim-cnn-rand-sst1-phrases", "kim-cnn-rand-sst2-phrases", "gru-sst2", "bilstm-sst2", "peephole-lstm-sst2"]
#: issue 15 item 3: the recurrent phrase recipes and the published number each is measured against
NEW = {"lstm-sst2-phrases": 84.9, "bilstm-sst2-phrases": 87.5, "gru-sst2-phrases": 84.9,
       "peephole-lstm-sst2-phrases": 84.9, "keras-lecture-sst2-phrases": 84.9,
       "lstm-sst1-phrases": 46.4, "bilstm-sst1-phrases": 49.1}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_every_recipe_resolves_as_before(name, tmp_path):
    # recorded with the flat [data]/[model] sections of 06aef4d: read back as an old run's config.json is
    old = tmp_path / "config.json"
    old.write_text(json.dumps(BEFORE[name]), encoding="utf-8")
    assert load_recipe(name) == load_config(old)
    kept = {section: {k: v for k, v in table.items() if k in to_dict(load_recipe(name))[section]}
            for section, table in BEFORE[name].items()}
    assert to_dict(load_recipe(name)) == kept  # no key of the recipe's kind changed value


def test_the_copies_became_bases():
    for name in INHERITING + list(NEW):
        assert "\nbase = " in (RECIPES_DIR / f"{name}.toml").read_text(encoding="utf-8"), name


@pytest.mark.parametrize("name, reference", sorted(NEW.items()))
def test_phrase_recipes(name, reference):
    config = load_recipe(name)
    assert name in list_recipes()
    assert config.recipe.name == name and config.recipe.reference == reference
    assert str(reference) in config.recipe.citation and "Tai et al. 2015" in config.recipe.citation
    assert config.data.dataset == ("sst1-phrases" if "sst1" in name else "sst2-phrases")
    assert config.train.max_time_s is not None and config.train.max_time_s <= 600
    # the override keys of the base keep working on the child
    tuned = apply_overrides(config, ["train.epochs=1", "data.limit=100", "train.num_threads=1"])
    assert (tuned.train.epochs, tuned.data.limit) == (1, 100)


def test_sst1_children_inherit_the_architecture():
    assert to_dict(load_recipe("bilstm-sst1-phrases"))["model"] == to_dict(load_recipe("bilstm-sst2"))["model"]
    assert to_dict(load_recipe("lstm-sst1-phrases"))["train"] == to_dict(load_recipe("lstm-sst2"))["train"]


def _write(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_deep_merge_rules(tmp_path):
    _write(tmp_path, "parent", '[recipe]\nname = "parent"\n[model]\nkind = "text_cnn"\nfilter_widths = [3, 4, 5]\n'
                               'num_filters = 100\n[train]\nepochs = 25\n')
    child = _write(tmp_path, "child", 'base = "parent.toml"\n[recipe]\nname = "child"\n[model]\nfilter_widths = [2]\n')
    table = resolve_recipe_table(child)
    assert "base" not in table
    assert table["model"] == {"kind": "text_cnn", "filter_widths": [2], "num_filters": 100}  # a list is replaced
    assert table["train"] == {"epochs": 25} and table["recipe"] == {"name": "child"}
    assert load_recipe(child).model.filter_widths == [2]
    shipped = _write(tmp_path, "quick", 'base = "lstm-sst2"\n[recipe]\nname = "quick"\n[train]\nepochs = 2\n')
    config = load_recipe(shipped)
    assert config.train.epochs == 2 and config.model.rnn_type == "lstm" and config.data.dataset == "sst2"


def test_cycles_are_errors(tmp_path):
    _write(tmp_path, "a", 'base = "b.toml"\n[recipe]\nname = "a"\n')
    _write(tmp_path, "b", 'base = "a.toml"\n[recipe]\nname = "b"\n')
    with pytest.raises(ConfigurationError, match=r"recipe inheritance cycle: a -> b -> a; remove the base"):
        load_recipe(tmp_path / "a.toml")
    me = _write(tmp_path, "me", 'base = "me.toml"\n')
    with pytest.raises(ConfigurationError, match="cycle: me -> me"):
        load_recipe(me)


def test_unknown_and_malformed_bases_are_errors(tmp_path):
    typo = _write(tmp_path, "typo", 'base = "lstm-sst"\n[recipe]\nname = "typo"\n')
    with pytest.raises(ConfigurationError, match=r"base = 'lstm-sst' is not a shipped recipe.*Did you mean 'lstm-sst2'"):
        load_recipe(typo)
    missing = _write(tmp_path, "missing", 'base = "nowhere.toml"\n')
    with pytest.raises(ConfigurationError, match="no file .*nowhere.toml"):
        load_recipe(missing)
    number = _write(tmp_path, "number", "base = 3\n")
    with pytest.raises(ConfigurationError, match="must be the name of a shipped recipe"):
        load_recipe(number)
    inside = _write(tmp_path, "inside", '[recipe]\nname = "inside"\nbase = "lstm-sst2"\n')
    with pytest.raises(ConfigurationError, match=r"'base' is inside \[recipe\]; it belongs at the top level"):
        load_recipe(inside)
    broken = _write(tmp_path, "broken", 'base = "lstm-sst2"\n[recipe\n')
    with pytest.raises(ConfigurationError, match="is not valid TOML"):
        load_recipe(broken)


def test_seqlab_recipes_lists_every_recipe(capsys):
    from seqlab.cli.main import main

    assert main(["recipes", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {row["name"] for row in rows}
    assert set(list_recipes()) <= names
    assert set(NEW) <= names and set(BEFORE) <= names
