"""Typed, strict configuration: one dataclass per component, TOML recipes, dotted overrides.

* A recipe is a TOML file with four tables, ``[recipe]`` (metadata), ``[data]``,
  ``[model]`` and ``[train]``; each maps onto a dataclass (STYLE.md principle 6).
* This module holds the generic machinery and the two sections every task shares:
  :class:`RecipeInfo` and :class:`TrainConfig` (the engine's settings). The ``[data]`` and
  ``[model]`` dataclasses belong to the tasks (``seqlab/tasks/``): ``recipe.task`` picks the
  task, which gives the ``[data]`` class, and ``model.kind`` picks one of the task's model
  classes, which hold that kind's keys only. The tasks register them here
  (:func:`register_task_schema`) when ``seqlab.tasks`` is imported.
* Every key is checked: an unknown or misspelled key is a :class:`ConfigurationError`
  that lists the valid keys (of that model kind) and suggests the closest one (``difflib``).
* Every value is checked against its field's type (``int``, ``float``, ``bool``, ``str``,
  ``list[...]``, ``Optional[...]``, ``Literal[...]`` choices). TOML has no null, so an
  ``Optional`` non-string field is switched off with the string ``"none"``
  (``grad_clip_norm = "none"``).
* Command-line overrides are dotted ``section.key=value`` strings
  (``train.epochs=3 model.hidden_size=64``); the text is parsed to the field's type.
  ``recipe.task`` and ``model.kind`` are applied first, whatever their position, so the
  other keys are checked against the sections they select.
* The resolved config round-trips through JSON (``save_config`` / ``load_config``),
  which is what a run directory stores.

There is no ``exec`` and no ``**kwargs`` anywhere: a typo can never be swallowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

from seqlab.errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "RecipeInfo",
    "TrainConfig",
    "TaskSchema",
    "register_task_schema",
    "task_schemas",
    "section_classes",
    "Config",
    "from_dict",
    "to_dict",
    "parse_value",
    "apply_overrides",
    "load_toml",
    "load_config",
    "save_config",
    "valid_keys",
    "OPTIMIZER_NAMES",
    "LR_SCHEDULE_NAMES",
]


# --------------------------------------------------------------------------- task schemas


@dataclass(frozen=True)
class TaskSchema:
    """The config sections of one task (registered by its module in ``seqlab/tasks/``).

    Attributes:
        name: the ``recipe.task`` value, e.g. ``"classification"``.
        data: the dataclass of its ``[data]`` section.
        models: ``model.kind`` -> the dataclass of that kind's ``[model]`` section; each has a
            ``kind`` field whose default is its own name.
        default_kind: the kind a config of this task gets when it names none.
        legacy_data_keys / legacy_model_keys: keys of the one flat ``[data]`` / ``[model]``
            section that run directories written before the task redesign store. A saved
            config may carry them for a kind that never used them (they had no effect then),
            so :func:`load_config` drops them; recipes and overrides stay strict.
    """

    name: str
    data: type
    models: dict[str, type]
    default_kind: str
    legacy_data_keys: frozenset[str] = frozenset()
    legacy_model_keys: frozenset[str] = frozenset()


_TASK_SCHEMAS: dict[str, TaskSchema] = {}


def register_task_schema(schema: TaskSchema) -> TaskSchema:
    """Make a task's sections known to the config reader (called once by each task module)."""
    for kind, cls in schema.models.items():
        if not dataclasses.is_dataclass(cls) or "kind" not in valid_keys(cls):
            raise TypeError(f"model config {cls!r} of kind {kind!r} must be a dataclass with a 'kind' field")
    taken = {k: t.name for t in _TASK_SCHEMAS.values() if t.name != schema.name for k in t.models}
    clash = sorted(set(schema.models) & set(taken))
    if clash:
        raise TypeError(f"model kinds {clash} of task {schema.name!r} already belong to another task")
    _TASK_SCHEMAS[schema.name] = schema
    return schema


def task_schemas() -> dict[str, TaskSchema]:
    """Every registered task schema, by task name.

    The schemas are the tasks' own (``seqlab/tasks/``), so importing that package is what fills
    this table: it is imported here, on first use, rather than at the top of this module,
    because the tasks build on this module.
    """
    import seqlab.tasks  # noqa: F401  (registers the shipped tasks)

    return _TASK_SCHEMAS


def _schema(task: str) -> TaskSchema:
    schemas = task_schemas()
    if task not in schemas:
        raise ConfigurationError(
            f"recipe.task = {task!r} is not a task.{_closest(task, schemas)} Valid tasks: {', '.join(schemas)}."
        )
    return schemas[task]


def _task_of_kind(kind: str) -> Optional[str]:
    for schema in task_schemas().values():
        if kind in schema.models:
            return schema.name
    return None


def section_classes(task: str, kind: Optional[str] = None) -> tuple[type, type]:
    """The ``[data]`` and ``[model]`` dataclasses of ``task`` with ``model.kind = kind``.

    Raises:
        ConfigurationError: an unknown task, or a kind that is not one of the task's (naming the
            task it belongs to, if any, and the task's kinds).
    """
    schema = _schema(task)
    kind = schema.default_kind if kind is None else kind
    if kind not in schema.models:
        owner = _task_of_kind(str(kind))
        where = f" It is a model of task {owner!r}: set recipe.task={owner} too." if owner else _closest(str(kind), schema.models)
        raise ConfigurationError(
            f"model.kind = {kind!r} is not a model of task {task!r}.{where} "
            f"Kinds of {task!r}: {', '.join(schema.models)}."
        )
    return schema.data, schema.models[kind]


# --------------------------------------------------------------------------- sections


#: ``train.optimizer`` names; ``seqlab.train.optim.OPTIMIZERS`` maps each to its class (tested equal).
OPTIMIZER_NAMES = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta")
#: ``train.lr_schedule`` names of ``seqlab.train.optim`` (tested equal).
LR_SCHEDULE_NAMES = ("cosine", "step", "exponential", "plateau", "linear_warmup")


@dataclass
class RecipeInfo:
    """Metadata of a recipe: what it trains and the published number it is compared to.

    Attributes:
        name: recipe name, e.g. ``"lstm-sst2"``.
        task: the task (``seqlab.tasks``): ``"classification"`` or ``"language_modeling"``;
            it decides which ``[data]`` and ``[model]`` keys exist.
        description: one line for ``seqlab recipes``.
        metric: the headline metric (``"accuracy"`` in %, or ``"val_loss"`` in nats).
        reference: the published value of ``metric`` (None when there is none).
        citation: where ``reference`` comes from.
        higher_is_better: direction of ``metric``.
    """

    name: str = "custom"
    task: str = "classification"
    description: str = ""
    metric: str = "accuracy"
    reference: Optional[float] = None
    citation: str = ""
    higher_is_better: bool = True


@dataclass
class TrainConfig:
    """The optimisation: optimizer, schedule, clipping, stopping, seed and device.

    Attributes:
        epochs: passes over the training split.
        optimizer: ``sgd``, ``adam``, ``adamw``, ``rmsprop``, ``adagrad`` or ``adadelta``
            (Zeiler 2012; Kim 2014's optimizer, with ``lr = 1.0``).
        lr: learning rate.
        rho: Adadelta's decay of its running averages; 0.95 as in Kim's code
            (``sgd_updates_adadelta(rho=0.95, epsilon=1e-6)``; torch's default is 0.9).
            Only used by ``optimizer = "adadelta"``.
        weight_decay: L2 penalty passed to the optimizer.
        grad_clip_norm: clip the global gradient norm to this value; None disables.
        lr_schedule: None or a schedule of ``seqlab.train.optim``: ``"cosine"`` (to 0 over
            the run), ``"step"`` (multiply by ``lr_decay`` every ``lr_step_size`` epochs),
            ``"exponential"`` (by ``lr_decay`` every epoch), ``"plateau"`` (by ``lr_decay``
            when ``monitor`` stalls for ``lr_patience`` epochs) or ``"linear_warmup"``
            (``warmup_steps`` linear warm-up, then linear decay).
        lr_decay / lr_step_size / lr_patience / warmup_steps: options of those schedules.
        lr_decay_start: ``"exponential"`` only: epochs at the full rate before the decay starts
            (Zaremba et al. 2014's ``max_epoch``: 4 for the small model, 6 for the medium).
        early_stopping_patience: stop after this many epochs without improvement of
            ``monitor``; None trains for all ``epochs``.
        monitor: the validation metric used for early stopping and the best checkpoint.
        restore_best: evaluate the test split with the best (not the last) weights.
        max_time_s: stop training after this many seconds (checked between steps).
        anneal_within_time_limit: with the ``"cosine"`` schedule and ``max_time_s``: the
            cosine's progress is the larger of steps done / planned and time used / max_time_s,
            so a run cut by the time limit still ends annealed on a slow or loaded machine
            (the rate then depends on the clock: not bit-for-bit reproducible).
        seed: random seed (data order, initialisation, dropout).
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...
        num_threads: CPU threads for torch (``torch.set_num_threads``); None keeps torch's
            default. On a busy shared CPU, 1 is often much faster than oversubscribing.
    """

    epochs: int = 5
    optimizer: Literal[OPTIMIZER_NAMES] = "adam"
    lr: float = 1e-3
    rho: float = 0.95
    weight_decay: float = 0.0
    grad_clip_norm: Optional[float] = 5.0
    lr_schedule: Optional[Literal[LR_SCHEDULE_NAMES]] = None
    lr_decay: float = 0.5
    lr_step_size: int = 1
    lr_patience: int = 1
    lr_decay_start: int = 0
    warmup_steps: Optional[int] = None
    early_stopping_patience: Optional[int] = None
    monitor: str = "val_accuracy"
    restore_best: bool = True
    max_time_s: Optional[float] = None
    anneal_within_time_limit: bool = False
    seed: int = 0
    device: str = "auto"
    num_threads: Optional[int] = None


def _default_section(section: str) -> Any:
    data_cls, model_cls = section_classes(RecipeInfo.task)
    return data_cls() if section == "data" else model_cls()


@dataclass
class Config:
    """A whole recipe: metadata plus the data, model and train sections.

    ``data`` and ``model`` are instances of the task's dataclasses (:func:`section_classes`);
    ``Config()`` is a classification recipe with the default recurrent classifier.
    """

    recipe: RecipeInfo = field(default_factory=RecipeInfo)
    data: Any = field(default_factory=lambda: _default_section("data"))
    model: Any = field(default_factory=lambda: _default_section("model"))
    train: TrainConfig = field(default_factory=TrainConfig)


# --------------------------------------------------------------------------- type checks


def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_optional(tp: Any) -> tuple[bool, Any]:
    """``(True, X)`` for ``Optional[X]``, else ``(False, tp)``."""
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != len(typing.get_args(tp)):
            return True, args[0] if len(args) == 1 else Union[tuple(args)]
    return False, tp


def _describe(tp: Any) -> str:
    """A human name of a field type, for error messages."""
    optional, inner = _is_optional(tp)
    if optional:
        return f"{_describe(inner)} or none"
    origin = typing.get_origin(inner)
    if origin is Literal:
        return "one of " + ", ".join(repr(c) for c in typing.get_args(inner))
    if origin in (list, tuple):
        (arg, *_) = typing.get_args(inner) or (Any,)
        return f"a list of {_describe(arg)}"
    return getattr(inner, "__name__", str(inner))


def _closest(word: str, choices: typing.Iterable[str]) -> str:
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" Did you mean {matches[0]!r}?" if matches else ""


def _check_value(value: Any, tp: Any, where: str) -> Any:
    """Validate (and lightly coerce: int -> float, list for tuples) a decoded value."""
    optional, inner = _is_optional(tp)
    if optional and inner is not str and isinstance(value, str) and value.strip().lower() in _NONE_WORDS:
        value = None  # TOML has no null: `grad_clip_norm = "none"` (not for str fields, where it is text)
    if value is None:
        if optional:
            return None
        raise ConfigurationError(f"{where} cannot be none; expected {_describe(tp)}.")
    origin = typing.get_origin(inner)
    if origin is Literal:
        choices = typing.get_args(inner)
        if value not in choices:
            hint = _closest(str(value), [str(c) for c in choices])
            raise ConfigurationError(
                f"{where} = {value!r} is not a valid choice; expected one of "
                f"{', '.join(repr(c) for c in choices)}.{hint}"
            )
        return value
    if origin in (list, tuple):
        (arg, *_) = typing.get_args(inner) or (Any,)
        if not isinstance(value, (list, tuple)):
            raise ConfigurationError(f"{where} = {value!r} is not a list; expected {_describe(tp)}.")
        return [_check_value(v, arg, f"{where}[{i}]") for i, v in enumerate(value)]
    if inner is Any:
        return value
    if inner is bool:
        if not isinstance(value, bool):
            raise ConfigurationError(f"{where} = {value!r} is not a bool; write true or false.")
        return value
    if inner is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigurationError(f"{where} = {value!r} is not an integer; expected {_describe(tp)}.")
        return value
    if inner is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigurationError(f"{where} = {value!r} is not a number; expected {_describe(tp)}.")
        return float(value)
    if inner is str:
        if not isinstance(value, str):
            raise ConfigurationError(f"{where} = {value!r} is not a string; expected {_describe(tp)}.")
        return value
    raise ConfigurationError(f"{where}: unsupported field type {tp!r}")  # pragma: no cover


_NONE_WORDS = {"none", "null", "~"}
_TRUE_WORDS = {"true", "yes", "on", "1"}
_FALSE_WORDS = {"false", "no", "off", "0"}


def parse_value(text: str, tp: Any, where: str = "value") -> Any:
    """Parse command-line text into a value of type ``tp``.

    ``int``/``float`` as Python literals (``1e-3`` works), ``bool`` from true/false/yes/no/1/0,
    ``none``/``null`` for an ``Optional`` field, lists as ``[1, 2]`` or ``1,2``,
    ``Literal`` choices by name.  Raises ConfigurationError naming the expected type.
    """
    optional, inner = _is_optional(tp)
    stripped = text.strip()
    if optional and stripped.lower() in _NONE_WORDS:
        return None
    origin = typing.get_origin(inner)
    if origin is Literal:
        choices = typing.get_args(inner)
        for choice in choices:
            if str(choice) == stripped:
                return choice
        return _check_value(stripped, inner, where)  # raises with the list and a suggestion
    if origin in (list, tuple):
        (arg, *_) = typing.get_args(inner) or (str,)
        body = stripped[1:-1] if stripped.startswith("[") and stripped.endswith("]") else stripped
        items = [p.strip().strip("'\"") for p in body.split(",") if p.strip()]
        return [parse_value(item, arg, f"{where}[{i}]") for i, item in enumerate(items)]
    if inner is bool:
        low = stripped.lower()
        if low in _TRUE_WORDS:
            return True
        if low in _FALSE_WORDS:
            return False
        raise ConfigurationError(f"{where} = {text!r} is not a bool; write true or false.")
    if inner is int:
        try:
            return int(stripped)
        except ValueError:
            raise ConfigurationError(
                f"{where} = {text!r} is not an integer; expected {_describe(tp)} (e.g. {where}=3)."
            ) from None
    if inner is float:
        try:
            return float(stripped)
        except ValueError:
            raise ConfigurationError(
                f"{where} = {text!r} is not a number; expected {_describe(tp)} (e.g. {where}=0.001)."
            ) from None
    if inner is str:
        return stripped
    raise ConfigurationError(f"{where}: unsupported field type {tp!r}")  # pragma: no cover


# --------------------------------------------------------------------------- dict <-> dataclass


def valid_keys(cls: type) -> list[str]:
    """The field names of a config dataclass, in declaration order."""
    return [f.name for f in dataclasses.fields(cls)]


def _unknown_key_error(key: str, keys: list[str], where: str, cls: Optional[type] = None) -> ConfigurationError:
    place = f"[{where}]" if where else "the top level"
    kind = getattr(cls, "kind", None) if cls is not None and where == "model" else None
    of = f" of model.kind={kind!r}" if isinstance(kind, str) else ""
    return ConfigurationError(
        f"unknown key {key!r} in {place}{of}.{_closest(key, keys)} Valid keys{of}: {', '.join(keys)}."
    )


def from_dict(cls: type, mapping: dict[str, Any], where: str = "") -> Any:
    """Build the dataclass ``cls`` from a (decoded TOML/JSON) mapping, strictly.

    Nested dataclass fields take nested tables. Missing keys keep their defaults. For
    ``cls = Config`` the ``[data]`` and ``[model]`` classes are the ones ``recipe.task`` and
    ``model.kind`` select (:func:`section_classes`).

    Raises:
        ConfigurationError: on an unknown key (listing the valid ones and the closest
            match) or a value of the wrong type.
    """
    if cls is Config:
        return _config_from_dict(mapping)
    if not isinstance(mapping, dict):
        raise ConfigurationError(f"[{where}] must be a table of key = value pairs, got {mapping!r}.")
    hints = _type_hints(cls)
    keys = valid_keys(cls)
    kwargs: dict[str, Any] = {}
    for key, value in mapping.items():
        if key not in hints:
            raise _unknown_key_error(key, keys, where, cls)
        tp = hints[key]
        name = f"{where}.{key}" if where else key
        if dataclasses.is_dataclass(tp):
            kwargs[key] = from_dict(tp, value, name)
        else:
            kwargs[key] = _check_value(value, tp, name)
    return cls(**kwargs)


def _table(mapping: dict[str, Any], name: str) -> dict[str, Any]:
    table = mapping.get(name, {})
    if not isinstance(table, dict):
        raise ConfigurationError(f"[{name}] must be a table of key = value pairs, got {table!r}.")
    return table


def _config_from_dict(mapping: dict[str, Any], *, saved: bool = False) -> "Config":
    """A :class:`Config` from nested tables; ``saved`` drops the legacy keys of old run directories."""
    if not isinstance(mapping, dict):
        raise ConfigurationError(f"a config must be a table of sections, got {mapping!r}.")
    sections = valid_keys(Config)
    for name in mapping:
        if name not in sections:
            raise _unknown_key_error(name, sections, "")
    recipe = from_dict(RecipeInfo, _table(mapping, "recipe"), "recipe")
    data_table, model_table = dict(_table(mapping, "data")), dict(_table(mapping, "model"))
    kind = model_table.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise ConfigurationError(f"model.kind = {kind!r} is not a string; expected the name of a model kind.")
    data_cls, model_cls = section_classes(recipe.task, kind)
    if saved:
        schema = _schema(recipe.task)
        for table, cls, legacy in ((data_table, data_cls, schema.legacy_data_keys),
                                   (model_table, model_cls, schema.legacy_model_keys)):
            for key in [k for k in table if k in legacy and k not in valid_keys(cls)]:
                del table[key]
    return Config(
        recipe=recipe,
        data=from_dict(data_cls, data_table, "data"),
        model=from_dict(model_cls, model_table, "model"),
        train=from_dict(TrainConfig, _table(mapping, "train"), "train"),
    )


def to_dict(config: Any) -> dict[str, Any]:
    """The config as plain nested dicts (JSON-serialisable)."""
    return dataclasses.asdict(config)


def _convert_section(section: Any, new_cls: type) -> Any:
    """``section`` as an instance of ``new_cls`` (another task's ``[data]``, another kind's ``[model]``).

    A key whose value differs from its old default was set by the recipe: it is carried over
    when ``new_cls`` has it and dropped otherwise (``ptb-small`` sets ``num_layers``, which
    ``model.kind=window_lm`` does not have). Keys left at their defaults take ``new_cls``'s
    defaults. Overrides are applied after this, so a key given on the command line is always
    checked against ``new_cls``.
    """
    if type(section) is new_cls:
        return section
    old_defaults = type(section)()
    new_keys = set(valid_keys(new_cls))
    carried = {key: getattr(section, key) for key in valid_keys(type(section))
               if key != "kind" and key in new_keys and getattr(section, key) != getattr(old_defaults, key)}
    return new_cls(**carried)


_SELECTORS = ("recipe.task", "model.kind")


def apply_overrides(config: Config, overrides: typing.Iterable[str]) -> Config:
    """Return a copy of ``config`` with dotted ``section.key=value`` overrides applied.

    Example: ``apply_overrides(cfg, ["train.epochs=3", "model.cell=peephole"])``.
    ``recipe.task=...`` and ``model.kind=...`` are applied first: they choose the ``[data]`` and
    ``[model]`` classes (the recipe's keys that the new class has are carried over,
    :func:`_convert_section`), and every other override is then checked against those.

    Raises:
        ConfigurationError: for text without ``=``, an unknown section or key (with the
            valid ones listed and the closest suggested) or a value of the wrong type.
    """
    result = dataclasses.replace(
        config,
        **{f.name: dataclasses.replace(getattr(config, f.name)) for f in dataclasses.fields(config)},
    )
    parsed = [_split_override(item, result) for item in overrides]
    selectors = [p for p in parsed if p[0] in _SELECTORS]
    for dotted, text, item in sorted(selectors, key=lambda p: _SELECTORS.index(p[0])):
        if dotted == "recipe.task":
            result.recipe.task = parse_value(text, str, dotted)
            data_cls, _ = section_classes(result.recipe.task, None)
            # the model's kind survives the task change only if the new task has it
            _, model_cls = section_classes(result.recipe.task, _schema(result.recipe.task).models.get(
                result.model.kind) and result.model.kind)
            result.data = _convert_section(result.data, data_cls)
            result.model = _convert_section(result.model, model_cls)
        else:
            kind = parse_value(text, str, dotted)
            _, model_cls = section_classes(result.recipe.task, kind)
            result.model = _convert_section(result.model, model_cls)
    for dotted, text, item in parsed:
        if dotted in _SELECTORS:
            continue
        section_name, key = dotted.split(".", 1)
        section = getattr(result, section_name)
        hints = _type_hints(type(section))
        if key not in hints:
            raise _unknown_key_error(key, valid_keys(type(section)), section_name, type(section))
        setattr(section, key, parse_value(text, hints[key], dotted))
    return result


def _split_override(item: str, config: Config) -> tuple[str, str, str]:
    """``"section.key=value"`` -> ``(dotted, text, item)``, with the format errors."""
    sections = valid_keys(Config)
    if "=" not in item:
        raise ConfigurationError(
            f"override {item!r} has no '='; write section.key=value, e.g. train.epochs=3."
        )
    dotted, text = item.split("=", 1)
    dotted = dotted.strip()
    if "." not in dotted:
        raise ConfigurationError(
            f"override {item!r} must name a section and a key, e.g. train.{dotted}={text}; "
            f"sections: {', '.join(sections)}.{_closest(dotted, _all_dotted_keys(config))}"
        )
    section_name, _ = dotted.split(".", 1)
    if section_name not in sections:
        raise ConfigurationError(
            f"unknown section {section_name!r} in override {item!r}.{_closest(section_name, sections)} "
            f"Valid sections: {', '.join(sections)}."
        )
    return dotted, text, item


def _all_dotted_keys(config: Config) -> list[str]:
    return [f"{s}.{k}" for s in valid_keys(Config) for k in valid_keys(type(getattr(config, s)))]


# --------------------------------------------------------------------------- files


def load_toml(path: str | Path) -> Config:
    """Read a recipe TOML file into a :class:`Config`, strictly."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigurationError(f"recipe file {str(path)!r} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"recipe file {str(path)!r} is not valid TOML: {exc}.") from None
    return from_dict(Config, raw)


def save_config(config: Config, path: str | Path) -> Path:
    """Write the resolved config as JSON (None is kept, so the file round-trips exactly)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(to_dict(config), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def load_config(path: str | Path) -> Config:
    """Read a config written by :func:`save_config` (``.json``) or a recipe (``.toml``)."""
    path = Path(path)
    if path.suffix == ".toml":
        return load_toml(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"config file {str(path)!r} does not exist.") from None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"config file {str(path)!r} is not valid JSON: {exc}.") from None
    return _config_from_dict(raw, saved=True)
