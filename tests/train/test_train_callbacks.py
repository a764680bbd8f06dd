"""Each callback's behaviour: EarlyStopping, ModelCheckpoint, loggers, TensorBoard, progress."""

from __future__ import annotations

import csv
import io
import json

import pytest
import torch
from _train_helpers import loader, mlp, xor_like_data

from seqlab.train import (
    Callback,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
    TensorBoard,
    Trainer,
    load_model_weights,
    read_checkpoint_metadata,
)


def _scripted(callback, values, monitor="val_loss"):
    """Drive ``callback`` with a scripted sequence of monitored values.

    Before epoch ``e`` the model's first bias is set to ``e`` so restored weights tell
    which epoch they come from.  Returns (trainer, number of epochs run).
    """
    trainer = Trainer(mlp(), loss="cross_entropy", callbacks=[callback], verbose=0)
    callback.on_train_begin()
    for epoch, value in enumerate(values):
        with torch.no_grad():
            trainer.model[0].bias.fill_(float(epoch))
        callback.on_epoch_end(epoch, {monitor: value})
        if trainer.stop_training:
            return trainer, epoch + 1
    return trainer, len(values)


def test_early_stopping_patience_and_restore_best_weights():
    es = EarlyStopping("val_loss", patience=2, restore_best_weights=True)
    trainer, ran = _scripted(es, [1.0, 0.8, 0.9, 0.85, 0.7, 0.6])
    assert ran == 4 and es.stopped_epoch == 3 and es.best == 0.8 and es.best_epoch == 1
    assert torch.all(trainer.model[0].bias == 1.0)  # weights of epoch 1 restored


def test_early_stopping_min_delta_mode_max_and_no_restore():
    es = EarlyStopping("val_accuracy", patience=1, min_delta=0.05)  # mode auto -> max
    trainer, ran = _scripted(es, [0.5, 0.52, 0.6, 0.61], monitor="val_accuracy")
    # 0.52 is not an improvement over 0.5 by > 0.05 -> stops at epoch 1
    assert ran == 2 and es.best == 0.5
    assert torch.all(trainer.model[0].bias == 1.0)  # last weights kept
    es = EarlyStopping("val_loss", patience=3)
    _, ran = _scripted(es, [1.0, 0.9, 0.8, 0.7, 0.6])
    assert ran == 5 and es.stopped_epoch == -1


def test_early_stopping_in_fit_stops_training():
    es = EarlyStopping("loss", patience=0, mode="max")  # loss falls, so "max" never improves
    trainer = Trainer(mlp(), loss="cross_entropy", optimizer="adam", lr=0.01, callbacks=[es], verbose=0)
    history = trainer.fit(loader(xor_like_data(64)), epochs=10)
    assert len(history.history["loss"]) == 2


def test_model_checkpoint_best_and_last(tmp_path):
    trainer = Trainer(mlp(), loss="cross_entropy", optimizer="adam", lr=0.05, metrics=["accuracy"], verbose=0,
                      callbacks=[ModelCheckpoint(tmp_path / "ck", monitor="val_loss")], seed=0, device="cpu")
    history = trainer.fit(loader(xor_like_data(64)), epochs=4, val_data=loader(xor_like_data(64, seed=3), 32, False))
    val = history.history["val_loss"]
    best_epoch = min(range(len(val)), key=val.__getitem__)
    best = read_checkpoint_metadata(tmp_path / "ck" / "best.safetensors")
    last = read_checkpoint_metadata(tmp_path / "ck" / "last.safetensors")
    assert best["epoch"] == best_epoch + 1 and best["metrics"]["val_loss"] == val[best_epoch]
    assert last["epoch"] == 4 and last["metrics"]["val_loss"] == val[-1]
    model = mlp(seed=7)
    load_model_weights(model, tmp_path / "ck" / "last.safetensors")
    assert torch.equal(model[3].weight, trainer.model[3].weight)


def test_csv_and_jsonl_logs_match_history(tmp_path):
    trainer = Trainer(mlp(), loss="cross_entropy", metrics=["accuracy"], run_dir=tmp_path, verbose=0)
    history = trainer.fit(loader(xor_like_data(64)), epochs=3, val_data=loader(xor_like_data(32, seed=2), 32, False))
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "lr", "val_accuracy", "val_loss"]
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    # History has exactly Keras' keys; the learning rate is kept in the run files only.
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key, values in history.history.items():
        assert [float(r[key]) for r in rows] == values
    assert [float(r["lr"]) for r in rows] == [0.001] * 3  # adam's default
    records = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    assert [r["epoch"] for r in records] == [0, 1, 2] and [r["step"] for r in records] == [4, 8, 12]
    assert [r["lr"] for r in records] == [0.001] * 3
    for key, values in history.history.items():
        assert [r[key] for r in records] == values


def test_learning_rate_scheduler_callback():
    lrs = []

    class Record(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            lrs.append(self.trainer.lr)

    sched = LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5**epoch)
    trainer = Trainer(mlp(), loss="cross_entropy", optimizer="sgd", callbacks=[sched, Record()], verbose=0)
    history = trainer.fit(loader(xor_like_data(32)), epochs=3)
    # As Keras 3's LearningRateScheduler: the epoch's rate is logged as "learning_rate" (no "lr").
    assert lrs == pytest.approx([0.1, 0.05, 0.025]) and history.history["learning_rate"] == pytest.approx(lrs)
    assert sorted(history.history) == ["learning_rate", "loss"]


def test_tensorboard_event_file_is_readable(tmp_path):
    pytest.importorskip("tensorboard", reason="the TensorBoard callback needs the tensorboard package")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer = Trainer(mlp(), loss="cross_entropy", metrics=["accuracy"], verbose=0,
                      callbacks=[TensorBoard(tmp_path / "tb", update_freq=2)])
    history = trainer.fit(loader(xor_like_data(64)), epochs=2)
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"epoch/loss", "epoch/accuracy", "epoch/lr", "batch/loss"} <= set(tags)
    losses = [e.value for e in acc.Scalars("epoch/loss")]
    assert losses == pytest.approx(history.history["loss"], rel=1e-6)  # stored as float32
    assert [e.step for e in acc.Scalars("batch/loss")] == [2, 4, 6, 8]


def test_progress_plain_text_modes():
    def run(verbose, **kw):
        out = io.StringIO()  # not a terminal
        trainer = Trainer(mlp(), loss="cross_entropy", metrics=["accuracy"],
                          callbacks=[ProgressBar(verbose, stream=out, **kw)])
        trainer.fit(loader(xor_like_data(64)), epochs=2)
        return out.getvalue().splitlines()

    lines = run(1, log_every_s=0.0)
    epoch_lines = [line for line in lines if line.startswith("epoch 1/2 - ") or line.startswith("epoch 2/2 - ")]
    step_lines = [line for line in lines if " step " in line]
    assert len(epoch_lines) == 2 and len(step_lines) == 8
    assert "loss" in epoch_lines[0] and "accuracy" in epoch_lines[0] and "samples/s" in epoch_lines[0]
    assert step_lines[0].startswith("epoch 1/2 step 1/4 - loss ")
    assert "\x1b[" not in "\n".join(lines)  # no terminal escape codes in a log file
    assert len(run(2)) == 2
    assert run(0) == [] and run("quiet") == []


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_uses_rich():
    out = _Terminal()
    trainer = Trainer(mlp(), loss="cross_entropy", metrics=["accuracy"], callbacks=[ProgressBar(1, stream=out)])
    trainer.fit(loader(xor_like_data(64)), epochs=2)
    text = out.getvalue()
    assert "epoch 2/2 - " in text and "accuracy" in text
    assert "\x1b[" in text  # live display (cursor control) was drawn


def test_keras_spellings_model_stop_training_and_train_batch_hooks():
    class StopAfterThreeBatches(Callback):  # written the Keras way
        def __init__(self):
            self.batches = []

        def on_train_batch_end(self, batch, logs=None):
            self.batches.append(batch)
            if len(self.batches) == 3:
                self.model.stop_training = True

    cb = StopAfterThreeBatches()
    trainer = Trainer(mlp(), loss="cross_entropy", callbacks=[cb], verbose=0)
    history = trainer.fit(loader(xor_like_data(64)), epochs=5)  # 4 batches per epoch
    assert cb.batches == [0, 1, 2] and trainer.global_step == 3 and len(history.history["loss"]) == 1
    assert cb.model is trainer.model


def test_recipe_time_limit_stops_after_the_step_that_crosses_it():
    from seqlab.train.callbacks import TimeLimit

    trainer = Trainer(mlp(), loss="cross_entropy", callbacks=[TimeLimit(0.0)], verbose=0)
    history = trainer.fit(loader(xor_like_data(64)), epochs=3)  # 4 batches per epoch
    assert trainer.global_step == 1 and trainer.stop_training and history.epoch == [0]
    trainer = Trainer(mlp(), loss="cross_entropy", callbacks=[TimeLimit(3600.0)], verbose=0)
    trainer.fit(loader(xor_like_data(64)), epochs=3)
    assert trainer.global_step == 12 and not trainer.stop_training
