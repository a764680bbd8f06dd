"""The training engine: ``Trainer.fit / evaluate / predict`` for any PyTorch model.

One loop serves every front end (``seqlab.keras``'s ``compile/fit``, ``seqlab run``
recipes, plain Python):

- **Batches.** The data is a ``DataLoader`` (or any iterable of batches) or a
  ``torch.utils.data.Dataset`` plus ``batch_size``.  A batch is one of

  * ``(inputs, targets)`` — ``inputs`` a Tensor (``model(inputs)``), a tuple/list of
    tensors (multi-input, ``model(*inputs)``) or a dict (``model(**inputs)``);
  * ``(inputs,)`` / a bare Tensor / a dict without a label key — inputs only
    (``predict``);
  * a dict from ``seqlab.data`` such as ``{"ids": (B, T), "lengths": (B,),
    "mask": (B, T), "labels": (B,)}`` (or a named tuple with a ``labels``/``targets``
    field among others, like ``PaddedBatch``): the ``"labels"`` (or ``"targets"``) entry
    is the target, the other entries are passed as keyword arguments — those the model's
    ``forward`` does not accept among ``lengths``/``mask`` are dropped;
  * a named pair whose second field is ``targets``/``labels`` (``StreamWindow(inputs,
    targets)`` from ``seqlab.data.stream_loader``): read as ``(inputs, targets)``, so
    ``model(inputs)`` gets the inputs positionally;
  * anything else through ``input_adapter(batch) -> (args, kwargs, targets)``.

- **Hot loop without syncs.** Loss and metric sums accumulate on the device as
  tensors (STYLE.md principle 3, nanoGPT's habit); values reach Python only when
  the progress bar refreshes, at epoch end and when a checkpoint is written.  The
  epoch loss is weighted by target tokens for integer targets (Σ token losses /
  Σ tokens: windows of unequal length count by their length), else by batch rows.
- **Constraints.** After every optimizer step, ``apply_constraints()`` of the model
  and of each submodule that defines it is called (Keras' kernel constraints; the
  TextCNN max-norm of Kim 2014).
- **Truncated BPTT** (``tbptt=True``, or automatic when the training data has a
  true ``is_stream`` attribute): the model follows the protocol
  ``model(inputs, state=state) -> (output, new_state)``; the engine feeds
  ``detach_state(new_state)`` into the next window, resets the state to ``None`` at
  every epoch and at the start of every evaluation, and carries it through the
  whole validation stream.  Windows arrive one at a time from the loader, so the
  whole sequence is never held in memory (pytorch/examples word_language_model).
- **Determinism and resume.** ``seed`` seeds torch, numpy and ``random``.  Each
  checkpoint stores the RNG state at the start of the epoch and the current one,
  the batch position in the epoch and the running metric sums; ``fit(resume=...)``
  re-creates the epoch's loader iterator from the epoch-start RNG state (so the
  shuffle order is identical), skips the consumed batches, restores the current
  RNG state and goes on: on CPU the resumed run ends bit-for-bit equal to an
  uninterrupted one.
- **Failure modes.** A NaN/inf loss raises ``TrainingError`` naming epoch and step
  and never overwrites a checkpoint with non-finite weights; SIGINT (or SIGTERM) finishes the
  current step, writes ``run_dir/checkpoints/last.safetensors`` and raises
  ``KeyboardInterrupt`` with the command that resumes.
- **Distributed.** Under ``torchrun`` (``WORLD_SIZE`` > 1) see ``distributed.py``:
  DDP, ``DistributedSampler`` sharding, metrics averaged over ranks, files written by
  rank 0 only.
"""

from __future__ import annotations

import inspect
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqlab.errors import CheckpointError, ConfigurationError, TrainingError
from seqlab.nn.state import detach_state, tree_leaves, tree_map
from seqlab.train import checkpoint as ckpt
from seqlab.train.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    History,
    JSONLLogger,
    ModelCheckpoint,
)
from seqlab.train.distributed import DistributedContext, make_loader, set_sampler_epoch
from seqlab.train.losses import get_loss
from seqlab.train.metrics import Metric, get_metric
from seqlab.train.optim import LRSchedule, build_lr_schedule, build_optimizer
from seqlab.train.progress import ProgressBar

# detach_state lives in seqlab.nn.state; re-exported here, where it was first (seqlab eval imports it).
__all__ = ["Trainer", "detach_state", "resolve_device", "seed_everything"]

# Keys of a seqlab.data dict batch that are labels, and optional extras a model may ignore.
_LABEL_KEYS = ("labels", "targets")
_OPTIONAL_BATCH_KEYS = ("lengths", "mask")


def resolve_device(device: str | torch.device = "auto", local_rank: int | None = None) -> torch.device:
    """``"auto"`` → ``cuda`` (``cuda:LOCAL_RANK`` under torchrun) when available, else ``cpu``.

    Any other string (``"cpu"``, ``"cuda:1"``, ``"mps"``) is passed to ``torch.device``;
    asking for CUDA on a machine without it is a ``ConfigurationError``.
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank or 0)
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigurationError(
            f"device {device!r} is not a valid torch device ({exc}); use 'auto', 'cpu', 'cuda' or 'cuda:N'"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(
            f"device {device!r} was requested but CUDA is not available on this machine; use device='auto' or 'cpu'"
        )
    if resolved.type == "cuda" and resolved.index is None:
        # "cuda" means this process's GPU: cuda:LOCAL_RANK under torchrun (one GPU per process,
        # as DDP's device_ids needs), the current device otherwise.
        return torch.device("cuda", local_rank if local_rank is not None else torch.cuda.current_device())
    return resolved


def seed_everything(seed: int) -> None:
    """Seed ``torch`` (CPU and CUDA), ``numpy`` and ``random`` with ``seed``."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _to_device(obj: Any, device: torch.device) -> Any:
    return tree_map(lambda x: x.to(device, non_blocking=True) if isinstance(x, torch.Tensor) else x, obj)


def _target_count(targets: Any, ignore_index: int = -100) -> torch.Tensor | int:
    """The weight of one batch in the epoch's mean loss: how many values its mean loss averaged.

    Integer class ids ``(B,)`` / ``(B, T)`` (classifiers, taggers, language models):
    the ids that are not ``ignore_index``, i.e. the tokens a token-level loss such as
    ``cross_entropy`` averages over (a device tensor: no sync).  Weighting the window
    means by these counts makes the epoch loss Σ token losses / Σ tokens, so a stream
    read in windows of unequal length (the last TBPTT window is shorter) gives the
    same loss and perplexity as the stream read in one piece.  Other targets (floats,
    one-hot, nested structures): the batch size (dim 0).
    """
    if isinstance(targets, torch.Tensor) and targets.dim() > 0 and not targets.dtype.is_floating_point \
            and targets.dtype is not torch.bool:
        return (targets != ignore_index).sum()
    return _batch_size_of(targets)


def _is_pair_namedtuple(batch: Any) -> bool:
    """A named ``(inputs, targets)`` pair such as seqlab.data's ``StreamWindow``: two fields, a label last."""
    return hasattr(batch, "_fields") and len(batch._fields) == 2 and batch._fields[1] in _LABEL_KEYS


def _batch_size_of(obj: Any) -> int:
    """Number of samples (dim 0) of the first tensor found in ``obj``."""
    if isinstance(obj, torch.Tensor):  # the common case, every step: skip the walk
        return int(obj.shape[0]) if obj.dim() > 0 else 1
    for leaf in tree_leaves(obj):
        if isinstance(leaf, torch.Tensor):
            return int(leaf.shape[0]) if leaf.dim() > 0 else 1
    return 0


class Trainer:
    """Fit, evaluate and predict with a ``torch.nn.Module``.

    Args:
        model: any module.  Its ``forward`` receives the batch inputs (see the module
            docstring); with ``tbptt`` it must accept ``state=`` and return
            ``(output, new_state)``.  Outside TBPTT a tuple output's first element is
            the prediction (so models that also return their state train unchanged).
        loss: a name from ``seqlab.train.losses.LOSSES`` (``"cross_entropy"``,
            ``"bce_with_logits"``, ``"binary_crossentropy"``, ``"mse"``, ``"nll"``, ...) or
            a callable ``loss(output, targets) -> scalar tensor`` (mean over the batch).
        optimizer: a name (``sgd, adam, adamw, rmsprop, adagrad, adadelta``), an
            optimizer instance built on ``model.parameters()``, or a callable
            ``params -> Optimizer``.
        lr: learning rate for a named optimizer (default: the optimizer's default in
            ``seqlab.train.optim.OPTIMIZER_DEFAULTS``).  Ignored for instances.
        metrics: names (``"accuracy"``, ``"perplexity"``, ``"bits_per_char"``, ...) or
            ``Metric`` objects; logged as ``name`` and ``val_name``.
        callbacks: ``Callback`` objects.  With ``run_dir``, a ``ModelCheckpoint`` into
            ``run_dir/checkpoints``, a ``CSVLogger`` (``run_dir/metrics.csv``) and a
            ``JSONLLogger`` (``run_dir/metrics.jsonl``) are added unless one of that
            type is given.  A ``ProgressBar`` is added according to ``verbose``.
        grad_clip_norm: clip the global gradient 2-norm to this value before each step.
        lr_schedule: ``None``, a name (``"step"``, ``"cosine"``, ``"plateau"``,
            ``"linear_warmup"``, ``"exponential"``), a mapping ``{"name": ..., option:
            value}``, an ``LRSchedule``, or a ``torch.optim.lr_scheduler`` instance
            (stepped once per epoch).  Built when ``fit`` knows the number of steps.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:N"``, ...
        seed: seeds torch/numpy/random now (before any data is shuffled).
        run_dir: directory this run writes into (created if missing; the run
            directory layout itself belongs to ``seqlab.train.runs``).
        tbptt: ``True``/``False``, or ``None`` to switch it on when the training data
            (or its ``.dataset``) has ``is_stream = True``.
        verbose: ``0``/``"quiet"`` silent, ``1`` progress bar, ``2`` one line per epoch,
            ``"auto"``: 1 on a terminal, 2 otherwise.
        input_adapter: ``batch -> (args: tuple, kwargs: dict, targets)``; overrides the
            built-in batch conventions.
        checkpoint_every_steps: also write ``last.safetensors`` every N optimizer steps
            (mid-epoch; resumable) when a run directory is set.
        config: the resolved run config (JSON-able mapping); its SHA-256 is stored in
            checkpoints and compared on resume.

    Attributes:
        model: the unwrapped module (``ddp_model`` is the DDP wrapper under torchrun).
        optimizer, lr_schedule: the built optimizer and schedule.
        history: the ``History`` of the last ``fit``.
        epoch: the current (0-based) epoch; ``global_step``: optimizer steps so far.
        stop_training: set it from a callback to stop after the current step/epoch
            (Keras' ``self.model.stop_training = True`` works too).  Under torchrun any
            rank's request stops every rank, after the same step (see ``_should_stop``).
        epoch_lr: the learning rate during the last finished epoch (the loggers' ``lr``).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        loss: str | Callable[[Any, Any], torch.Tensor],
        optimizer: str | torch.optim.Optimizer | Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] = "adam",
        lr: float | None = None,
        metrics: Sequence[str | Metric] = (),
        callbacks: Sequence[Callback] = (),
        grad_clip_norm: float | None = None,
        lr_schedule: str | Mapping[str, Any] | LRSchedule | Any | None = None,
        device: str | torch.device = "auto",
        seed: int | None = None,
        run_dir: str | Path | None = None,
        tbptt: bool | None = None,
        verbose: int | str = "auto",
        input_adapter: Callable[[Any], tuple[tuple, dict, Any]] | None = None,
        checkpoint_every_steps: int | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ConfigurationError(f"Trainer needs a torch.nn.Module, got {type(model).__name__}")
        if grad_clip_norm is not None and not grad_clip_norm > 0:
            raise ConfigurationError(f"grad_clip_norm must be a positive number or None, got {grad_clip_norm!r}")
        if checkpoint_every_steps is not None and checkpoint_every_steps < 1:
            raise ConfigurationError(f"checkpoint_every_steps must be >= 1 or None, got {checkpoint_every_steps!r}")
        if seed is not None:
            seed_everything(seed)
        self.seed = seed
        self.dist = DistributedContext.from_env()
        self.device = resolve_device(device, self.dist.local_rank if self.dist.enabled else None)
        self.dist.init_process_group(self.device)
        self.model = model.to(self.device)
        self.ddp_model = self.dist.wrap_model(self.model, self.device)
        self.loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", type(loss).__name__)
        self.loss_fn = get_loss(loss)
        self.optimizer = build_optimizer(optimizer, self.model.parameters(), lr=lr)
        self._lr_schedule_spec = lr_schedule
        self.lr_schedule: LRSchedule | None = None
        self.metrics: list[Metric] = [get_metric(m) for m in metrics]
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names) or "loss" in names:
            raise ConfigurationError(f"metric names must be unique and not 'loss', got {names}")
        self.grad_clip_norm = grad_clip_norm
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.tbptt = tbptt
        self.verbose = verbose
        self.input_adapter = input_adapter
        self.checkpoint_every_steps = checkpoint_every_steps
        self.config_hash = ckpt.config_hash(config) if config is not None else None
        self.history = History()
        self.callbacks = CallbackList(self._default_callbacks(list(callbacks)), self)
        self.epoch = 0
        self.global_step = 0
        self.stop_training = False
        self.resumed = False  # True during a fit that continues from a checkpoint
        self.params: dict[str, Any] = {}
        # Training-position state, saved in checkpoints (see ``state_dict``).
        self._batch_in_epoch = 0
        self._resuming_mid_epoch = False
        self._steps_since_check = 0
        self._epoch_start_rng: dict[str, Any] | None = None
        self._state: Any = None  # TBPTT recurrent state, detached
        self._first_bad_step: torch.Tensor | None = None
        self._loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        self._loss_count = torch.zeros((), device=self.device, dtype=torch.float64)
        self._interrupted = False
        self._last_good_checkpoint: Path | None = None
        self._accepts: dict[str, bool] = {}
        self._constraint_hooks: list[Callable[[], Any]] | None = None  # found at the first step of fit
        self.epoch_lr = self.lr  # the learning rate of the epoch that ended last (logged as "lr")
        self._nan_check_every = 1 if (self.device.type == "cpu" and not self.dist.enabled) else 50

    # ------------------------------------------------------------------ setup
    def _default_callbacks(self, callbacks: list[Callback]) -> list[Callback]:
        out = [self.history, *callbacks]
        if self.run_dir is not None:
            if not any(isinstance(c, ModelCheckpoint) for c in callbacks):
                out.append(ModelCheckpoint(every_n_steps=self.checkpoint_every_steps))
            if not any(isinstance(c, CSVLogger) for c in callbacks):
                out.append(CSVLogger())
            if not any(isinstance(c, JSONLLogger) for c in callbacks):
                out.append(JSONLLogger())
        if not any(isinstance(c, ProgressBar) for c in callbacks):
            out.append(ProgressBar(verbose=self.verbose))
        return out

    @property
    def is_main_process(self) -> bool:
        """True on rank 0 (or without distributed training): only it writes files."""
        return self.dist.is_main

    @property
    def checkpoint_dir(self) -> Path | None:
        """``run_dir/checkpoints`` (``None`` without a run directory)."""
        return None if self.run_dir is None else self.run_dir / "checkpoints"

    @property
    def lr(self) -> float:
        """The learning rate of the first parameter group."""
        return float(self.optimizer.param_groups[0]["lr"])

    # ----------------------------------------------------------------- batches
    def _split_batch(self, batch: Any, *, need_targets: bool) -> tuple[tuple, dict, Any]:
        """Map a batch to ``(args, kwargs, targets)`` following the module docstring."""
        if self.input_adapter is not None:
            out = self.input_adapter(batch)
            if not (isinstance(out, tuple) and len(out) == 3):
                raise ConfigurationError(
                    "input_adapter must return (args: tuple, kwargs: dict, targets), "
                    f"got {type(out).__name__} of length {len(out) if isinstance(out, tuple) else '-'}"
                )
            return tuple(out[0]), dict(out[1]), out[2]
        if isinstance(batch, Mapping):
            return self._split_dict_batch(batch, need_targets)
        if hasattr(batch, "_asdict") and any(k in batch._fields for k in _LABEL_KEYS) and not _is_pair_namedtuple(batch):
            # A named-tuple batch with a label field among other fields (seqlab.data's PaddedBatch:
            # ids, lengths, mask, labels): read it as a dict.  A named (inputs, targets) pair such as
            # StreamWindow falls through to the positional (inputs, targets) case below.
            return self._split_dict_batch({k: v for k, v in batch._asdict().items() if v is not None}, need_targets)
        if isinstance(batch, torch.Tensor):
            inputs, targets = batch, None
        elif isinstance(batch, (tuple, list)) and len(batch) == 1:
            inputs, targets = batch[0], None
        elif isinstance(batch, (tuple, list)) and len(batch) == 2:
            inputs, targets = batch
        else:
            raise ConfigurationError(
                f"cannot read a batch of type {type(batch).__name__}"
                f"{f' with {len(batch)} elements' if isinstance(batch, (tuple, list)) else ''}; expected "
                "(inputs, targets), (inputs,), a Tensor or a dict with a 'labels' key; "
                "pass input_adapter=lambda batch: (args, kwargs, targets) for other formats"
            )
        if need_targets and targets is None:
            raise ConfigurationError(
                "training/evaluation batches need targets: yield (inputs, targets) pairs "
                "or pass an input_adapter"
            )
        if isinstance(inputs, Mapping):
            return (), dict(inputs), targets
        if isinstance(inputs, (tuple, list)):
            return tuple(inputs), {}, targets
        return (inputs,), {}, targets

    def _split_dict_batch(self, batch: Mapping[str, Any], need_targets: bool) -> tuple[tuple, dict, Any]:
        label_key = next((k for k in _LABEL_KEYS if k in batch), None)
        if need_targets and label_key is None:
            raise ConfigurationError(
                f"dict batch has keys {sorted(batch)} but no label key {list(_LABEL_KEYS)}; "
                "add one or pass input_adapter=lambda batch: (args, kwargs, targets)"
            )
        kwargs = {k: v for k, v in batch.items() if k != label_key}
        for key in _OPTIONAL_BATCH_KEYS:
            if key in kwargs and not self._forward_accepts(key):
                del kwargs[key]
        return (), kwargs, batch[label_key] if label_key else None

    def _forward_accepts(self, name: str) -> bool:
        if name not in self._accepts:
            try:
                params = inspect.signature(self.model.forward).parameters
            except (TypeError, ValueError):
                self._accepts[name] = True
            else:
                self._accepts[name] = name in params or any(
                    p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
                )
        return self._accepts[name]

    def _forward(self, module: nn.Module, args: tuple, kwargs: dict, tbptt: bool) -> Any:
        if tbptt:
            out = module(*args, state=self._state, **kwargs)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TrainingError(
                    "with tbptt the model must return (output, new_state) from forward(inputs, state=state); "
                    f"{type(self.model).__name__} returned {type(out).__name__}"
                )
            output, new_state = out
            self._state = detach_state(new_state)
            return output
        out = module(*args, **kwargs)
        if isinstance(out, tuple):
            out = out[0]
        return out

    def _should_stop(self, *, sync_point: bool = True) -> bool:
        """Whether to stop now: a callback set ``stop_training`` (or Keras' ``model.stop_training``)
        or SIGINT/SIGTERM arrived.

        Under DDP every rank must leave the loop after the same step: a rank that stops alone
        leaves the others waiting in the next gradient all-reduce forever.  So the ranks agree by
        ONE all-reduce (MAX) of both flags, done only at sync points (every ``_nan_check_every``
        steps, at every epoch end and before every epoch): a stop asked for by any rank
        (EarlyStopping, the recipes' TimeLimit, a user callback, a signal) stops all of them at
        the next sync point, after the same step.  One process: the flags are read at once.
        """
        if getattr(self.model, "stop_training", None) is True:
            self.stop_training = True
        if not self.dist.enabled:
            return self.stop_training or self._interrupted
        if not sync_point:
            return False
        flags = torch.tensor([float(self.stop_training), float(self._interrupted)], device=self.device)
        self.dist.all_reduce_max(flags)
        stop, interrupted = flags.tolist()  # one sync
        self.stop_training, self._interrupted = bool(stop), bool(interrupted)
        return self.stop_training or self._interrupted

    # ------------------------------------------------------------------- data
    def _on_device(self, batch: Any) -> Any:
        # On CPU the batch is already where it has to be: skip the walk (it runs every step).
        return batch if self.device.type == "cpu" else _to_device(batch, self.device)

    def _make_loader(self, data: Any, batch_size: int | None, shuffle: bool, *, train: bool) -> Iterable:
        return make_loader(data, batch_size=batch_size, shuffle=shuffle, dist=self.dist, seed=self.seed or 0,
                           train=train)

    @staticmethod
    def _is_stream(data: Any) -> bool:
        return bool(getattr(data, "is_stream", False) or getattr(getattr(data, "dataset", None), "is_stream", False))

    # -------------------------------------------------------------- main API
    def fit(
        self,
        train_data: Any,
        *,
        epochs: int,
        val_data: Any = None,
        batch_size: int | None = None,
        shuffle: bool = True,
        initial_epoch: int = 0,
        resume: bool | str | Path = False,
    ) -> History:
        """Train for ``epochs`` epochs (counted from 0, so ``initial_epoch=2, epochs=5`` runs 3).

        Args:
            train_data: a DataLoader / iterable of batches, or a ``Dataset`` with
                ``batch_size`` (then a DataLoader is built with ``shuffle``).  Under
                torchrun a Dataset is sharded with a ``DistributedSampler``; a DataLoader
                is rebuilt around one (same dataset, per-process ``batch_size``,
                ``collate_fn``, ``num_workers``, ``drop_last``; shuffling kept if its
                sampler was a ``RandomSampler``), so the global batch is ``world_size ×
                batch_size``.  Plain iterables and stream data are used as they are.
            val_data: evaluated after every epoch; its results are logged with a
                ``val_`` prefix (``val_loss``, ``val_accuracy``).
            resume: ``True`` continues from ``run_dir/checkpoints/last.safetensors``; a
                path names a checkpoint file or a run directory.  Model, optimizer,
                schedule, callbacks (History, EarlyStopping, ...), epoch/step, batch
                position, running metric sums and RNG states are restored.

        Returns:
            the ``History`` (``history.history["loss"]`` ...), also ``self.history``.

        Raises:
            TrainingError: the loss became NaN/inf (message names epoch and step).
            CheckpointError: ``resume`` names a missing, corrupt or foreign checkpoint.
            KeyboardInterrupt: after SIGINT/SIGTERM, once a resumable checkpoint is written.
        """
        if epochs < 0 or initial_epoch < 0:
            raise ConfigurationError(f"epochs and initial_epoch must be >= 0, got {epochs}, {initial_epoch}")
        tbptt = self._is_stream(train_data) if self.tbptt is None else self.tbptt
        train_loader = self._make_loader(train_data, batch_size, shuffle, train=True)
        val_batch_size = batch_size if isinstance(val_data, torch.utils.data.Dataset) else None
        val_loader = None if val_data is None else self._make_loader(val_data, val_batch_size, False, train=False)
        try:
            steps_per_epoch = len(train_loader)  # type: ignore[arg-type]
        except TypeError:
            steps_per_epoch = None
        if self.lr_schedule is None and self._lr_schedule_spec is not None:
            self.lr_schedule = build_lr_schedule(
                self._lr_schedule_spec, self.optimizer, epochs=epochs, steps_per_epoch=steps_per_epoch
            )
        self.epoch = initial_epoch
        self._batch_in_epoch = 0
        self.global_step = 0 if initial_epoch == 0 else self.global_step
        self.stop_training = False
        self._constraint_hooks = None
        if getattr(self.model, "stop_training", None) is True:  # Keras idiom: model.stop_training
            self.model.stop_training = False
        self._epoch_start_rng = None
        self._resuming_mid_epoch = False
        self.resumed = bool(resume)
        if resume:
            self._resume_from(resume)
        self.params = {"epochs": epochs, "steps": steps_per_epoch, "tbptt": tbptt}
        previous_handler = self._install_sigint_handler()
        try:
            self.callbacks.on_train_begin()
            while self.epoch < epochs and not self._should_stop():
                logs = self._train_one_epoch(train_loader, tbptt)
                if self.stop_training and self._interrupted:
                    break
                if val_loader is not None:
                    val_logs = self._evaluate_loader(val_loader, tbptt)
                    logs.update({f"val_{k}": v for k, v in val_logs.items()})
                # Not in the epoch logs: Keras' History holds only the loss, metrics and val_*
                # (LearningRateScheduler adds "learning_rate" as in Keras); the CSV/JSONL/TensorBoard
                # loggers record this value as "lr".
                self.epoch_lr = self.lr
                if self.lr_schedule is not None:
                    self.lr_schedule.epoch_end(logs)
                # Position: the next epoch starts at batch 0 (read by checkpoints written below).
                self.epoch += 1
                self._batch_in_epoch = 0
                self._epoch_start_rng = None
                self.callbacks.on_epoch_end(self.epoch - 1, logs)
            self.callbacks.on_train_end()
        finally:
            self._restore_sigint_handler(previous_handler)
        if self._interrupted:
            self._interrupted = False
            raise KeyboardInterrupt(self._interrupt_message())
        return self.history

    def evaluate(self, data: Any, *, batch_size: int | None = None) -> dict[str, float]:
        """Mean loss and metrics over ``data`` (no gradient, ``model.eval()``).

        Returns ``{"loss": ..., metric name: ...}``; under torchrun the data is sharded
        and the sums are reduced over ranks (a ``DistributedSampler`` pads the last
        shard with repeated samples).  With TBPTT the state starts at ``None`` and is
        carried through the whole stream.
        """
        tbptt = self._is_stream(data) if self.tbptt is None else self.tbptt
        return self._evaluate_loader(self._make_loader(data, batch_size, False, train=False), tbptt)

    @torch.no_grad()
    def predict(self, data: Any, *, batch_size: int | None = None) -> torch.Tensor:
        """Model outputs for every batch, concatenated on CPU.

        Batches may carry targets (ignored).  Outputs are concatenated along dim 0
        (``(N, ...)``); with TBPTT, where consecutive windows continue each other,
        along dim 1 (``(B, T_total, ...)``).  Not sharded under torchrun: every rank
        predicts the whole data.
        """
        tbptt = self._is_stream(data) if self.tbptt is None else self.tbptt
        if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, torch.utils.data.IterableDataset):
            if batch_size is None:
                raise ConfigurationError("predict() got a Dataset without batch_size; pass batch_size=...")
            loader = torch.utils.data.DataLoader(data, batch_size=batch_size)
        elif batch_size is not None:
            raise ConfigurationError("batch_size is only used with a Dataset; the data already yields batches")
        else:
            loader = data
        was_training = self.model.training
        self.model.eval()
        self._state = None
        outputs = []
        for batch in loader:
            args, kwargs, _ = self._split_batch(self._on_device(batch), need_targets=False)
            outputs.append(self._forward(self.model, args, kwargs, tbptt).detach().cpu())
        self._state = None
        self.model.train(was_training)
        if not outputs:
            raise ConfigurationError("predict() got no batches: the data is empty")
        return torch.cat(outputs, dim=1 if tbptt else 0)

    # -------------------------------------------------------------- the loop
    def _reset_accumulators(self) -> None:
        self._loss_sum.zero_()
        self._loss_count.zero_()
        for m in self.metrics:
            m.reset(self.device)

    def _train_one_epoch(self, loader: Iterable, tbptt: bool) -> dict[str, float]:
        resuming = self._resuming_mid_epoch
        self._resuming_mid_epoch = False
        if resuming:
            # Re-create the epoch's iterator from the RNG state the epoch started with,
            # so a shuffling sampler yields the same order, then skip what was consumed.
            current_rng = ckpt.capture_rng_state()
            ckpt.restore_rng_state(self._epoch_start_rng)
        else:
            self._epoch_start_rng = ckpt.capture_rng_state()
            self._reset_accumulators()
            self._batch_in_epoch = 0
            self._state = None
            self._first_bad_step = None
        set_sampler_epoch(loader, self.epoch)
        self.callbacks.on_epoch_begin(self.epoch)
        self.ddp_model.train()
        iterator = iter(loader)
        if resuming:
            for _ in range(self._batch_in_epoch):
                try:
                    next(iterator)
                except StopIteration:
                    raise CheckpointError(
                        f"cannot resume: the checkpoint is at batch {self._batch_in_epoch} of epoch {self.epoch} "
                        "but the training data has fewer batches; resume with the same data and batch size"
                    ) from None
            ckpt.restore_rng_state(current_rng)
        self._steps_since_check = 0
        for batch in iterator:
            self._train_step(batch, tbptt)
            if self._should_stop(sync_point=self.global_step % self._nan_check_every == 0):
                break
        self._check_finite()
        self._should_stop(sync_point=True)  # under DDP: the ranks agree on stop and interrupt flags
        if self._interrupted:
            self._save_interrupt_checkpoint()
            self.stop_training = True
        return self._collect_logs()

    def _train_step(self, batch: Any, tbptt: bool) -> None:
        args, kwargs, targets = self._split_batch(self._on_device(batch), need_targets=True)
        self.callbacks.on_batch_begin(self._batch_in_epoch)
        output = self._forward(self.ddp_model, args, kwargs, tbptt)
        loss = self.loss_fn(output, targets)
        if self._nan_check_every == 1 and not bool(torch.isfinite(loss.detach())):
            # CPU, one process: reading the flag costs no device sync, so check every step,
            # before the bad gradients reach the weights.
            self._raise_nonfinite(self.global_step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip_norm)
        self.optimizer.step()
        self._apply_constraints()
        if self.lr_schedule is not None:
            self.lr_schedule.batch_end()
        # Accumulate on the device: no .item() in the hot loop.  The epoch loss is weighted by
        # target tokens, not by batch rows (see _target_count).
        n = _target_count(targets)
        loss = loss.detach()
        if self._nan_check_every > 1:
            # CUDA or DDP: remember the first non-finite step on the device; _check_finite reads it
            # every N steps (one sync), and save_checkpoint refuses non-finite weights.
            if self._first_bad_step is None:
                self._first_bad_step = torch.full((), -1, device=self.device, dtype=torch.long)
            step = torch.full((), self.global_step, device=self.device, dtype=torch.long)
            self._first_bad_step = torch.where(~torch.isfinite(loss) & (self._first_bad_step < 0), step,
                                               self._first_bad_step)
        self._loss_sum += loss.double() * n
        self._loss_count += n
        with torch.no_grad():
            for m in self.metrics:
                m.update(output.detach(), targets)
        self.global_step += 1
        self._batch_in_epoch += 1
        self._steps_since_check += 1
        if self._steps_since_check >= self._nan_check_every > 1:
            self._check_finite()
        # Tokens per second for (B, T) class-id targets (language models, taggers).
        is_ids = isinstance(targets, torch.Tensor) and targets.dim() >= 2 and not targets.dtype.is_floating_point
        tokens = targets.numel() if is_ids else None
        self.callbacks.on_batch_end(self._batch_in_epoch - 1, {"size": _batch_size_of(targets), "tokens": tokens})

    def _apply_constraints(self) -> None:
        """Call ``apply_constraints()`` of the model and of every submodule that defines it, after
        each optimizer step (Keras applies a layer's kernel constraint after every update; TextCNN's
        max-norm 3 on the output rows, Kim 2014 section 2.1).  Each module constrains its own
        parameters; the modules are looked up at the first step of every ``fit`` (after the first
        forward, so layers built lazily at the first call are found)."""
        if self._constraint_hooks is None:
            self._constraint_hooks = [
                m.apply_constraints for m in self.model.modules() if callable(getattr(m, "apply_constraints", None))
            ]
        if self._constraint_hooks:
            with torch.no_grad():
                for hook in self._constraint_hooks:
                    hook()

    def _check_finite(self) -> None:
        """Raise ``TrainingError`` when a loss in this epoch was NaN/inf (one sync)."""
        self._steps_since_check = 0
        if self._first_bad_step is None:
            return
        bad = self._first_bad_step.clone()
        if self.dist.enabled:
            bad = torch.where(bad < 0, torch.full_like(bad, 2**62), bad)
            self.dist.all_reduce_min(bad)
            bad = torch.where(bad == 2**62, torch.full_like(bad, -1), bad)
        step = int(bad.item())
        if step >= 0:
            self._raise_nonfinite(step)

    def _raise_nonfinite(self, step: int) -> None:
        kept = (
            f"the last good checkpoint {self._last_good_checkpoint} was kept"
            if self._last_good_checkpoint is not None
            else "no checkpoint had been written yet"
        )
        batch = step - (self.global_step - self._batch_in_epoch)
        raise TrainingError(
            f"the training loss became NaN or infinite at epoch {self.epoch}, batch {batch} "
            f"(global step {step}, all 0-based); "
            f"training stopped and {kept}. Lower the learning rate, set grad_clip_norm, "
            "or check the inputs/targets of that step"
        )

    def _collect_logs(self) -> dict[str, float]:
        """Reduce the device sums (over ranks too) into ``{"loss": ..., metric: ...}``."""
        states = [self._loss_sum, self._loss_count]
        for m in self.metrics:
            states.extend(m.state())
        if self.dist.enabled:
            states = [s.clone() for s in states]
            self.dist.all_reduce_sum(states)
        loss_sum, count = states[0], states[1]
        logs = {"loss": float(loss_sum / count) if float(count) > 0 else float("nan")}
        i = 2
        for m in self.metrics:
            k = len(m.state())
            logs[m.name] = m.compute_from(states[i : i + k])
            i += k
        return logs

    def running_logs(self) -> dict[str, float]:
        """This process's running epoch means so far (one sync; used by the progress bar)."""
        count = float(self._loss_count)
        logs = {"loss": float(self._loss_sum) / count if count else float("nan")}
        for m in self.metrics:
            logs[m.name] = m.compute()
        return logs

    @torch.no_grad()
    def _evaluate_loader(self, loader: Iterable, tbptt: bool) -> dict[str, float]:
        saved = (self._loss_sum.clone(), self._loss_count.clone(), [m.state_dict() for m in self.metrics], self._state)
        was_training = self.model.training
        self.ddp_model.eval()
        self._reset_accumulators()
        self._state = None
        for batch in loader:
            args, kwargs, targets = self._split_batch(self._on_device(batch), need_targets=True)
            output = self._forward(self.model, args, kwargs, tbptt)
            loss = self.loss_fn(output, targets)
            n = _target_count(targets)
            self._loss_sum += loss.double() * n
            self._loss_count += n
            for m in self.metrics:
                m.update(output, targets)
        logs = self._collect_logs()
        # Put the training accumulators back (evaluate may run inside fit).
        self._loss_sum.copy_(saved[0])
        self._loss_count.copy_(saved[1])
        for m, s in zip(self.metrics, saved[2]):
            m.load_state_dict(s)
        self._state = saved[3]
        self.ddp_model.train(was_training)
        return logs

    # ------------------------------------------------------------ signals
    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def _install_sigint_handler(self) -> dict[int, Any] | None:
        """Turn SIGINT (Ctrl-C) and SIGTERM (torchrun's agent, schedulers) into a flag the
        loop reads after the current step; a second signal stops at once."""
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):  # noqa: ARG001
            if self._interrupted:
                raise KeyboardInterrupt("interrupted twice; no checkpoint written for the current step")
            self._interrupted = True
            if self.is_main_process:
                print(f"\nseqlab: {signal.Signals(signum).name} received, finishing the current step and writing "
                      "a checkpoint...", file=sys.stderr, flush=True)

        return {sig: signal.signal(sig, handler) for sig in self._SIGNALS}

    @staticmethod
    def _restore_sigint_handler(previous: dict[int, Any] | None) -> None:
        for sig, old in (previous or {}).items():
            signal.signal(sig, old)

    def _save_interrupt_checkpoint(self) -> None:
        if self.checkpoint_dir is not None:
            self.save_checkpoint(self.checkpoint_dir / "last.safetensors")

    def _interrupt_message(self) -> str:
        if self.checkpoint_dir is None:
            return "training interrupted; no run_dir was set, so nothing was saved"
        return (
            f"training interrupted at epoch {self.epoch}, step {self.global_step}; checkpoint written to "
            f"{self.checkpoint_dir / 'last.safetensors'}. Resume with `seqlab run --resume {self.run_dir}` "
            f"or Trainer.fit(..., resume='{self.run_dir}')"
        )

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly where it stands.

        Keys: ``model``, ``optimizer``, ``lr_schedule``, ``callbacks`` (by
        ``Callback.state_key``), ``metrics`` (running sums), ``loss_sum``/``loss_count``,
        ``epoch``, ``batch_in_epoch``, ``global_step``, ``rng`` (current) and
        ``epoch_start_rng``, ``tbptt_state``.  Values are tensors, numbers, strings,
        lists and dicts (serialisable by ``seqlab.train.checkpoint``).
        """
        return {
            "model": {k: v.detach() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "lr_schedule": self.lr_schedule.state_dict() if self.lr_schedule is not None else None,
            "callbacks": self.callbacks.state_dict(),
            "metrics": {m.name: m.state_dict() for m in self.metrics},
            "loss_sum": self._loss_sum.clone(),
            "loss_count": self._loss_count.clone(),
            "epoch": self.epoch,
            "batch_in_epoch": self._batch_in_epoch,
            "global_step": self.global_step,
            "rng": ckpt.capture_rng_state(),
            "epoch_start_rng": self._epoch_start_rng,
            "tbptt_state": self._state,
        }

    def load_state_dict(self, state: Mapping[str, Any], *, restore_rng: bool = True) -> None:
        """Inverse of ``state_dict``.  Model keys/shapes are checked: a mismatch raises
        ``CheckpointError`` listing the missing, unexpected and mis-shaped entries."""
        ckpt.load_model_state(self.model, state["model"])
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(
                f"the optimizer state does not fit this optimizer ({exc}); resume with the same optimizer"
            ) from None
        if state.get("lr_schedule") is not None:
            if self.lr_schedule is None:
                raise CheckpointError("the checkpoint has a learning-rate schedule state but this run has none")
            self.lr_schedule.load_state_dict(state["lr_schedule"])
        self.callbacks.load_state_dict(state.get("callbacks") or {})
        for m in self.metrics:
            if m.name in (state.get("metrics") or {}):
                m.load_state_dict(state["metrics"][m.name], device=self.device)
        self._loss_sum.copy_(state["loss_sum"])
        self._loss_count.copy_(state["loss_count"])
        self.epoch = int(state["epoch"])
        self._batch_in_epoch = int(state["batch_in_epoch"])
        self.global_step = int(state["global_step"])
        self._epoch_start_rng = state.get("epoch_start_rng")
        self._state = _to_device(state.get("tbptt_state"), self.device)
        if restore_rng:
            ckpt.restore_rng_state(state["rng"])

    def save_checkpoint(self, path: str | Path, *, metrics: Mapping[str, float] | None = None) -> Path | None:
        """Write the full training state to ``path`` atomically (rank 0 only).

        Under torchrun every rank must call it (the NaN check is collective).
        Refuses (``TrainingError``) to write when the loss went NaN/inf or a
        parameter is not finite, so a good checkpoint is never overwritten.
        Returns the path written, or ``None`` on ranks other than 0.
        """
        self._check_finite()
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            self._raise_nonfinite(self.global_step - 1)
        if not self.is_main_process:
            return None
        path = Path(path)
        meta = {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "batch_in_epoch": self._batch_in_epoch,
            "config_hash": self.config_hash,
            "metrics": dict(metrics or {}),
            "model_class": type(self.model).__name__,
        }
        ckpt.save_checkpoint(path, self.state_dict(), metadata=meta)
        if path.name == "last.safetensors" or self._last_good_checkpoint is None:
            self._last_good_checkpoint = path
        return path

    def load_checkpoint(self, path: str | Path, *, restore_rng: bool = True) -> dict[str, Any]:
        """Load a checkpoint written by ``save_checkpoint``; returns its metadata."""
        state, meta = ckpt.load_checkpoint(path, map_location=self.device)
        if self.config_hash and meta.get("config_hash") and meta["config_hash"] != self.config_hash:
            import warnings

            warnings.warn(
                f"{path}: the checkpoint was written with a different config "
                f"(hash {meta['config_hash'][:12]} vs {self.config_hash[:12]})",
                stacklevel=2,
            )
        self.load_state_dict(state, restore_rng=restore_rng)
        return meta

    def _resume_from(self, resume: bool | str | Path) -> None:
        if resume is True:
            if self.checkpoint_dir is None:
                raise ConfigurationError("resume=True needs a run_dir; pass run_dir=... or resume=PATH")
            path = self.checkpoint_dir / "last.safetensors"
        else:
            path = Path(resume)
            if path.is_dir():  # a run directory, or the checkpoints folder itself
                folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
                path = folder / "last.safetensors"
        if not path.exists():
            raise CheckpointError(
                f"cannot resume: {path} does not exist; the run wrote no checkpoint yet "
                "(start it again without --resume)"
            )
        self.load_checkpoint(path)
        self._last_good_checkpoint = path
        self._resuming_mid_epoch = self._batch_in_epoch > 0
        if self._resuming_mid_epoch and self._epoch_start_rng is None:
            raise CheckpointError(f"{path}: a mid-epoch checkpoint without the epoch-start RNG state")
