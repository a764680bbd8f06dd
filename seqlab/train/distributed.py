"""Distributed data-parallel training under ``torchrun`` (no home-made launcher).

``torchrun --nproc_per_node=N script.py`` (or ``python -m torch.distributed.run``)
sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; when ``WORLD_SIZE > 1`` the engine

- initialises the default process group: ``gloo`` on CPU, ``nccl`` on CUDA (one GPU
  per process, ``cuda:LOCAL_RANK``);
- wraps the model in ``DistributedDataParallel`` (gradients are averaged, so with
  mean losses N processes × batch B equal one process with batch N·B);
- shards the data with a ``DistributedSampler`` (``set_epoch`` every epoch so the
  shuffle changes per epoch and agrees across ranks);
- all-reduces the metric sums, so every rank logs the global values;
- agrees on stopping: ``stop_training`` (EarlyStopping, the recipes' TimeLimit, any
  callback) and SIGINT/SIGTERM flags are all-reduced with MAX at sync points, so all
  ranks stop after the same step even when only one rank asked (``Trainer._should_stop``);
- writes files (checkpoints, logs, progress) from rank 0 only;
- leaves the group cleanly with :func:`shutdown` (barrier, then ``destroy_process_group``),
  which ``seqlab run`` calls at the end; scripts that drive a ``Trainer`` under torchrun
  call it before they exit.

Why the engine keeps its last collectives' ``Work`` handles: gloo runs each collective on a
worker thread, which drops its reference to the work a moment *after* the caller has been
woken.  If that is the last reference, the worker frees the work's tensors, and freeing a
tensor that has a Python object needs the GIL (torch 2.13 keeps the Python object alive
while C++ holds references).  When the script has returned in the meantime and the
interpreter is finalizing, the worker cannot take the GIL, is unwound by ``pthread_exit``
and the process dies with ``terminate called without an active exception`` (SIGABRT).
Seen here in about 1 of 5 2-process runs with both cores loaded (gdb on the core:
``ProcessGroupGloo::runLoop`` → ``~AsyncBarrierWork`` → ``~AsyncAllreduceWork`` →
``TensorImpl::decref_pyobject`` → ``take_gil`` → ``pthread_exit``).  So every collective
here is issued with ``async_op=True`` and its handle is kept in a module-level ring of the
last :data:`_KEPT_WORKS`; the worker's drop is then never the last one, and a work is freed
in the main thread, with the GIL, when it leaves the ring (or at interpreter teardown).
"""

from __future__ import annotations

import os
import pickle
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

from seqlab import errors
from seqlab.errors import ConfigurationError, SeqlabError

__all__ = [
    "DistributedContext", "barrier", "is_main_process", "make_loader", "run_on_main", "set_sampler_epoch", "shutdown",
]

_Result = TypeVar("_Result")

#: How many recent collective handles stay referenced (see the module docstring).
_KEPT_WORKS = 16
_recent_works: deque = deque(maxlen=_KEPT_WORKS)


def _wait_and_keep(work: Any) -> None:
    """Block on an ``async_op=True`` collective and keep its handle, so that this thread,
    never gloo's, frees it (see the module docstring)."""
    work.wait()
    _recent_works.append(work)


def _all_reduce(tensor: torch.Tensor, op: Any) -> None:
    """In-place, blocking all-reduce."""
    _wait_and_keep(dist.all_reduce(tensor, op=op, async_op=True))


def _initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def shutdown(*, barrier_first: bool = True) -> None:
    """Leave the default process group, if one is initialised: barrier, then destroy it.

    The barrier keeps a fast rank from tearing its connections down while a peer is still
    in its last collective.  ``barrier_first=False`` after a failure: the other ranks may
    be elsewhere, and a barrier would wait for them forever.  A no-op outside torchrun.
    """
    if not _initialized():
        return
    if barrier_first:
        barrier()
    dist.destroy_process_group()


def is_main_process() -> bool:
    """True on rank 0, and in a single process: the process that writes files and prints.

    Reads the process group when one is initialised, else ``RANK`` (set by torchrun).
    """
    if _initialized():
        return dist.get_rank() == 0
    return DistributedContext.from_env().rank == 0


def barrier() -> None:
    """Wait until every rank gets here (a no-op without an initialised process group)."""
    if _initialized():
        _wait_and_keep(dist.barrier(async_op=True))


def _broadcast(tensor: torch.Tensor) -> None:
    """In-place, blocking broadcast from rank 0; the ``Work`` is kept like ``_all_reduce``'s."""
    _wait_and_keep(dist.broadcast(tensor, src=0, async_op=True))


def _broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (pickled; rank 0 gets its own object back).

    What ``dist.broadcast_object_list`` does, written out because that function issues
    blocking collectives whose ``Work`` handles it drops at once, the pattern the module
    docstring explains can abort the process at exit.  Two broadcasts: the pickle's length,
    then its bytes (on the current CUDA device under nccl, which has no CPU tensors).
    """
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    main = dist.get_rank() == 0
    payload = pickle.dumps(obj) if main else b""
    size = torch.tensor([len(payload)], dtype=torch.long, device=device)
    _broadcast(size)
    if main:
        data = torch.frombuffer(bytearray(payload), dtype=torch.uint8).to(device)
    else:
        data = torch.empty(int(size.item()), dtype=torch.uint8, device=device)
    _broadcast(data)
    return obj if main else pickle.loads(data.cpu().numpy().tobytes())


def run_on_main(fn: Callable[[], _Result]) -> _Result:
    """Call ``fn()`` on rank 0 only and return its result on every rank.

    For work with side effects that must happen once (creating the run directory, writing
    ``results.json``).  Every rank must call it at the same point (it is a collective).
    The result is pickled and broadcast; a :class:`~seqlab.errors.SeqlabError` raised by
    ``fn`` is re-raised on every rank as the same ``seqlab.errors`` class with the same
    message, so all ranks fail the same way instead of the others waiting for rank 0 at
    the next collective.  Any other exception is re-raised on rank 0 and reported as a
    ``RuntimeError`` on the other ranks.  Without an initialised process group it is
    just ``fn()``.
    """
    if not _initialized() or dist.get_world_size() == 1:
        return fn()
    if dist.get_rank() == 0:
        try:
            result = fn()
            pickle.dumps(result)  # fail here, not inside the broadcast, when it cannot be sent
        except SeqlabError as exc:
            _broadcast_object(("error", type(exc).__name__, str(exc)))
            raise
        except BaseException as exc:
            _broadcast_object(("crash", type(exc).__name__, str(exc)))
            raise
        _broadcast_object(("ok", result))
        return result
    status, *rest = _broadcast_object(None)
    if status == "ok":
        return rest[0]
    name, message = rest
    if status == "error":
        cls = getattr(errors, name, None)
        if not (isinstance(cls, type) and issubclass(cls, SeqlabError)):
            cls = SeqlabError
        raise cls(message)
    raise RuntimeError(f"rank 0 failed with {name}: {message}")


@dataclass
class DistributedContext:
    """Rank information read from the torchrun environment."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @classmethod
    def from_env(cls) -> DistributedContext:
        """Read ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` (defaults: a single process)."""
        try:
            return cls(
                rank=int(os.environ.get("RANK", 0)),
                local_rank=int(os.environ.get("LOCAL_RANK", 0)),
                world_size=int(os.environ.get("WORLD_SIZE", 1)),
            )
        except ValueError as exc:
            raise ConfigurationError(f"bad torchrun environment (RANK/LOCAL_RANK/WORLD_SIZE): {exc}") from None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def init_process_group(self, device: torch.device) -> None:
        """Initialise the default group (gloo on CPU, nccl on CUDA) once, if distributed."""
        if not self.enabled or dist.is_initialized():
            return
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")

    def wrap_model(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """``DistributedDataParallel(model)`` when distributed, else ``model`` itself."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def all_reduce_sum(self, tensors: list[torch.Tensor]) -> None:
        """In-place sum over ranks."""
        for t in tensors:
            _all_reduce(t, dist.ReduceOp.SUM)

    def all_reduce_max(self, tensor: torch.Tensor) -> None:
        """In-place maximum over ranks."""
        _all_reduce(tensor, dist.ReduceOp.MAX)

    def all_reduce_min(self, tensor: torch.Tensor) -> None:
        """In-place minimum over ranks."""
        _all_reduce(tensor, dist.ReduceOp.MIN)


def _is_map_dataset(data: Any) -> bool:
    return isinstance(data, Dataset) and hasattr(data, "__getitem__") and hasattr(data, "__len__")


def make_loader(data: Any, *, batch_size: int | None, shuffle: bool, dist: DistributedContext, seed: int,
                train: bool) -> Any:
    """The iterable of batches the engine loops over.

    - a map-style ``Dataset`` needs ``batch_size``: a ``DataLoader`` is built, sharded by
      a ``DistributedSampler(shuffle=shuffle, seed=seed)`` when distributed;
    - a ``DataLoader`` is used as is when not distributed, or when its ``batch_sampler`` is
      already sharded for this rank (``num_replicas == world_size`` and ``rank``, as
      ``BucketBatchSampler(num_replicas=..., rank=...)``); otherwise, when distributed, rebuilt around a
      ``DistributedSampler`` with the same dataset, per-process ``batch_size``,
      ``collate_fn``, ``num_workers``, ``pin_memory`` and ``drop_last`` (shuffling if its
      sampler was a ``RandomSampler``);
    - any other iterable (a list of batches, a stream with ``is_stream = True``) is used
      as is — it must be re-iterable, one pass per epoch, and pre-sharded per rank
      when distributed.
    """
    is_stream = bool(getattr(data, "is_stream", False) or getattr(getattr(data, "dataset", None), "is_stream", False))
    if isinstance(data, DataLoader):
        if batch_size is not None:
            raise ConfigurationError("batch_size is only used with a Dataset; the DataLoader already has one")
        if not dist.enabled or is_stream:
            return data
        batch_sampler = data.batch_sampler
        if (data.batch_size is None and getattr(batch_sampler, "num_replicas", 1) == dist.world_size
                and getattr(batch_sampler, "rank", 0) == dist.rank):
            return data  # its batch sampler already yields this rank's batches (BucketBatchSampler(num_replicas=...))
        if data.batch_size is None:
            raise ConfigurationError(
                "cannot shard a DataLoader with a custom batch_sampler across processes; pass the Dataset and "
                "batch_size instead, or shard the data yourself per rank"
            )
        sampler = DistributedSampler(
            data.dataset, num_replicas=dist.world_size, rank=dist.rank,
            shuffle=isinstance(data.sampler, RandomSampler), seed=seed,
        )
        return DataLoader(
            data.dataset, batch_size=data.batch_size, sampler=sampler, collate_fn=data.collate_fn,
            num_workers=data.num_workers, pin_memory=data.pin_memory, drop_last=data.drop_last,
        )
    if _is_map_dataset(data) and not is_stream:
        if batch_size is None:
            raise ConfigurationError(
                f"got a Dataset ({type(data).__name__}) without batch_size; pass batch_size=... or a DataLoader"
            )
        if dist.enabled:
            sampler = DistributedSampler(data, num_replicas=dist.world_size, rank=dist.rank, shuffle=shuffle and train,
                                         seed=seed)
            return DataLoader(data, batch_size=batch_size, sampler=sampler)
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle and train)
    if batch_size is not None:
        raise ConfigurationError(
            f"batch_size is only used with a Dataset; got {type(data).__name__}, which already yields batches"
        )
    if iter(data) is data:
        raise ConfigurationError(
            f"the data is a one-shot iterator ({type(data).__name__}); pass a DataLoader, a list of batches or "
            "another re-iterable object so that every epoch can iterate it again"
        )
    return data


def set_sampler_epoch(loader: Any, epoch: int) -> None:
    """Call ``set_epoch(epoch)`` on every distinct object among a DataLoader's ``sampler``,
    ``batch_sampler`` and ``batch_sampler.sampler`` that has it (``DistributedSampler``,
    bucketing batch samplers), so that each epoch has its own, reproducible order."""
    batch_sampler = getattr(loader, "batch_sampler", None)
    seen: list[int] = []
    for obj in (getattr(loader, "sampler", None), batch_sampler, getattr(batch_sampler, "sampler", None)):
        if obj is not None and id(obj) not in seen and hasattr(obj, "set_epoch"):
            seen.append(id(obj))
            obj.set_epoch(epoch)
