"""The shipped recipes: find them by name, read them, and read their last measured numbers.

A recipe is a TOML file in this folder (``seqlab/recipes/<name>.toml``) with the tables
``[recipe]`` (metadata: task, dataset metric, published reference and citation),
``[data]``, ``[model]`` and ``[train]`` — see :mod:`seqlab.config`.

A recipe can inherit: ``base = "kim-cnn-rand-sst2"`` at the top level (before any table) starts
from that recipe's tables, and the child's tables are deep-merged over them: a child key replaces
the base's value (a list is replaced whole, not extended), a key the child leaves out keeps the
base's value. A base may itself have a base; a cycle or an unknown base is a ConfigurationError.
``[recipe] name`` is never inherited in effect: a shipped recipe must name itself. ``base`` is a
shipped recipe name, or a ``.toml`` path relative to the child's folder.

Measured numbers live in ``benchmarks/results/recipes.json`` at the repository root
(``seqlab run RECIPE --record`` updates it; ``$SEQLAB_RESULTS_FILE`` points elsewhere)::

    {"lstm-sst2": {"value": 83.1, "metric": "accuracy", "date": "...", "overrides": [...], ...}}
"""

from __future__ import annotations

import copy
import datetime as _dt
import difflib
import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

from seqlab.config import Config, from_dict
from seqlab.errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

RECIPES_DIR = Path(__file__).resolve().parent
_REPO_ROOT = RECIPES_DIR.parents[1]
DEFAULT_RESULTS_FILE = _REPO_ROOT / "benchmarks" / "results" / "recipes.json"


def list_recipes() -> list[str]:
    """Names of the shipped recipes, sorted."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def recipe_path(name_or_path: str | Path) -> Path:
    """The TOML file of a shipped recipe name, or ``name_or_path`` itself when it is a file.

    Raises:
        ConfigurationError: neither a shipped recipe nor an existing file; lists the
            shipped recipes and suggests the closest name.
    """
    text = str(name_or_path)
    candidate = Path(text)
    if candidate.suffix in (".toml", ".json") or os.sep in text or "/" in text:
        if candidate.is_file():
            return candidate
        raise ConfigurationError(f"recipe file {text!r} does not exist; pass a shipped recipe name or a TOML path.")
    shipped = RECIPES_DIR / f"{text}.toml"
    if shipped.is_file():
        return shipped
    names = list_recipes()
    close = difflib.get_close_matches(text, names, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigurationError(
        f"unknown recipe {text!r}.{hint} Shipped recipes: {', '.join(names)} "
        "(or pass the path of a TOML file; `seqlab recipes` lists them)."
    )


def load_recipe(name_or_path: str | Path) -> Config:
    """The :class:`~seqlab.config.Config` of a shipped recipe name or a TOML path.

    A shipped recipe must declare its own name in ``[recipe] name``. A ``base`` is resolved
    first (:func:`resolve_recipe_table`).
    """
    path = recipe_path(name_or_path)
    if path.suffix == ".json":
        from seqlab.config import load_config

        return load_config(path)
    config = from_dict(Config, resolve_recipe_table(path))
    if path.parent == RECIPES_DIR and config.recipe.name != path.stem:
        raise ConfigurationError(
            f"{path}: [recipe] name = {config.recipe.name!r} differs from the file name {path.stem!r}; make them equal."
        )
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigurationError(f"recipe file {str(path)!r} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"recipe file {str(path)!r} is not valid TOML: {exc}.") from None
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"recipe file {str(path)!r} is not UTF-8 ({exc}); save it as UTF-8.") from None


def _base_path(base: Any, child: Path) -> Path:
    if not isinstance(base, str) or not base:
        raise ConfigurationError(
            f"{child}: base = {base!r} must be the name of a shipped recipe (a string) at the top level, "
            'e.g. base = "kim-cnn-rand-sst2"; write it before the first [table].'
        )
    if base.endswith(".toml"):
        candidate = (child.parent / base).resolve()
        if not candidate.is_file():
            raise ConfigurationError(f"{child}: base = {base!r}: no file {candidate}; give a shipped recipe name or an existing TOML path.")
        return candidate
    try:
        return recipe_path(base)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{child}: base = {base!r} is not a shipped recipe. {exc}") from None


def _deep_merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """``child`` over ``base``: tables merge key by key, any other value (lists too) replaces."""
    merged = copy.deepcopy(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve_recipe_table(path: str | Path) -> dict[str, Any]:
    """The tables of a recipe TOML file with its ``base`` chain merged in (no ``base`` key left).

    Raises:
        ConfigurationError: unreadable TOML, an unknown base, or a cycle (the chain is named).
    """
    chain: list[Path] = []
    tables: list[dict[str, Any]] = []
    current: Optional[Path] = Path(path).resolve()
    while current is not None:
        if current in chain:
            names = " -> ".join(p.stem for p in [*chain, current])
            raise ConfigurationError(f"recipe inheritance cycle: {names}; remove the base of one of them.")
        chain.append(current)
        raw = _read_toml(current)
        base = raw.pop("base", None)
        misplaced = [name for name, table in raw.items() if isinstance(table, dict) and "base" in table]
        if misplaced:
            raise ConfigurationError(
                f"{current}: 'base' is inside [{misplaced[0]}]; it belongs at the top level, before the first "
                'table (base = "lstm-sst2" on its own line above [recipe]).'
            )
        tables.append(raw)
        current = None if base is None else _base_path(base, current)
    merged: dict[str, Any] = {}
    for table in reversed(tables):  # the root base first, the file itself last
        merged = _deep_merge(merged, table)
    return merged


def results_file() -> Path:
    """Where measured numbers are read from and recorded to."""
    env = os.environ.get("SEQLAB_RESULTS_FILE")
    return Path(env) if env else DEFAULT_RESULTS_FILE


def measured_results(path: Optional[Path] = None) -> dict[str, dict[str, Any]]:
    """``{recipe name: {"value": ..., ...}}`` from the results file; ``{}`` when absent.

    Raises:
        ConfigurationError: the file exists but is not a JSON object.
    """
    path = path or results_file()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"results file {path} is not valid JSON ({exc}); fix or delete it.") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"results file {path} must hold a JSON object keyed by recipe name.")
    return data


def record_result(name: str, entry: dict[str, Any], path: Optional[Path] = None) -> Path:
    """Store ``entry`` (must hold ``"value"``) as the last measured number of ``name``."""
    path = path or results_file()
    data = measured_results(path)
    data[name] = {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **entry}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
