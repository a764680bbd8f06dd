"""Text classification: many-to-one models over a sentence (Kim 2014; the notes' sentiment model).

Model kinds (``model.kind``), each with its own ``[model]`` keys:

* ``classifier`` — :class:`~seqlab.models.classifier.RecurrentClassifier`: embedding →
  RNN / LSTM (any cell) / GRU, optionally bidirectional → pooling (last, max, mean) → linear;
* ``text_cnn`` — :class:`~seqlab.models.text_cnn.TextCNN`, Kim (2014): filter widths 3, 4, 5 with
  max-over-time pooling, dropout, the max-norm constraint, four embedding modes;
* ``keras_lstm`` — the notes' "LSTM in Keras" model, written, fitted and scored with
  ``seqlab.keras`` exactly as in the slides (``model.fit`` / ``model.evaluate``); a run
  stores it as ``RUN_DIR/model.keras``.

Data: the datasets of Kim's suite (``seqlab.data``: MR, SST-1/2 and their phrase-level
training sets, Subj, TREC, CR, MPQA). Those without a test split (MR, Subj, CR, MPQA) are
scored by Kim's ``data.cv_folds``-fold cross-validation: :meth:`ClassificationTask.folds`
makes the runner train one run per fold; those without a dev split hold out
``data.dev_fraction`` of the training part (Kim: 10 %). A run saves its vocabulary
(``vocab.json``) and its class names (``run.json``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

from seqlab.config import Config, TaskSchema, register_task_schema
from seqlab.errors import ConfigurationError
from seqlab.models._recurrent import RNN_TYPES
from seqlab.models.classifier import INITS, POOLINGS, RecurrentClassifier
from seqlab.models.text_cnn import EMBEDDING_MODES, TextCNN
from seqlab.nn.recurrent import IMPLS, LSTM_CELLS
from seqlab.tasks.base import VocabularyTask, Fitted, LoadedRun, Task, with_data
from seqlab.train.distributed import DistributedContext

__all__ = [
    "ClassificationData",
    "ClassifierConfig",
    "TextCNNConfig",
    "KerasLSTMConfig",
    "ClassificationSplit",
    "ClassificationTask",
    "CLASSIFICATION",
    "KERAS_MODEL_FILE",
    "classification_report",
    "raw_text_tokens",
    "keras_arrays",
    "build_keras_model",
    "zero_unknown_rows_",
]

#: The Keras model file of a ``keras_lstm`` run (``seqlab.keras.load_model``).
KERAS_MODEL_FILE = "model.keras"
#: Kim (2014): "we randomly select 10% of the training data as the dev set" (no given dev split).
KIM_DEV_FRACTION = 0.1


# --------------------------------------------------------------------------- config sections


@dataclass
class ClassificationData:
    """``[data]`` of a classification recipe: which dataset, how it is tokenized and batched.

    Attributes:
        dataset: a classification dataset of the ``seqlab.data`` registry (``"sst2"``, ``"mr"`` ...).
        train_split / eval_split / test_split: split names used for training, model selection
            and the final test number (``test_split = ""`` skips the test evaluation).
        lowercase: lower-case text before building the vocabulary.
        tokenizer: how text is cut: ``"whitespace"`` (the files are already tokenized) or
            ``"kim"`` (Kim 2014's cleaning: punctuation other than ``,!?()'`` dropped, clitics
            split; :class:`seqlab.data.tokenizers.KimTokenizer`).
        min_freq: words seen fewer times in the training split map to ``<unk>``.
        max_vocab_size: keep at most this many words (most frequent first); None keeps all.
        max_length: truncate examples to this many tokens; None keeps all.
        batch_size: training batch size (sentences).
        eval_batch_size: batch size for evaluation.
        bucket: batch examples of similar length together (less padding, faster).
        limit: use only a seeded random ``limit`` of the training examples (smoke tests and
            quick experiments); None uses everything.
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
    limit: Optional[int] = None
    eval_limit: Optional[int] = None
    cv_folds: int = 10
    cv_fold: Optional[int] = None
    dev_fraction: Optional[float] = None
    split_seed: int = 0


@dataclass
class ClassifierConfig:
    """``[model]`` of ``kind = "classifier"``: a recurrent many-to-one classifier.

    Attributes:
        rnn_type: ``"rnn"`` (tanh), ``"lstm"`` or ``"gru"``.
        cell: LSTM cell variant (``seqlab.nn``): standard, peephole, coupled, layernorm.
        embedding_dim: E, size of the token embeddings.
        hidden_size: H, size of the recurrent state (per direction).
        num_layers: stacked recurrent layers.
        bidirectional: run a second layer right-to-left.
        pooling: how (B, T, H) becomes (B, H): last valid state, or max / mean over valid steps.
        dropout: dropout on non-recurrent connections (Zaremba et al. 2014): after the
            embedding, between layers and before the output layer.
        embedding_dropout: dropout on the embeddings only; None uses ``dropout``.
        impl: recurrent implementation passed to ``seqlab.nn`` (``"auto"`` picks the fastest).
        init: ``"torch"`` (torch.nn's defaults) or ``"keras"`` (glorot / orthogonal kernels,
            unit forget bias, U(±0.05) embeddings; :func:`seqlab.models.classifier.keras_init_`).
        unk_init: the ``<unk>`` embedding row: ``"random"`` (drawn like every row) or
            ``"zero"`` (unknown words contribute nothing; :func:`zero_unknown_rows_`).
    """

    kind: Literal["classifier"] = "classifier"
    rnn_type: Literal[RNN_TYPES] = "lstm"
    cell: Literal[tuple(LSTM_CELLS)] = "standard"
    embedding_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    pooling: Literal[POOLINGS] = "last"
    dropout: float = 0.5
    embedding_dropout: Optional[float] = None
    impl: Literal[IMPLS] = "auto"
    init: Literal[INITS] = "torch"
    unk_init: Literal["random", "zero"] = "random"


@dataclass
class TextCNNConfig:
    """``[model]`` of ``kind = "text_cnn"``: Kim (2014)'s CNN for sentence classification.

    Attributes:
        embedding_dim: E, size of the word vectors (Kim: 300).
        embedding_mode: Kim (2014) §3.1: ``rand`` (random, trained), ``static`` (pretrained,
            frozen), ``non-static`` (pretrained, fine-tuned), ``multichannel`` (both, as two
            input channels).
        filter_widths: window sizes h (Kim: 3, 4, 5).
        num_filters: feature maps per width (Kim: 100).
        dropout: on the pooled features (Kim: 0.5).
        max_norm: l2 bound s on each output weight vector, applied after every step (Kim: 3);
            None disables it.
        vectors: path of a word2vec (binary or text) or GloVe file for the ``static`` /
            ``non-static`` / ``multichannel`` modes (``seqlab.data.vectors``); their
            dimension must equal ``embedding_dim``.
        unk_init: the ``<unk>`` embedding row: ``"random"`` or ``"zero"`` (:func:`zero_unknown_rows_`).
    """

    kind: Literal["text_cnn"] = "text_cnn"
    embedding_dim: int = 128
    embedding_mode: Literal[EMBEDDING_MODES] = "rand"
    filter_widths: list[int] = field(default_factory=lambda: [3, 4, 5])
    num_filters: int = 100
    dropout: float = 0.5
    max_norm: Optional[float] = 3.0
    vectors: Optional[str] = None
    unk_init: Literal["random", "zero"] = "random"


@dataclass
class KerasLSTMConfig:
    """``[model]`` of ``kind = "keras_lstm"``: the notes' Keras model
    (Embedding → LSTM → Dropout → Dense(sigmoid), :func:`build_keras_model`).

    Attributes:
        embedding_dim: ``Embedding(max_features, output_dim=...)`` (the notes: 256).
        hidden_size: ``LSTM(...)`` units (the notes: 128).
        dropout: ``Dropout(...)`` (the notes: 0.5).
    """

    kind: Literal["keras_lstm"] = "keras_lstm"
    embedding_dim: int = 128
    hidden_size: int = 128
    dropout: float = 0.5


#: the flat ``[data]`` / ``[model]`` keys that run directories written before the task
#: redesign store (see :class:`seqlab.config.TaskSchema`)
_LEGACY_DATA_KEYS = frozenset({"bptt"})
_LEGACY_MODEL_KEYS = frozenset({
    "rnn_type", "cell", "embedding_dim", "hidden_size", "num_layers", "bidirectional", "pooling", "dropout",
    "embedding_dropout", "tie_weights", "impl", "embedding_mode", "filter_widths", "num_filters", "max_norm",
    "vectors", "window_size", "init", "unk_init",
})


# --------------------------------------------------------------------------- data


@dataclass
class ClassificationSplit:
    """One split of a classification dataset, tokenized: ``texts`` and ``tokens`` align."""

    texts: list[str]
    tokens: list[list[str]]
    labels: list[int]
    class_names: list[str]


def tokenizer_for(data: ClassificationData):
    """The tokenizer of ``data.tokenizer``.

    ``"whitespace"``: Kim's files are pre-tokenized, so a whitespace split. ``"kim"``: Kim's
    own cleaning on top (:class:`~seqlab.data.tokenizers.KimTokenizer`).
    """
    from seqlab.data.tokenizers import KimTokenizer, WordTokenizer

    if data.tokenizer == "kim":
        return KimTokenizer(lowercase=data.lowercase)
    return WordTokenizer(lowercase=data.lowercase, split_punctuation=False)


def _subset(n: int, limit: Optional[int], seed: int) -> list[int]:
    """A seeded random subset of ``range(n)`` of size ``limit`` (kept in file order)."""
    if limit is None or limit >= n:
        return list(range(n))
    if limit < 1:
        raise ConfigurationError(f"data.limit must be >= 1 or none, got {limit}.")
    g = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(n, generator=g)[:limit].tolist())


def dataset_kind(name: str) -> Optional[str]:
    """How a dataset of Kim's suite is split: ``"cv"`` (MR, Subj, CR, MPQA: no split),
    ``"trec"`` (given train/test, dev held out of train), ``"given"`` (SST-1/2); None for
    any other dataset."""
    from seqlab.data.datasets.kim2014 import KIM_TASKS

    task = KIM_TASKS.get(name)
    return None if task is None else task["kind"]


def dataset_options(config: Config) -> dict[str, Any]:
    """The ``seqlab.data.load`` options of ``[data]``: fold, number of folds, split seed and dev
    fraction for Kim's datasets without a given split; nothing for the others.

    Raises:
        ConfigurationError: a cross-validated dataset with ``data.cv_fold = none`` (the runner
            expands that into one run per fold; set ``data.cv_fold`` to load one).
    """
    data = config.data
    kind = dataset_kind(data.dataset)
    dev_fraction = KIM_DEV_FRACTION if data.dev_fraction is None else data.dev_fraction
    if kind == "cv":
        if data.cv_fold is None:
            raise ConfigurationError(
                f"{data.dataset} is scored by {data.cv_folds}-fold cross-validation and data.cv_fold is none "
                f"(= every fold, which run_recipe expands); to load a split, set data.cv_fold to one of "
                f"0..{data.cv_folds - 1}."
            )
        return {"fold": data.cv_fold, "num_folds": data.cv_folds, "seed": data.split_seed, "dev_fraction": dev_fraction}
    if kind == "trec":
        return {"seed": data.split_seed, "dev_fraction": dev_fraction}
    return {}


_PIECES = re.compile(r"([^\w\s'-])\1*|[\w'-]+")  # a run of one punctuation mark ("...", "``"), or a word
_CLITIC = re.compile(r"(n't|'s|'re|'ve|'ll|'d|'m)$", re.IGNORECASE)


def raw_text_tokens(text: str, data: ClassificationData, vocab=None) -> list[str]:
    """Tokens of free text (``seqlab predict``), cut the way the dataset's files were tokenized.

    Kim's files are already tokenized (``"a gripping , funny film ."``), and the model was
    trained on their whitespace split; free text (``"a gripping, funny film."``) has to be cut
    the same way. The files differ — SST splits clitics (``does n't``, ``it 's``), MR and Subj
    keep them (``doesn't``) — so the cut follows the training vocabulary: a whitespace chunk
    the vocabulary knows stays whole (``u.s.``, ``doesn't`` in MR, ``...``); another one is cut
    into runs of one punctuation mark and words, and a word it does not know loses a
    Penn-Treebank clitic (``n't 's 're 've 'll 'd 'm``). Without a vocabulary everything is
    cut. With ``data.tokenizer="kim"``, Kim's cleaning alone cuts the text.
    ``data.lowercase`` and ``data.max_length`` apply as in training.

    Args:
        text: one text.
        data: the run's ``[data]`` section.
        vocab: the run's vocabulary (anything supporting ``token in vocab``), or None.
    """
    if data.tokenizer == "kim":  # the cleaning cuts free text and files alike
        tokens = tokenizer_for(data)(text)
        return tokens[: data.max_length] if data.max_length is not None else tokens
    tokens: list[str] = []
    for chunk in tokenizer_for(data)(text):
        if vocab is not None and chunk in vocab:
            tokens.append(chunk)
            continue
        for match in _PIECES.finditer(chunk):
            piece = match.group(0)
            clitic = _CLITIC.search(piece)
            if clitic and clitic.start() > 0 and (vocab is None or piece not in vocab):
                tokens.extend([piece[: clitic.start()], clitic.group(0)])
            else:
                tokens.append(piece)
    return tokens[: data.max_length] if data.max_length is not None else tokens


def classification_inputs(batch) -> tuple[tuple, dict, torch.Tensor]:
    """Engine ``input_adapter``: a ``PaddedBatch`` -> ``((ids (B, T),), {"lengths": (B,)}, labels (B,))``."""
    return (batch.ids,), {"lengths": batch.lengths}, batch.labels


# --------------------------------------------------------------------------- models


@torch.no_grad()
def zero_unknown_rows_(model: nn.Module, unk_idx: int) -> None:
    """Set the ``<unk>`` row of every embedding of ``model`` to zero (``model.unk_init="zero"``).

    Why: with ``data.min_freq = 1`` no training token maps to ``<unk>``, so its row never gets
    a gradient and keeps its random initial vector: every unseen test word becomes the *same*
    random feature. A zero row makes an unseen word contribute nothing, so a text of unseen
    words is classified from the biases alone. When ``<unk>`` does occur in training
    (``min_freq > 1``) the row is trained from zero.

    Measured on MPQA (phrases of ~3 words, ~6 % of test phrases entirely unseen; Kim CNN, fold
    3 / fold 1): random ``<unk>`` 78.5 % / 86.3 %, zero ``<unk>`` 82.5 % / 83.2 %, and
    ``min_freq = 2`` (``<unk>`` trained on the training singletons) 83.5 % / 86.2 %, which
    the MPQA recipe uses (benchmarks/results/text_classification_settings.md).
    """
    for module in model.modules():
        if isinstance(module, nn.Embedding) and unk_idx < module.num_embeddings:
            module.weight[unk_idx].zero_()


def check_model(model: Any) -> None:
    """Cross-key checks of a classification ``[model]`` section that types alone cannot express.

    Raises:
        ConfigurationError: saying which keys conflict and how to fix them.
    """
    if not 0.0 <= model.dropout < 1.0:
        raise ConfigurationError(f"model.dropout must be in [0, 1), got {model.dropout}.")
    if isinstance(model, TextCNNConfig):
        if model.embedding_mode == "rand" and model.vectors is not None:
            raise ConfigurationError(
                f"model.vectors={model.vectors!r} is given but model.embedding_mode='rand' ignores it; "
                "set model.embedding_mode to static, non-static or multichannel, or remove model.vectors."
            )
        if not model.filter_widths or min(model.filter_widths) < 1:
            raise ConfigurationError(
                f"model.filter_widths must be a non-empty list of positive widths, got {model.filter_widths}; "
                "Kim (2014) uses [3, 4, 5]."
            )
        if model.num_filters < 1:
            raise ConfigurationError(f"model.num_filters must be >= 1, got {model.num_filters}; Kim (2014) uses 100.")
        if model.max_norm is not None and not model.max_norm > 0:
            raise ConfigurationError(f"model.max_norm must be > 0 or none, got {model.max_norm}; Kim (2014) uses 3.")


def build_classifier(model: Any, vocab_size: int, num_classes: int, *, padding_idx: Optional[int] = 0,
                     pretrained: Optional[torch.Tensor] = None, unk_idx: Optional[int] = None) -> nn.Module:
    """The ``seqlab.train`` model of a ``classifier`` or ``text_cnn`` section, freshly initialized.

    Args:
        model: a :class:`ClassifierConfig` or :class:`TextCNNConfig`.
        vocab_size: V, from the vocabulary built on the training split.
        num_classes: C.
        padding_idx: the vocabulary's padding id.
        pretrained: (V, E) initial word vectors for a ``text_cnn`` in a non-``rand`` mode
            (``seqlab.data.vectors.load_vectors``). When None in such a mode the architecture
            is built with zero vectors, to be overwritten by a checkpoint (``load_run``); the
            runner always passes the vectors of ``model.vectors`` when training.
        unk_idx: the vocabulary's ``<unk>`` id; needed by ``model.unk_init="zero"``.
    """
    check_model(model)
    if num_classes is None:
        raise ConfigurationError(f"a {model.kind} needs num_classes; the dataset did not provide it.")
    if model.unk_init == "zero" and unk_idx is None:
        raise ConfigurationError("model.unk_init='zero' needs the vocabulary's <unk> id (unk_idx=...).")
    if isinstance(model, TextCNNConfig):
        if model.embedding_mode != "rand" and pretrained is None:
            pretrained = torch.zeros(vocab_size, model.embedding_dim)  # placeholder, see the docstring
        module: nn.Module = TextCNN(
            vocab_size, num_classes, embedding_dim=model.embedding_dim, filter_widths=model.filter_widths,
            num_filters=model.num_filters, dropout=model.dropout, max_norm=model.max_norm, mode=model.embedding_mode,
            pretrained=pretrained if model.embedding_mode != "rand" else None,
            padding_idx=0 if padding_idx is None else padding_idx,
        )
    else:
        module = RecurrentClassifier(
            vocab_size, num_classes, embedding_dim=model.embedding_dim, hidden_size=model.hidden_size,
            num_layers=model.num_layers, rnn_type=model.rnn_type, cell=model.cell, bidirectional=model.bidirectional,
            pooling=model.pooling, dropout=model.dropout, embedding_dropout=model.embedding_dropout,
            padding_idx=padding_idx, impl=model.impl, init=model.init,
        )
    if model.unk_init == "zero":
        zero_unknown_rows_(module, unk_idx)
    return module


def build_keras_model(config: Config, vocab_size: int):
    """The notes' "LSTM in Keras" sentiment model, written with ``seqlab.keras`` as in the slides::

        model = Sequential()
        model.add(Embedding(max_features, output_dim=256))
        model.add(LSTM(128))
        model.add(Dropout(0.5))
        model.add(Dense(1, activation='sigmoid'))
        model.compile(loss='binary_crossentropy', optimizer='rmsprop', metrics=['accuracy'])

    ``max_features`` is the vocabulary size, ``output_dim`` ``model.embedding_dim``, the LSTM
    ``model.hidden_size``, the dropout ``model.dropout``; the optimizer is ``train.optimizer``
    with Keras' defaults, ``train.lr`` and ``clipnorm = train.grad_clip_norm``. Returns the
    compiled model.
    """
    from seqlab.keras import Sequential
    from seqlab.keras.layers import LSTM, Dense, Dropout, Embedding

    m = config.model
    model = Sequential()
    model.add(Embedding(vocab_size, output_dim=m.embedding_dim))
    model.add(LSTM(m.hidden_size))
    model.add(Dropout(m.dropout))
    model.add(Dense(1, activation="sigmoid"))
    _compile_keras(model, config)
    return model


def _compile_keras(model, config: Config) -> None:
    from seqlab.keras import optimizers

    t = config.train
    optimizer = optimizers.OPTIMIZERS[t.optimizer](learning_rate=t.lr, clipnorm=t.grad_clip_norm)
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"], device=t.device)


def keras_arrays(split_data: ClassificationSplit, vocab, maxlen: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x (N, maxlen) int64, y (N,) float32)`` as Keras' ``pad_sequences`` makes them.

    Keras' defaults: sequences are padded with 0 and truncated at the FRONT
    (``padding='pre', truncating='pre'``), so the LSTM's last step is the sentence's last word.
    """
    x = torch.zeros(len(split_data.tokens), maxlen, dtype=torch.long)
    for i, tokens in enumerate(split_data.tokens):
        ids = vocab.encode(tokens)[-maxlen:]
        if ids:
            x[i, maxlen - len(ids):] = torch.tensor(ids, dtype=torch.long)
    y = torch.tensor(split_data.labels, dtype=torch.float32)
    return x, y


class KerasFit(Fitted):
    """The notes' Keras model after ``model.fit`` (best epoch kept as ``model.keras``)."""

    def __init__(self, model, history, config: Config, model_file: Path, best_only: bool) -> None:
        self.model = model
        self.epochs = len(history.history["loss"])
        self.train_loss = history.history["loss"][-1]
        self.config = config
        self.model_file = model_file
        self.best_only = best_only

    def finalize(self, restore_best: bool) -> None:
        from seqlab.keras import load_model

        if restore_best and self.best_only and self.model_file.is_file():
            self.model = load_model(self.model_file, compile=False)  # the best epoch by train.monitor
            _compile_keras(self.model, self.config)
        else:
            self.model.save(self.model_file)

    def evaluate(self, arrays) -> dict[str, float]:
        return self.model.evaluate(*arrays, batch_size=self.config.data.eval_batch_size, verbose=0, return_dict=True)


# --------------------------------------------------------------------------- evaluation


def classification_report(y_true: list[int], y_pred: list[int], num_classes: int) -> dict[str, Any]:
    """Accuracy, confusion matrix (rows true, columns predicted), per-class P/R/F1, macro averages.

    A class never predicted has precision 0; never present, recall 0 (and F1 0).
    """
    confusion = [[0] * num_classes for _ in range(num_classes)]
    for t, p in zip(y_true, y_pred):
        confusion[t][p] += 1
    per_class = []
    for c in range(num_classes):
        tp = confusion[c][c]
        predicted = sum(confusion[r][c] for r in range(num_classes))
        actual = sum(confusion[c])
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append({"precision": precision, "recall": recall, "f1": f1, "support": actual})
    n = len(y_true)
    correct = sum(confusion[c][c] for c in range(num_classes))
    return {
        "accuracy": correct / n if n else float("nan"),
        "num_examples": n,
        "confusion_matrix": confusion,
        "per_class": per_class,
        "macro_precision": sum(p["precision"] for p in per_class) / num_classes,
        "macro_recall": sum(p["recall"] for p in per_class) / num_classes,
        "macro_f1": sum(p["f1"] for p in per_class) / num_classes,
    }


def _write_errors(path: Path, split: ClassificationSplit, probs: torch.Tensor, pred: list[int],
                  names: list[str]) -> list[dict]:
    """All misclassified examples, most confident mistakes first, as TSV."""
    errors = []
    for i, (label, p) in enumerate(zip(split.labels, pred)):
        if label != p:
            errors.append({"index": i, "true": names[label], "predicted": names[p],
                           "p_predicted": float(probs[i, p]), "p_true": float(probs[i, label]), "text": split.texts[i]})
    errors.sort(key=lambda e: (-e["p_predicted"], e["index"]))
    lines = ["rank\tindex\ttrue\tpredicted\tp_predicted\tp_true\ttext"]
    for rank, e in enumerate(errors, 1):
        text = e["text"].replace("\t", " ").replace("\n", " ")
        lines.append(f"{rank}\t{e['index']}\t{e['true']}\t{e['predicted']}\t{e['p_predicted']:.4f}\t{e['p_true']:.4f}\t{text}")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return errors


# --------------------------------------------------------------------------- the task


class ClassificationTask(VocabularyTask):
    """Sentence classification (see the module docstring)."""

    def __init__(self) -> None:
        self.schema = register_task_schema(TaskSchema(
            name="classification",
            data=ClassificationData,
            models={"classifier": ClassifierConfig, "text_cnn": TextCNNConfig, "keras_lstm": KerasLSTMConfig},
            default_kind="classifier",
            legacy_data_keys=_LEGACY_DATA_KEYS,
            legacy_model_keys=_LEGACY_MODEL_KEYS,
        ))

    # ------------------------------------------------------------------ config

    def check_data_and_model(self, config: Config) -> None:
        data, model = config.data, config.model
        from seqlab.data.registry import get_spec

        get_spec(data.dataset)  # an unknown name is an error naming the valid ones, before any other check
        kind = dataset_kind(data.dataset)
        cv_names = "mr, subj, cr, mpqa"
        if data.cv_folds < 2:
            raise ConfigurationError(f"data.cv_folds must be >= 2, got {data.cv_folds}; Kim (2014) uses 10.")
        if data.cv_fold is not None:
            if kind != "cv":
                raise ConfigurationError(
                    f"data.cv_fold={data.cv_fold} but {data.dataset} has a given test split; cross-validation folds "
                    f"apply to {cv_names}. Remove data.cv_fold."
                )
            if not 0 <= data.cv_fold < data.cv_folds:
                raise ConfigurationError(
                    f"data.cv_fold={data.cv_fold} is outside 0..{data.cv_folds - 1} (data.cv_folds={data.cv_folds}); "
                    "pick one fold, or none to run them all."
                )
        if data.dev_fraction is not None:
            if kind not in ("cv", "trec"):
                raise ConfigurationError(
                    f"data.dev_fraction={data.dev_fraction} but {data.dataset} has a given dev split (or is not a "
                    f"classification dataset of Kim's suite); dev_fraction applies to {cv_names}, trec. Remove it."
                )
            if not 0.0 <= data.dev_fraction < 1.0:
                raise ConfigurationError(
                    f"data.dev_fraction must be in [0, 1), got {data.dev_fraction}; Kim (2014) uses 0.1.")
            if data.dev_fraction == 0.0 and data.eval_split == "dev":
                raise ConfigurationError(
                    "data.dev_fraction=0 holds out no dev split, but data.eval_split='dev'; set data.eval_split='' "
                    "(no early stopping / model selection) or a dev_fraction > 0."
                )
        check_model(model)
        if isinstance(model, TextCNNConfig) and model.embedding_mode != "rand" and model.vectors is None:
            raise ConfigurationError(
                f"model.embedding_mode={model.embedding_mode!r} starts from pre-trained word vectors, but "
                "model.vectors is not set; pass the path of a word2vec (.bin or text) or GloVe file "
                "(model.vectors=/path/GoogleNews-vectors-negative300.bin) or use model.embedding_mode=rand."
            )
        if isinstance(model, KerasLSTMConfig) and data.dataset == "sst1":
            raise ConfigurationError(
                "model.kind='keras_lstm' is the notes' binary model (Dense(1, sigmoid), binary cross-entropy); "
                "sst1 has 5 classes. Use sst2, mr, subj, cr or mpqa."
            )

    def check_distributed(self, config: Config) -> None:
        if isinstance(config.model, KerasLSTMConfig):
            raise ConfigurationError(
                f"recipe {config.recipe.name!r} uses model.kind='keras_lstm' (the notes' Keras model), which trains in "
                "one process (seqlab.keras model.fit) and cannot run under torchrun; run it without torchrun "
                "(`seqlab run RECIPE`)."
            )
        if self.folds(config) is not None:
            raise ConfigurationError(
                f"recipe {config.recipe.name!r} is cross-validated ({config.data.cv_folds} folds), and under torchrun "
                f"a job trains one fold: run one fold per torchrun job with data.cv_fold=K "
                f"(K = 0..{config.data.cv_folds - 1}), or run all folds in one process without torchrun."
            )

    def check_resume(self, config: Config, run_dir: Path) -> None:
        if isinstance(config.model, KerasLSTMConfig):
            raise ConfigurationError(
                f"a keras_lstm run cannot be resumed ({run_dir}); model.fit has no resumable checkpoint. "
                "Delete the directory and start it again with `seqlab run`."
            )

    def metric_names(self, config: Config) -> list[str]:
        return ["accuracy"]

    # ------------------------------------------------------------------ cross-validation

    def folds(self, config: Config) -> Optional[int]:
        if dataset_kind(config.data.dataset) == "cv" and config.data.cv_fold is None:
            return config.data.cv_folds
        return None

    def fold_config(self, config: Config, fold: int) -> Config:
        return with_data(config, cv_fold=fold)

    def cross_validation_info(self, config: Config) -> dict[str, Any]:
        return {"split_seed": config.data.split_seed}

    # ------------------------------------------------------------------ data

    def load_split(self, config: Config, split: str, *, training: bool = False) -> ClassificationSplit:
        """``split`` of ``data.dataset``, tokenized, with Kim's fold / dev hold-out options and
        ``limit`` / ``eval_limit`` applied."""
        from seqlab import data as sdata

        data = config.data
        limit = data.limit if training else data.eval_limit
        dataset = sdata.load(data.dataset, split, **dataset_options(config))
        if not hasattr(dataset, "texts"):
            raise ConfigurationError(
                f"model.kind={config.model.kind!r} needs a text classification dataset (sst2, mr, trec ...), "
                f"but data.dataset={data.dataset!r} is {type(dataset).__name__}."
            )
        keep = _subset(len(dataset), limit, config.train.seed)
        tokenizer = tokenizer_for(data)
        texts = [dataset.texts[i] for i in keep]
        tokens = [tokenizer(t) for t in texts]
        if data.max_length is not None:
            tokens = [t[: data.max_length] for t in tokens]
        return ClassificationSplit(texts, tokens, [int(dataset.labels[i]) for i in keep], list(dataset.class_names))

    def build_artifacts(self, config: Config, train_split: ClassificationSplit):
        """The vocabulary of the training split (``min_freq``, ``max_vocab_size``)."""
        from seqlab.data.vocab import Vocabulary

        return Vocabulary.build(train_split.tokens, min_freq=config.data.min_freq,
                                max_size=config.data.max_vocab_size)

    def run_info(self, config: Config, train_split: ClassificationSplit, artifacts) -> dict[str, Any]:
        info: dict[str, Any] = {"vocab_size": len(artifacts), "num_classes": len(train_split.class_names),
                                "class_names": train_split.class_names}
        if isinstance(config.model, KerasLSTMConfig):
            if len(train_split.class_names) != 2:
                raise ConfigurationError(
                    f"model.kind='keras_lstm' is the notes' binary model (Dense(1, sigmoid)), but {config.data.dataset} "
                    f"has {len(train_split.class_names)} classes; use a binary dataset (sst2, mr, subj, cr, mpqa)."
                )
            # Keras pads every sequence to one length: data.max_length, else the longest training sentence.
            maxlen = config.data.max_length or max(1, max(len(tokens) for tokens in train_split.tokens))
            info.update({"maxlen": maxlen, "model_file": KERAS_MODEL_FILE})
        return info

    def prepare(self, config: Config, train_split, artifacts, info: dict[str, Any]):
        """Pre-trained vectors of ``model.vectors`` for the vocabulary; coverage goes to ``info`` (``run.json``)."""
        vectors = getattr(config.model, "vectors", None)
        if vectors is None:
            return None
        from seqlab.data.vectors import load_vectors

        weights, coverage = load_vectors(vectors, artifacts, dim=config.model.embedding_dim, seed=config.train.seed)
        info["vectors"] = {"path": vectors, "found": coverage.found, "total": coverage.total,
                           "coverage": round(coverage.fraction, 4)}
        return weights

    def loader(self, config: Config, split_data: ClassificationSplit, artifacts, *, training: bool,
               distributed: Optional[DistributedContext] = None, maxlen: Optional[int] = None):
        """Padded batches of token ids (``PaddedBatch``), of similar lengths when ``data.bucket``
        (shuffled per epoch when training); an empty sentence becomes one ``<unk>``. The Keras
        model takes ``(x, y)`` arrays padded to ``maxlen`` instead (:func:`keras_arrays`).

        Under torchrun, bucketed batches are dealt out round-robin
        (``BucketBatchSampler(num_replicas=..., rank=...)``), ``data.batch_size`` sentences per
        process per step; training drops the epoch's last few batches so that every rank takes
        the same number of steps, evaluation keeps them all. Plain (``data.bucket = false``)
        loaders are left to the engine, which shards them with a ``DistributedSampler``.
        """
        from seqlab.data import BucketBatchSampler, PadCollate

        if isinstance(config.model, KerasLSTMConfig):
            return keras_arrays(split_data, artifacts, maxlen)
        data, vocab = config.data, artifacts
        batch_size = data.batch_size if training else data.eval_batch_size
        sharded = distributed is not None and distributed.enabled
        unk = vocab.unk_id
        sequences = [torch.tensor(vocab.encode(t) or [unk], dtype=torch.long) for t in split_data.tokens]
        dataset = list(zip(sequences, split_data.labels))
        collate = PadCollate(pad_id=vocab.pad_id or 0, min_length=1)
        if data.bucket:
            num_replicas, rank = (distributed.world_size, distributed.rank) if sharded else (1, 0)
            sampler = BucketBatchSampler([len(s) for s in sequences], batch_size, shuffle=training,
                                         seed=config.train.seed, num_replicas=num_replicas, rank=rank, even=training)
            return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)
        return DataLoader(dataset, batch_size=batch_size, shuffle=training, collate_fn=collate)

    def input_adapter(self, config: Config):
        return classification_inputs

    # ------------------------------------------------------------------ model and fit

    def build_model(self, config: Config, artifacts, info: dict[str, Any], prepared=None):
        if isinstance(config.model, KerasLSTMConfig):
            return build_keras_model(config, len(artifacts))
        vocab = artifacts
        return build_classifier(config.model, len(vocab), info.get("num_classes"), padding_idx=vocab.pad_id,
                                pretrained=prepared, unk_idx=getattr(vocab, "unk_id", None))

    def fit(self, config: Config, model, train_loader, val_loader, *, run_dir: Path, resume: bool,
            verbose: int | str) -> Fitted:
        if not isinstance(config.model, KerasLSTMConfig):
            return super().fit(config, model, train_loader, val_loader, run_dir=run_dir, resume=resume,
                               verbose=verbose)
        # the notes' code: model.fit with Keras callbacks
        from seqlab.keras.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint
        from seqlab.train.callbacks import JSONLLogger, TimeLimit

        t = config.train
        model_file = run_dir / KERAS_MODEL_FILE
        callbacks: list[Any] = [CSVLogger(run_dir / "metrics.csv"), JSONLLogger(run_dir / "metrics.jsonl")]
        best_only = t.restore_best and val_loader is not None
        if best_only:
            callbacks.append(ModelCheckpoint(model_file, monitor=t.monitor, save_best_only=True))
        if t.early_stopping_patience is not None:
            callbacks.append(EarlyStopping(monitor=t.monitor, patience=t.early_stopping_patience))
        if t.max_time_s is not None:
            callbacks.append(TimeLimit(t.max_time_s))
        x_train, y_train = train_loader
        history = model.fit(x_train, y_train, batch_size=config.data.batch_size, epochs=t.epochs, verbose=verbose,
                            callbacks=callbacks, validation_data=val_loader)
        return KerasFit(model, history, config, model_file, best_only)

    def loader_options(self, config: Config, info: dict[str, Any]) -> dict[str, Any]:
        """Extra :meth:`loader` arguments a run's ``run.json`` fixes (the Keras model's ``maxlen``)."""
        return {"maxlen": info["maxlen"]} if isinstance(config.model, KerasLSTMConfig) else {}

    # ------------------------------------------------------------------ using a run

    def check_predict(self, run_dir: Path, config: Config) -> None:
        if self.folds(config) is not None:
            raise ConfigurationError(
                f"{run_dir} is a {config.data.cv_folds}-fold cross-validation run: each fold trained its own model. "
                f"Pass one fold's directory, e.g. `seqlab predict {run_dir / 'fold-0'} ...`."
            )

    def load_run(self, run_dir: Path, config: Config, info: dict[str, Any], *, checkpoint: str,
                 device: str | torch.device) -> LoadedRun:
        if self.folds(config) is not None:
            raise ConfigurationError(
                f"{run_dir} is a {config.data.cv_folds}-fold cross-validation run: each fold trained its own model. "
                f"Pass one fold's directory, e.g. {run_dir / 'fold-0'}."
            )
        vocab = self.load_artifacts(run_dir, config, info)
        if isinstance(config.model, KerasLSTMConfig):
            from seqlab.keras import load_model

            model_file = run_dir / info.get("model_file", KERAS_MODEL_FILE)
            if not model_file.is_file() or "maxlen" not in info:
                raise ConfigurationError(
                    f"{run_dir} is a keras_lstm run without {model_file.name} (or without 'maxlen' in run.json): it "
                    "stopped before saving its model. Train it again with `seqlab run`."
                )
            return LoadedRun(run_dir, config, load_model(model_file, compile=False), vocab, info, model_file)
        from seqlab.train.checkpoint import load_model_weights
        from seqlab.train.runs import find_checkpoint

        model = build_classifier(config.model, len(vocab), info.get("num_classes"), padding_idx=vocab.pad_id,
                                 unk_idx=getattr(vocab, "unk_id", None))
        weights = find_checkpoint(run_dir, checkpoint)
        meta = load_model_weights(model, weights)
        model.to(device).eval()
        return LoadedRun(run_dir, config, model, vocab, info, weights, meta)

    def probabilities(self, loaded: LoadedRun, token_lists: Sequence[list[str]], *, device: str) -> torch.Tensor:
        """(N, C) class probabilities of tokenized texts, in order (the Keras model's sigmoid as [1 − p, p])."""
        config, vocab = loaded.config, loaded.vocab
        step = max(1, config.data.eval_batch_size)
        if isinstance(config.model, KerasLSTMConfig):
            x, _ = keras_arrays(ClassificationSplit([], list(token_lists), [0] * len(token_lists), []), vocab,
                                loaded.info["maxlen"])
            p = torch.as_tensor(loaded.model.predict(x, batch_size=step, verbose=0)).float().reshape(-1, 1)
            return torch.cat([1.0 - p, p], dim=1)
        from seqlab.data import pad_sequences

        sequences = [torch.tensor(vocab.encode(tokens) or [vocab.unk_id], dtype=torch.long) for tokens in token_lists]
        probs = []
        with torch.no_grad():
            for start in range(0, len(sequences), step):
                ids, lengths, _ = pad_sequences(sequences[start:start + step], pad_value=vocab.pad_id or 0)  # (B, T)
                logits = loaded.model(ids.to(device), lengths.to(device))  # (B, C)
                probs.append(torch.softmax(logits.float(), dim=-1).cpu())
        return torch.cat(probs)

    def predict(self, loaded: LoadedRun, texts: Sequence[str], *, device: str) -> list[dict[str, Any]]:
        """Per text: ``label``, ``probabilities`` (class name -> p), ``known_tokens``, ``tokens``.

        Free text is cut like the training files (:func:`raw_text_tokens`); unknown words are ``<unk>``.
        """
        vocab = loaded.vocab
        tokens = [raw_text_tokens(t, loaded.config.data, vocab) for t in texts]
        probs = self.probabilities(loaded, tokens, device=device)
        names = loaded.class_names or [str(c) for c in range(probs.shape[1])]
        rows = []
        for text, toks, row in zip(texts, tokens, probs.tolist()):
            best = max(range(len(row)), key=row.__getitem__)
            rows.append({"text": text, "label": names[best], "probabilities": dict(zip(names, row)),
                         "known_tokens": sum(1 for t in toks if t in vocab), "tokens": len(toks)})
        return rows

    def evaluate_run(self, loaded: LoadedRun, split: str, *, limit: Optional[int], device: str) -> dict[str, Any]:
        """Accuracy, per-class P/R/F1, the confusion matrix and the worst errors, which go to
        ``RUN_DIR/errors-<split>.tsv`` (all of them, most confident first)."""
        config = with_data(loaded.config, eval_limit=limit)
        data = self.load_split(config, split)
        probs = self.probabilities(loaded, data.tokens, device=device)  # (N, C)
        pred = probs.argmax(dim=-1).tolist()
        names = loaded.class_names or [str(c) for c in range(probs.shape[1])]
        report = classification_report(data.labels, pred, len(names))
        errors_path = loaded.path / f"errors-{split}.tsv"
        errors = _write_errors(errors_path, data, probs, pred, names)
        return {**report, "class_names": names, "errors_file": str(errors_path), "num_errors": len(errors),
                "_errors": errors}

    def print_evaluation(self, loaded: LoadedRun, result: dict[str, Any], *, show_errors: int) -> None:
        from rich.console import Console
        from rich.table import Table

        names, top_errors = result["class_names"], result["_errors"][:show_errors]
        console = Console()
        console.print(f"[bold]{loaded.config.recipe.name}[/bold] on {result['split']} ({result['num_examples']} "
                      f"examples, {loaded.checkpoint.name}): accuracy [bold]{100 * result['accuracy']:.2f} %[/bold], "
                      f"macro F1 {100 * result['macro_f1']:.2f}")
        per = Table(title="per class")
        for col in ("class", "precision", "recall", "F1", "support"):
            per.add_column(col, justify="left" if col == "class" else "right")
        for name, p in zip(names, result["per_class"]):
            per.add_row(name, f"{100 * p['precision']:.2f}", f"{100 * p['recall']:.2f}", f"{100 * p['f1']:.2f}",
                        str(p["support"]))
        console.print(per)
        conf = Table(title="confusion matrix (rows: true, columns: predicted)")
        conf.add_column("true \\ predicted")
        for name in names:
            conf.add_column(name, justify="right")
        for name, row in zip(names, result["confusion_matrix"]):
            conf.add_row(name, *(str(v) for v in row))
        console.print(conf)
        if top_errors:
            worst = Table(title=f"most confident errors (all in {result['errors_file']})")
            for col in ("true", "predicted", "p", "text"):
                worst.add_column(col)
            for e in top_errors:
                worst.add_row(e["true"], e["predicted"], f"{e['p_predicted']:.3f}", e["text"][:100])
            console.print(worst)
        else:
            console.print(f"no errors; wrote an empty {result['errors_file']}")


CLASSIFICATION = ClassificationTask()
