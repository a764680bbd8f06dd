"""Map a recipe's :class:`~seqlab.config.Config` to data loaders, a model and a Trainer.

The recipe is the readable end-to-end script (torchtune's split of components vs
recipes); this module is its vocabulary of small steps:

* :func:`build_vocabulary` — tokenize the training split and count (``[data]`` options);
* :func:`build_loader` — one split as a DataLoader: length-bucketed padded batches for
  classification, TBPTT stream windows for language modelling;
* :func:`build_trainer` — optimizer, schedule, clipping, early stopping, checkpoints;
* :func:`headline` — the recipe's metric from a results dict, in the published units.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn
from torch.utils.data import DataLoader

from seqlab.config import Config, DataConfig, to_dict
from seqlab.errors import ConfigurationError, DataError
from seqlab.train.callbacks import Callback

__all__ = [
    "ClassificationSplit",
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
]


@dataclass
class ClassificationSplit:
    """One split of a classification dataset, tokenized: ``texts`` and ``tokens`` align."""

    texts: list[str]
    tokens: list[list[str]]
    labels: list[int]
    class_names: list[str]


def tokenizer_for(data: DataConfig):
    """The tokenizer of classification text: Kim's data is pre-tokenized, so a whitespace split."""
    from seqlab.data.tokenizers import WordTokenizer

    return WordTokenizer(lowercase=data.lowercase, split_punctuation=False)


def _subset(n: int, limit: Optional[int], seed: int) -> list[int]:
    """A seeded random subset of ``range(n)`` of size ``limit`` (kept in file order)."""
    if limit is None or limit >= n:
        return list(range(n))
    if limit < 1:
        raise ConfigurationError(f"data.limit must be >= 1 or none, got {limit}.")
    g = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(n, generator=g)[:limit].tolist())


def load_split(config: Config, split: str, *, training: bool = False):
    """Load ``split`` of ``config.data.dataset`` with ``limit`` / ``eval_limit`` applied.

    Returns a :class:`ClassificationSplit` (classification) or a ``TokenCorpus``
    (language modelling; its token list cut to the limit).
    """
    from seqlab import data as sdata

    data = config.data
    limit = data.limit if training else data.eval_limit
    dataset = sdata.load(data.dataset, split)
    if config.model.kind == "language_model":
        if not hasattr(dataset, "tokens"):
            raise ConfigurationError(
                f"model.kind='language_model' needs a token-stream dataset (tinyshakespeare, ptb, wikitext2), "
                f"but data.dataset={data.dataset!r} is {type(dataset).__name__}."
            )
        if limit is not None:
            dataset.tokens = dataset.tokens[:limit]
        if data.lowercase:
            dataset.tokens = [t.lower() for t in dataset.tokens]
        return dataset
    if not hasattr(dataset, "texts"):
        raise ConfigurationError(
            f"model.kind='classifier' needs a text classification dataset (sst2, mr, trec ...), "
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
    if config.model.kind == "language_model":
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


def build_loader(config: Config, split_data, vocab, *, training: bool) -> DataLoader:
    """A DataLoader over one split.

    Classification: ids padded per batch (``PaddedBatch``), batches of similar lengths
    when ``data.bucket`` (shuffled per epoch when training). An empty sentence becomes a
    single ``<unk>`` so every length is >= 1.
    Language modelling: ``(inputs (B, T), targets (B, T))`` TBPTT windows in order.
    """
    from seqlab.data import BucketBatchSampler, PadCollate, stream_loader

    data = config.data
    batch_size = data.batch_size if training else data.eval_batch_size
    if config.model.kind == "language_model":
        ids = split_data.encode(vocab)  # (N,)
        if ids.numel() < 2 * batch_size + 1:
            raise DataError(
                f"{data.dataset}/{split_data.split} has {ids.numel()} tokens, too few for {batch_size} streams; "
                "lower data.batch_size / data.eval_batch_size or raise data.limit / data.eval_limit."
            )
        return stream_loader(ids, batch_size, data.bptt)
    unk = vocab.unk_id
    sequences = [torch.tensor(vocab.encode(t) or [unk], dtype=torch.long) for t in split_data.tokens]
    dataset = list(zip(sequences, split_data.labels))
    collate = PadCollate(pad_id=vocab.pad_id or 0, min_length=1)
    if data.bucket:
        sampler = BucketBatchSampler([len(s) for s in sequences], batch_size, shuffle=training, seed=config.train.seed)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)
    return DataLoader(dataset, batch_size=batch_size, shuffle=training, collate_fn=collate)


def metric_names(config: Config) -> list[str]:
    """The engine metrics a recipe logs."""
    if config.model.kind == "language_model":
        return ["perplexity", "bits_per_char"]
    return ["accuracy"]


# --------------------------------------------------------------------------- callbacks


class TimeLimit(Callback):
    """Stop training once ``max_time_s`` seconds of training have passed (checked per step)."""

    def __init__(self, max_time_s: float) -> None:
        self.max_time_s = max_time_s
        self._start = 0.0

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()

    def on_batch_end(self, batch, logs=None):
        if time.monotonic() - self._start > self.max_time_s:
            self.trainer.stop_training = True


class BucketEpoch(Callback):
    """Give a ``BucketBatchSampler`` the epoch number, so each epoch has a new batch order.

    (``seqlab.train.distributed.set_sampler_epoch`` only looks at ``loader.sampler`` and
    ``loader.batch_sampler.sampler``, not at a batch sampler that itself has ``set_epoch``.)
    """

    def __init__(self, loader: DataLoader) -> None:
        self.sampler = getattr(loader, "batch_sampler", None)

    def on_epoch_begin(self, epoch, logs=None):
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)


def _lr_schedule_spec(config: Config) -> Optional[dict[str, Any]]:
    t = config.train
    if t.lr_schedule is None:
        return None
    if t.lr_schedule == "step":
        return {"name": "step", "step_size": t.lr_step_size, "gamma": t.lr_decay}
    if t.lr_schedule == "exponential":
        return {"name": "exponential", "gamma": t.lr_decay}
    if t.lr_schedule == "plateau":
        mode = "min" if t.monitor.endswith("loss") or "perplexity" in t.monitor else "max"
        return {"name": "plateau", "monitor": t.monitor, "mode": mode, "factor": t.lr_decay, "patience": t.lr_patience}
    if t.lr_schedule == "linear_warmup":
        return {"name": "linear_warmup", "warmup_steps": t.warmup_steps}
    return {"name": "cosine"}


def build_trainer(
    config: Config,
    model: nn.Module,
    *,
    run_dir=None,
    train_loader: Optional[DataLoader] = None,
    verbose: int | str = "auto",
):
    """A :class:`~seqlab.train.Trainer` configured by the ``[train]`` section."""
    from seqlab.train import EarlyStopping, ModelCheckpoint, Trainer
    from seqlab.train.optim import OPTIMIZERS

    t = config.train
    optimizer_cls = OPTIMIZERS[t.optimizer]

    def make_optimizer(params):
        return optimizer_cls(params, lr=t.lr, weight_decay=t.weight_decay)

    callbacks = [ModelCheckpoint(monitor=t.monitor)] if run_dir is not None else []
    if t.early_stopping_patience is not None:
        callbacks.append(EarlyStopping(monitor=t.monitor, patience=t.early_stopping_patience))
    if t.max_time_s is not None:
        callbacks.append(TimeLimit(t.max_time_s))
    if train_loader is not None and hasattr(getattr(train_loader, "batch_sampler", None), "set_epoch"):
        callbacks.append(BucketEpoch(train_loader))
    lm = config.model.kind == "language_model"
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
