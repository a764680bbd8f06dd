"""The shipped recipes: find them by name, read them, and read their last measured numbers.

A recipe is a TOML file in this folder (``seqlab/recipes/<name>.toml``) with the tables
``[recipe]`` (metadata: task, dataset metric, published reference and citation),
``[data]``, ``[model]`` and ``[train]`` — see :mod:`seqlab.config`.

Measured numbers live in ``benchmarks/results/recipes.json`` at the repository root
(``seqlab run RECIPE --record`` updates it; ``$SEQLAB_RESULTS_FILE`` points elsewhere)::

    {"lstm-sst2": {"value": 83.1, "metric": "accuracy", "date": "...", "overrides": [...], ...}}
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import os
from pathlib import Path
from typing import Any, Optional

from seqlab.config import Config, load_toml
from seqlab.errors import ConfigurationError

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

    A shipped recipe must declare its own name in ``[recipe] name``.
    """
    path = recipe_path(name_or_path)
    if path.suffix == ".json":
        from seqlab.config import load_config

        return load_config(path)
    config = load_toml(path)
    if path.parent == RECIPES_DIR and config.recipe.name != path.stem:
        raise ConfigurationError(
            f"{path}: [recipe] name = {config.recipe.name!r} differs from the file name {path.stem!r}; make them equal."
        )
    return config


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
