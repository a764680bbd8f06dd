"""seqlab.train: the training engine, callbacks, checkpoints, metrics, losses, optimizers.

``Trainer`` runs fit / evaluate / predict for any ``torch.nn.Module``; the Keras-style
API (``seqlab.keras``) and the command line (``seqlab run``) are front ends to it::

    from seqlab.train import Trainer, EarlyStopping
    trainer = Trainer(model, loss="cross_entropy", optimizer="adam", metrics=["accuracy"],
                      callbacks=[EarlyStopping(patience=2)], run_dir="runs/demo", seed=0)
    history = trainer.fit(train_loader, epochs=10, val_data=val_loader)
    trainer.evaluate(test_loader)         # {"loss": ..., "accuracy": ...}

Files: ``engine`` (the loop, TBPTT, resume), ``callbacks``, ``progress``,
``checkpoint`` (safetensors + JSON metadata, atomic, never unpickles), ``metrics``,
``losses``, ``optim`` (optimizers and LR schedules by name), ``distributed`` (torchrun/DDP).
"""

from seqlab.train.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    JSONLLogger,
    LearningRateScheduler,
    ModelCheckpoint,
    TensorBoard,
)
from seqlab.train.checkpoint import load_checkpoint, load_model_weights, read_checkpoint_metadata, save_checkpoint
from seqlab.train.engine import Trainer, detach_state, resolve_device, seed_everything
from seqlab.train.lazy_adadelta import LazyAdadelta
from seqlab.train.losses import LOSSES, get_loss
from seqlab.train.metrics import METRICS, Metric, get_metric
from seqlab.train.optim import LR_SCHEDULES, OPTIMIZERS, LRSchedule, build_lr_schedule, build_optimizer
from seqlab.train.progress import ProgressBar

__all__ = [
    "Trainer", "detach_state", "resolve_device", "seed_everything",
    "Callback", "CallbackList", "History", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler",
    "CSVLogger", "JSONLLogger", "TensorBoard", "ProgressBar",
    "save_checkpoint", "load_checkpoint", "load_model_weights", "read_checkpoint_metadata",
    "LOSSES", "get_loss", "METRICS", "Metric", "get_metric",
    "OPTIMIZERS", "LR_SCHEDULES", "LRSchedule", "build_optimizer", "build_lr_schedule",
    "LazyAdadelta",
]
