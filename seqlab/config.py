"""Typed, strict configuration: one dataclass per component, TOML recipes, dotted overrides.

* A recipe is a TOML file with four tables, ``[recipe]`` (metadata), ``[data]``,
  ``[model]`` and ``[train]``; each maps onto a dataclass below (STYLE.md principle 6).
* Every key is checked: an unknown or misspelled key is a :class:`ConfigurationError`
  that lists the valid keys and suggests the closest one (``difflib``).
* Every value is checked against its field's type (``int``, ``float``, ``bool``, ``str``,
  ``list[...]``, ``Optional[...]``, ``Literal[...]`` choices). TOML has no null, so an
  ``Optional`` non-string field is switched off with the string ``"none"``
  (``grad_clip_norm = "none"``).
* Command-line overrides are dotted ``section.key=value`` strings
  (``train.epochs=3 model.hidden_size=64``); the text is parsed to the field's type.
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
    "DataConfig",
    "ModelConfig",
    "TrainConfig",
    "LANGUAGE_MODEL_KINDS",
    "CLASSIFIER_KINDS",
    "is_language_model",
    "Config",
    "from_dict",
    "to_dict",
    "parse_value",
    "apply_overrides",
    "load_toml",
    "load_config",
    "save_config",
    "valid_keys",
]


# --------------------------------------------------------------------------- sections


@dataclass
class RecipeInfo:
    """Metadata of a recipe: what it trains and the published number it is compared to.

    Attributes:
        name: recipe name, e.g. ``"lstm-sst2"``.
        task: ``"classification"`` or ``"language_modeling"``.
        description: one line for ``seqlab recipes``.
        metric: the headline metric (``"accuracy"`` in %, or ``"val_loss"`` in nats).
        reference: the published value of ``metric`` (None when there is none).
        citation: where ``reference`` comes from.
        higher_is_better: direction of ``metric``.
    """

    name: str = "custom"
    task: Literal["classification", "language_modeling"] = "classification"
    description: str = ""
    metric: str = "accuracy"
    reference: Optional[float] = None
    citation: str = ""
    higher_is_better: bool = True


@dataclass
class DataConfig:
    """Which dataset, how it is tokenized and batched.

    Attributes:
        dataset: a name of the ``seqlab.data`` registry (``"sst2"``, ``"tinyshakespeare"`` ...).
        train_split / eval_split / test_split: split names used for training, model selection
            and the final test number (``test_split = ""`` skips the test evaluation).
        lowercase: lower-case text before building the vocabulary.
        tokenizer: how classification text is cut: ``"whitespace"`` (the files are already
            tokenized) or ``"kim"`` (Kim 2014's cleaning: punctuation other than ``,!?()'``
            dropped, clitics split; :class:`seqlab.data.tokenizers.KimTokenizer`).
        min_freq: words seen fewer times in the training split map to ``<unk>``.
        max_vocab_size: keep at most this many words (most frequent first); None keeps all.
        max_length: truncate classification examples to this many tokens; None keeps all.
        batch_size: training batch size (sequences; streams for a language model).
        eval_batch_size: batch size for evaluation.
        bucket: batch examples of similar length together (less padding, faster).
        bptt: window length of truncated back-propagation through time (language models).
        limit: use only the first ``limit`` training examples (or characters/tokens for a
            stream); for smoke tests and quick experiments. None uses everything.
        eval_limit: the same for the evaluation and test splits.
        cv_folds: number of cross-validation folds for a dataset without a test split
            (MR, Subj, CR, MPQA); Kim (2014) uses 10.
        cv_fold: the fold held out as the test split, in ``0 .. cv_folds-1``; None runs every
            fold in turn (``seqlab run kim-cnn-rand-mr`` trains 10 models and reports
            their mean ± std; ``data.cv_fold=0`` trains one).
        dev_fraction: share of the training part held out as the dev split (early stopping)
            for datasets without a given dev split (MR, Subj, CR, MPQA, TREC); None uses
            Kim's 0.1 there. Datasets with a given dev split (SST-1/2) reject it.
        split_seed: seeds the fold assignment and the dev hold-out, so the folds stay the
            same when ``train.seed`` changes.
    """

    dataset: str = "sst2"
    train_split: str = "train"
    eval_split: str = "dev"
    test_split: str = "test"
    lowercase: bool = True
    tokenizer: Literal["whitespace", "kim"] = "whitespace"
    min_freq: int = 1
    max_vocab_size: Optional[int] = None
    max_length: Optional[int] = None
    batch_size: int = 32
    eval_batch_size: int = 256
    bucket: bool = True
    bptt: int = 128
    limit: Optional[int] = None
    eval_limit: Optional[int] = None
    cv_folds: int = 10
    cv_fold: Optional[int] = None
    dev_fraction: Optional[float] = None
    split_seed: int = 0


#: ``model.kind`` values that are language models (trained with truncated BPTT on a token stream).
LANGUAGE_MODEL_KINDS = ("language_model", "window_lm", "bow_lm")
#: ``model.kind`` values that classify a sentence.
CLASSIFIER_KINDS = ("classifier", "text_cnn", "keras_lstm")


@dataclass
class ModelConfig:
    """The model: a classifier (recurrent, Kim's CNN, the notes' Keras model) or a language model.

    Attributes:
        kind: ``"classifier"`` (recurrent, many-to-one), ``"text_cnn"`` (Kim 2014),
            ``"keras_lstm"`` (the notes' Keras model, Embedding → LSTM → Dropout →
            Dense(sigmoid), built and trained with ``seqlab.keras``), ``"language_model"``
            (recurrent), ``"window_lm"`` (Bengio et al. 2003 fixed window) or ``"bow_lm"``
            (bag of words of the last ``window_size`` tokens).
        rnn_type: ``"rnn"`` (tanh), ``"lstm"`` or ``"gru"``.
        cell: LSTM cell variant (``seqlab.nn``): standard, peephole, coupled, layernorm.
        embedding_dim: E, size of the token embeddings.
        hidden_size: H, size of the recurrent state (per direction), of the Keras LSTM and of
            the tanh layer of ``window_lm``.
        num_layers: stacked recurrent layers.
        bidirectional: run a second layer right-to-left (classifier only).
        pooling: how a classifier turns (B, T, H) into (B, H): last valid state, or max /
            mean over valid steps.
        dropout: dropout on non-recurrent connections (Zaremba et al. 2014): after the
            embedding, between layers and before the output layer; for ``text_cnn`` on the
            pooled features (Kim: 0.5); for ``keras_lstm`` the notes' ``Dropout(0.5)``.
        embedding_dropout: dropout on the embeddings only; None uses ``dropout``.
        tie_weights: share the embedding and output matrices (Press & Wolf 2017); needs
            ``embedding_dim == hidden_size`` (language model only).
        impl: recurrent implementation passed to ``seqlab.nn`` (``"auto"`` picks the fastest).
        embedding_mode: ``text_cnn`` embeddings (Kim 2014 §3.1): ``rand`` (random, trained),
            ``static`` (pretrained, frozen), ``non-static`` (pretrained, fine-tuned),
            ``multichannel`` (both, as two input channels).
        filter_widths: ``text_cnn`` window sizes h (Kim: 3, 4, 5).
        num_filters: ``text_cnn`` feature maps per width (Kim: 100).
        max_norm: ``text_cnn`` l2 bound s on each output weight vector, applied after every
            step (Kim: 3); None disables it.
        vectors: path of a word2vec (binary or text) or GloVe file for the ``static`` /
            ``non-static`` / ``multichannel`` modes (``seqlab.data.vectors``); their
            dimension must equal ``embedding_dim``.
        init: initialization of a ``classifier``: ``"torch"`` (torch.nn's defaults) or
            ``"keras"`` (glorot / orthogonal kernels, unit forget bias, U(±0.05) embeddings;
            :func:`seqlab.models.classifier.keras_init_`).
        unk_init: the ``<unk>`` embedding row of a classifier: ``"random"`` (drawn like every
            row) or ``"zero"`` (unknown words contribute nothing;
            :func:`seqlab.models.builders.zero_unknown_rows_` explains when that matters).
        window_size: context tokens of ``window_lm`` (n−1) and ``bow_lm`` (k).
    """

    kind: Literal["classifier", "text_cnn", "keras_lstm", "language_model", "window_lm", "bow_lm"] = "classifier"
    rnn_type: Literal["rnn", "lstm", "gru"] = "lstm"
    cell: Literal["standard", "peephole", "coupled", "layernorm"] = "standard"
    embedding_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    pooling: Literal["last", "max", "mean"] = "last"
    dropout: float = 0.5
    embedding_dropout: Optional[float] = None
    tie_weights: bool = False
    impl: str = "auto"
    embedding_mode: Literal["rand", "static", "non-static", "multichannel"] = "rand"
    filter_widths: list[int] = field(default_factory=lambda: [3, 4, 5])
    num_filters: int = 100
    max_norm: Optional[float] = 3.0
    vectors: Optional[str] = None
    window_size: int = 2
    init: Literal["torch", "keras"] = "torch"
    unk_init: Literal["random", "zero"] = "random"


def is_language_model(model: ModelConfig) -> bool:
    """True for the ``model.kind`` values trained on a token stream (:data:`LANGUAGE_MODEL_KINDS`)."""
    return model.kind in LANGUAGE_MODEL_KINDS


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
    optimizer: Literal["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"] = "adam"
    lr: float = 1e-3
    rho: float = 0.95
    weight_decay: float = 0.0
    grad_clip_norm: Optional[float] = 5.0
    lr_schedule: Optional[Literal["cosine", "step", "exponential", "plateau", "linear_warmup"]] = None
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


@dataclass
class Config:
    """A whole recipe: metadata plus the data, model and train sections."""

    recipe: RecipeInfo = field(default_factory=RecipeInfo)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
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


def _unknown_key_error(key: str, keys: list[str], where: str) -> ConfigurationError:
    place = f"[{where}]" if where else "the top level"
    return ConfigurationError(
        f"unknown key {key!r} in {place}.{_closest(key, keys)} Valid keys: {', '.join(keys)}."
    )


def from_dict(cls: type, mapping: dict[str, Any], where: str = "") -> Any:
    """Build the dataclass ``cls`` from a (decoded TOML/JSON) mapping, strictly.

    Nested dataclass fields take nested tables. Missing keys keep their defaults.

    Raises:
        ConfigurationError: on an unknown key (listing the valid ones and the closest
            match) or a value of the wrong type.
    """
    if not isinstance(mapping, dict):
        raise ConfigurationError(f"[{where}] must be a table of key = value pairs, got {mapping!r}.")
    hints = _type_hints(cls)
    keys = valid_keys(cls)
    kwargs: dict[str, Any] = {}
    for key, value in mapping.items():
        if key not in hints:
            raise _unknown_key_error(key, keys, where)
        tp = hints[key]
        name = f"{where}.{key}" if where else key
        if dataclasses.is_dataclass(tp):
            kwargs[key] = from_dict(tp, value, name)
        else:
            kwargs[key] = _check_value(value, tp, name)
    return cls(**kwargs)


def to_dict(config: Any) -> dict[str, Any]:
    """The config as plain nested dicts (JSON-serialisable)."""
    return dataclasses.asdict(config)


def apply_overrides(config: Config, overrides: typing.Iterable[str]) -> Config:
    """Return a copy of ``config`` with dotted ``section.key=value`` overrides applied.

    Example: ``apply_overrides(cfg, ["train.epochs=3", "model.cell=peephole"])``.

    Raises:
        ConfigurationError: for text without ``=``, an unknown section or key (with the
            valid ones listed and the closest suggested) or a value of the wrong type.
    """
    result = dataclasses.replace(
        config,
        **{f.name: dataclasses.replace(getattr(config, f.name)) for f in dataclasses.fields(config)},
    )
    sections = valid_keys(Config)
    for item in overrides:
        if "=" not in item:
            raise ConfigurationError(
                f"override {item!r} has no '='; write section.key=value, e.g. train.epochs=3."
            )
        dotted, text = item.split("=", 1)
        dotted = dotted.strip()
        if "." not in dotted:
            raise ConfigurationError(
                f"override {item!r} must name a section and a key, e.g. train.{dotted}={text}; "
                f"sections: {', '.join(sections)}.{_closest(dotted, _all_dotted_keys())}"
            )
        section_name, key = dotted.split(".", 1)
        if section_name not in sections:
            raise ConfigurationError(
                f"unknown section {section_name!r} in override {item!r}.{_closest(section_name, sections)} "
                f"Valid sections: {', '.join(sections)}."
            )
        section = getattr(result, section_name)
        hints = _type_hints(type(section))
        if key not in hints:
            raise _unknown_key_error(key, valid_keys(type(section)), section_name)
        setattr(section, key, parse_value(text, hints[key], dotted))
    return result


def _all_dotted_keys() -> list[str]:
    return [f"{s}.{k}" for s in valid_keys(Config) for k in valid_keys(_type_hints(Config)[s])]


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
    return from_dict(Config, raw)
