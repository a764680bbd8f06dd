"""Map a recipe's :class:`~seqlab.config.Config` to data loaders, a model and a Trainer.

The recipe is the readable end-to-end script (torchtune's split of components vs
recipes); this module is its vocabulary of small steps:

* :func:`check_config` — the cross-key checks of a whole recipe, before anything runs;
* :func:`load_split` — one split, with the cross-validation fold / dev hold-out options
  of Kim's datasets (:func:`dataset_options`);
* :func:`build_vocabulary` — tokenize the training split and count (``[data]`` options);
* :func:`build_loader` — one split as a DataLoader: length-bucketed padded batches for
  classification, TBPTT stream windows for language modelling;
* :func:`build_trainer` — optimizer, schedule, clipping, early stopping, checkpoints;
* :func:`build_keras_model` / :func:`keras_arrays` — the notes' Keras model and its inputs;
* :func:`raw_text_tokens` — tokenize free text the way the datasets were (``seqlab predict``);
* :func:`headline` — the recipe's metric from a results dict, in the published units.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn
from torch.utils.data import DataLoader

from seqlab.config import Config, DataConfig, is_language_model, to_dict
from seqlab.errors import ConfigurationError, DataError
from seqlab.train.callbacks import Callback
from seqlab.train.distributed import DistributedContext

__all__ = [
    "ClassificationSplit",
    "check_config",
    "dataset_kind",
    "is_cross_validated",
    "dataset_options",
    "load_split",
    "tokenizer_for",
    "build_vocabulary",
    "build_loader",
    "classification_inputs",
    "stream_inputs",
    "build_trainer",
    "metric_names",
    "headline",
    "format_metric",
    "TimeLimit",
    "build_keras_model",
    "keras_arrays",
    "raw_text_tokens",
]


@dataclass
class ClassificationSplit:
    """One split of a classification dataset, tokenized: ``texts`` and ``tokens`` align."""

    texts: list[str]
    tokens: list[list[str]]
    labels: list[int]
    class_names: list[str]


def tokenizer_for(data: DataConfig):
    """The tokenizer of classification text (``data.tokenizer``).

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


#: Kim (2014): "we randomly select 10% of the training data as the dev set" (no given dev split).
KIM_DEV_FRACTION = 0.1


def dataset_kind(name: str) -> Optional[str]:
    """How a dataset of Kim's suite is split: ``"cv"`` (MR, Subj, CR, MPQA: no split),
    ``"trec"`` (given train/test, dev held out of train), ``"given"`` (SST-1/2); None for
    any other dataset."""
    from seqlab.data.datasets.kim2014 import KIM_TASKS

    task = KIM_TASKS.get(name)
    return None if task is None else task["kind"]


def is_cross_validated(config: Config) -> bool:
    """True when the dataset has no test split and is scored by ``data.cv_folds``-fold cross-validation."""
    return dataset_kind(config.data.dataset) == "cv"


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


def check_config(config: Config) -> None:
    """Cross-key checks of a recipe (types were checked when it was read), before any work.

    Raises:
        ConfigurationError: naming the conflicting keys, the valid values and the fix.
    """
    from seqlab.models.builders import check_model_config

    data, train = config.data, config.train
    check_model_config(config.model)
    if train.anneal_within_time_limit and (train.lr_schedule != "cosine" or train.max_time_s is None):
        raise ConfigurationError(
            "train.anneal_within_time_limit needs train.lr_schedule = \"cosine\" and a train.max_time_s "
            f"(got lr_schedule={train.lr_schedule!r}, max_time_s={train.max_time_s!r}); set both or remove it."
        )
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
            raise ConfigurationError(f"data.dev_fraction must be in [0, 1), got {data.dev_fraction}; Kim (2014) uses 0.1.")
        if data.dev_fraction == 0.0 and data.eval_split == "dev":
            raise ConfigurationError(
                "data.dev_fraction=0 holds out no dev split, but data.eval_split='dev'; set data.eval_split='' "
                "(no early stopping / model selection) or a dev_fraction > 0."
            )
    if train.optimizer != "adadelta" and train.rho != 0.95:
        raise ConfigurationError(
            f"train.rho={train.rho} is Adadelta's decay, but train.optimizer={train.optimizer!r}; "
            "remove train.rho or set train.optimizer=adadelta."
        )
    if not 0.0 < train.rho < 1.0:
        raise ConfigurationError(f"train.rho must be in (0, 1), got {train.rho}; Kim (2014) uses 0.95.")
    if config.model.kind == "text_cnn" and config.model.embedding_mode != "rand" and config.model.vectors is None:
        raise ConfigurationError(
            f"model.embedding_mode={config.model.embedding_mode!r} starts from pre-trained word vectors, but "
            "model.vectors is not set; pass the path of a word2vec (.bin or text) or GloVe file "
            "(model.vectors=/path/GoogleNews-vectors-negative300.bin) or use model.embedding_mode=rand."
        )
    lm = is_language_model(config.model)
    if lm and kind is not None:
        raise ConfigurationError(
            f"model.kind={config.model.kind!r} is a language model, but data.dataset={data.dataset!r} is a "
            "classification dataset; use tinyshakespeare, ptb or wikitext2, or a classifier kind."
        )
    if config.model.kind == "keras_lstm" and data.dataset == "sst1":
        raise ConfigurationError(
            "model.kind='keras_lstm' is the notes' binary model (Dense(1, sigmoid), binary cross-entropy); "
            "sst1 has 5 classes. Use sst2, mr, subj, cr or mpqa."
        )


def load_split(config: Config, split: str, *, training: bool = False):
    """Load ``split`` of ``config.data.dataset`` with ``limit`` / ``eval_limit`` applied.

    Kim's datasets get their fold / dev hold-out options (:func:`dataset_options`).

    Returns a :class:`ClassificationSplit` (classification) or a ``TokenCorpus``
    (language modelling; its token list cut to the limit).
    """
    from seqlab import data as sdata

    data = config.data
    limit = data.limit if training else data.eval_limit
    dataset = sdata.load(data.dataset, split, **dataset_options(config))
    if is_language_model(config.model):
        if not hasattr(dataset, "tokens"):
            raise ConfigurationError(
                f"model.kind={config.model.kind!r} needs a token-stream dataset (tinyshakespeare, ptb, wikitext2), "
                f"but data.dataset={data.dataset!r} is {type(dataset).__name__}."
            )
        if limit is not None:
            dataset.tokens = dataset.tokens[:limit]
        if data.lowercase:
            dataset.tokens = [t.lower() for t in dataset.tokens]
        return dataset
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


def build_vocabulary(config: Config, train_split) -> Any:
    """The vocabulary of the training split (``min_freq``, ``max_vocab_size``)."""
    if is_language_model(config.model):
        # <unk> is kept for characters too: a validation character never seen in train
        # then maps to <unk> instead of failing.
        return train_split.build_vocabulary(
            min_freq=config.data.min_freq, max_size=config.data.max_vocab_size, unk_token="<unk>"
        )
    from seqlab.data.vocab import Vocabulary

    return Vocabulary.build(train_split.tokens, min_freq=config.data.min_freq, max_size=config.data.max_vocab_size)


def classification_inputs(batch) -> tuple[tuple, dict, torch.Tensor]:
    """Engine ``input_adapter``: a ``PaddedBatch`` -> ``((ids (B, T),), {"lengths": (B,)}, labels (B,))``."""
    return (batch.ids,), {"lengths": batch.lengths}, batch.labels


def stream_inputs(batch) -> tuple[tuple, dict, torch.Tensor]:
    """Engine ``input_adapter``: a TBPTT ``StreamWindow`` -> ``((inputs (B, T),), {}, targets (B, T))``."""
    inputs, targets = batch
    return (inputs,), {}, targets


def build_loader(config: Config, split_data, vocab, *, training: bool,
                 distributed: Optional[DistributedContext] = None) -> DataLoader:
    """A DataLoader over one split.

    Classification: ids padded per batch (``PaddedBatch``), batches of similar lengths
    when ``data.bucket`` (shuffled per epoch when training). An empty sentence becomes a
    single ``<unk>`` so every length is >= 1.
    Language modelling: ``(inputs (B, T), targets (B, T))`` TBPTT windows in order.

    ``distributed`` (under torchrun, ``WORLD_SIZE > 1``) shards the data per rank:

    * a language model's training stream keeps the rows ``rank::world_size`` of the
      ``data.batch_size`` streams (``data.batch_size`` is global and must be divisible by
      the number of processes); evaluation streams are not sharded (every rank reads all
      of them; the engine's reduced sums give the same mean);
    * bucketed classification batches are dealt out round-robin
      (``BucketBatchSampler(num_replicas=..., rank=...)``), ``data.batch_size`` sentences
      per process per step; training drops the epoch's last few batches so that every rank
      takes the same number of steps, evaluation keeps them all;
    * plain (``data.bucket = false``) loaders are left to the engine, which shards them with
      a ``DistributedSampler`` (per-process batch size, as above).
    """
    from seqlab.data import BucketBatchSampler, PadCollate, stream_loader

    data = config.data
    batch_size = data.batch_size if training else data.eval_batch_size
    sharded = distributed is not None and distributed.enabled
    if is_language_model(config.model):
        ids = split_data.encode(vocab)  # (N,)
        if ids.numel() < 2 * batch_size + 1:
            raise DataError(
                f"{data.dataset}/{split_data.split} has {ids.numel()} tokens, too few for {batch_size} streams; "
                "lower data.batch_size / data.eval_batch_size or raise data.limit / data.eval_limit."
            )
        shard = (distributed.rank, distributed.world_size) if sharded and training else None
        return stream_loader(ids, batch_size, data.bptt, shard=shard)
    unk = vocab.unk_id
    sequences = [torch.tensor(vocab.encode(t) or [unk], dtype=torch.long) for t in split_data.tokens]
    dataset = list(zip(sequences, split_data.labels))
    collate = PadCollate(pad_id=vocab.pad_id or 0, min_length=1)
    if data.bucket:
        num_replicas, rank = (distributed.world_size, distributed.rank) if sharded else (1, 0)
        sampler = BucketBatchSampler([len(s) for s in sequences], batch_size, shuffle=training, seed=config.train.seed,
                                     num_replicas=num_replicas, rank=rank, even=training)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)
    return DataLoader(dataset, batch_size=batch_size, shuffle=training, collate_fn=collate)


def metric_names(config: Config) -> list[str]:
    """The engine metrics a recipe logs."""
    if is_language_model(config.model):
        return ["perplexity", "bits_per_char"]
    return ["accuracy"]


# --------------------------------------------------------------------------- callbacks


class TimeLimit(Callback):
    """Stop training once ``max_time_s`` seconds of training have passed (checked per step).

    Each rank measures its own clock and only sets ``trainer.stop_training``; the engine
    makes the decision collective (``Trainer._should_stop``: an all-reduce MAX of the stop
    flag at its sync points), so under torchrun every rank stops after the same step as
    soon as any rank is over the limit, instead of one rank leaving the others waiting in
    an all-reduce.  Under DDP the stop may come up to one sync interval (50 steps) later.
    """

    def __init__(self, max_time_s: float) -> None:
        self.max_time_s = max_time_s
        self._start = 0.0

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()

    def on_batch_end(self, batch, logs=None):
        if time.monotonic() - self._start > self.max_time_s:
            self.trainer.stop_training = True


def _lr_schedule_spec(config: Config) -> Optional[dict[str, Any]]:
    t = config.train
    if t.lr_schedule is None:
        return None
    if t.lr_schedule == "step":
        return {"name": "step", "step_size": t.lr_step_size, "gamma": t.lr_decay}
    if t.lr_schedule == "exponential":
        return {"name": "exponential", "gamma": t.lr_decay, "start": t.lr_decay_start}
    if t.lr_schedule == "plateau":
        mode = "min" if t.monitor.endswith("loss") or "perplexity" in t.monitor else "max"
        return {"name": "plateau", "monitor": t.monitor, "mode": mode, "factor": t.lr_decay, "patience": t.lr_patience}
    if t.lr_schedule == "linear_warmup":
        return {"name": "linear_warmup", "warmup_steps": t.warmup_steps}
    if t.anneal_within_time_limit:
        return {"name": "cosine", "time_budget_s": t.max_time_s}
    return {"name": "cosine"}


def build_trainer(
    config: Config,
    model: nn.Module,
    *,
    run_dir=None,
    verbose: int | str = "auto",
):
    """A :class:`~seqlab.train.Trainer` configured by the ``[train]`` section.

    (A bucketing batch sampler gets its epoch from the engine: ``set_sampler_epoch``.)
    """
    from seqlab.train import EarlyStopping, ModelCheckpoint, Trainer
    from seqlab.train.optim import OPTIMIZERS

    t = config.train
    optimizer_cls = OPTIMIZERS[t.optimizer]

    def make_optimizer(params):
        if t.optimizer == "adadelta":
            # Kim's code: sgd_updates_adadelta(rho=0.95, epsilon=1e-6), no learning rate (lr = 1).
            # Embedding rows are updated lazily, which is exact and 1.6x faster per Kim-CNN step
            # (seqlab.train.lazy_adadelta); weight decay touches every row, so then all is dense.
            from seqlab.train.lazy_adadelta import LazyAdadelta

            params = list(params)
            embedding = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
            lazy = {id(p) for p in params if id(p) in embedding} if t.weight_decay == 0 else set()
            groups = [{"params": [p for p in params if id(p) in lazy], "lazy_rows": True}] if lazy else []
            groups.append({"params": [p for p in params if id(p) not in lazy]})
            return LazyAdadelta(groups, lr=t.lr, rho=t.rho, eps=1e-6, weight_decay=t.weight_decay)
        return optimizer_cls(params, lr=t.lr, weight_decay=t.weight_decay)

    callbacks = [ModelCheckpoint(monitor=t.monitor)] if run_dir is not None else []
    if t.early_stopping_patience is not None:
        callbacks.append(EarlyStopping(monitor=t.monitor, patience=t.early_stopping_patience))
    if t.max_time_s is not None:
        callbacks.append(TimeLimit(t.max_time_s))
    lm = is_language_model(config.model)
    return Trainer(
        model,
        loss="cross_entropy",
        optimizer=make_optimizer,
        metrics=metric_names(config),
        callbacks=callbacks,
        grad_clip_norm=t.grad_clip_norm,
        lr_schedule=_lr_schedule_spec(config),
        device=t.device,
        seed=t.seed,
        run_dir=run_dir,
        tbptt=lm,
        verbose=verbose,
        input_adapter=stream_inputs if lm else classification_inputs,
        config=to_dict(config),
    )


# --------------------------------------------------------------------------- reporting


def headline(config: Config, results: dict[str, float]) -> Optional[float]:
    """The recipe's metric in the reference's units: accuracy in %, losses in nats.

    Reads ``test_<metric>`` when the recipe has a test split, else ``val_<metric>``; a
    metric named ``val_...`` / ``test_...`` is read as it is.
    """
    metric = config.recipe.metric
    keys = [metric] if metric.startswith(("val_", "test_")) else ["test_" + metric, "val_" + metric]
    for key in keys:
        if key in results:
            value = results[key]
            return 100.0 * value if metric.endswith("accuracy") else value
    return None


def format_metric(config: Config, value: Optional[float]) -> str:
    """``"83.42 %"`` for accuracy, ``"1.612 nats"`` for a loss, ``"—"`` for None."""
    if value is None:
        return "—"
    if config.recipe.metric.endswith("accuracy"):
        return f"{value:.2f} %"
    if config.recipe.metric.endswith("loss"):
        return f"{value:.3f} nats"
    return f"{value:.4g}"


# --------------------------------------------------------------------------- free text


_PIECES = re.compile(r"([^\w\s'-])\1*|[\w'-]+")  # a run of one punctuation mark ("...", "``"), or a word
_CLITIC = re.compile(r"(n't|'s|'re|'ve|'ll|'d|'m)$", re.IGNORECASE)


def raw_text_tokens(text: str, data: DataConfig, vocab=None) -> list[str]:
    """Tokens of free text (``seqlab predict``), cut the way the dataset's files were tokenized.

    Kim's files are already tokenized (``"a gripping , funny film ."``), and the model was
    trained on their whitespace split; free text (``"a gripping, funny film."``) has to be cut
    the same way. The files differ — SST splits clitics (``does n't``, ``it 's``), MR and Subj
    keep them (``doesn't``) — so the cut follows the training vocabulary: a whitespace chunk
    the vocabulary knows stays whole (``u.s.``, ``doesn't`` in MR, ``...``); another one is cut
    into runs of one punctuation mark and words, and a word it does not know loses a
    Penn-Treebank clitic (``n't 's 're 've 'll 'd 'm``). Without a vocabulary everything is
    cut. With ``data.tokenizer="kim"``, Kim's cleaning alone cuts the text. ``data.lowercase`` and ``data.max_length`` apply as in training.

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


# --------------------------------------------------------------------------- the notes' Keras model


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
    from seqlab.keras import Sequential, optimizers
    from seqlab.keras.layers import LSTM, Dense, Dropout, Embedding

    m, t = config.model, config.train
    model = Sequential()
    model.add(Embedding(vocab_size, output_dim=m.embedding_dim))
    model.add(LSTM(m.hidden_size))
    model.add(Dropout(m.dropout))
    model.add(Dense(1, activation="sigmoid"))
    optimizer = optimizers.OPTIMIZERS[t.optimizer](learning_rate=t.lr, clipnorm=t.grad_clip_norm)
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"], device=t.device)
    return model


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
