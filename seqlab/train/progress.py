"""Progress display: a rich progress bar on a terminal, plain log lines otherwise.

``verbose`` (Keras' meaning): ``0`` / ``"quiet"`` / ``False`` silent; ``1`` a live bar
(loss, metrics, samples or tokens per second) on a terminal and, when stdout is not a
terminal, a plain line every ``log_every_s`` seconds plus one per epoch; ``2`` one line
per epoch; ``"auto"``: 1 on a terminal, 2 otherwise.  Only rank 0 prints.  Values
shown during an epoch are this process's running means, read at most every
``refresh_s`` seconds (each read is one device sync); the epoch line shows the
reduced epoch logs.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from seqlab.errors import ConfigurationError
from seqlab.train.callbacks import Callback

__all__ = ["ProgressBar", "format_logs"]


def format_logs(logs: dict[str, Any]) -> str:
    """``loss 0.4123 - accuracy 0.8123`` (floats with 4 significant decimals)."""
    parts = []
    for k, v in logs.items():
        parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
    return " - ".join(parts)


def _rate(n: float, seconds: float, unit: str) -> str:
    r = n / seconds if seconds > 0 else 0.0
    return f"{r / 1000:.1f}k {unit}/s" if r >= 10_000 else f"{r:.0f} {unit}/s"


class ProgressBar(Callback):
    """Shows training progress; see the module docstring for ``verbose``."""

    order = 40

    def __init__(self, verbose: int | str | bool = "auto", *, stream: TextIO | None = None, refresh_s: float = 0.2,
                 log_every_s: float = 10.0) -> None:
        if verbose in ("quiet", False, None):
            verbose = 0
        if verbose not in (0, 1, 2, "auto"):
            raise ConfigurationError(f"verbose must be 0/'quiet', 1, 2 or 'auto', got {verbose!r}")
        self.verbose = verbose
        self.stream = stream
        self.refresh_s = refresh_s
        self.log_every_s = log_every_s
        self._progress = None

    @property
    def out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stdout

    def _mode(self) -> str:
        """'off', 'bar' (rich), 'lines' (plain lines during the epoch) or 'epoch' (epoch lines only)."""
        if self.verbose == 0 or not self.trainer.is_main_process:
            return "off"
        tty = hasattr(self.out, "isatty") and self.out.isatty()
        if self.verbose == "auto":
            return "bar" if tty else "epoch"
        if self.verbose == 1:
            return "bar" if tty else "lines"
        return "epoch"

    def on_train_begin(self, logs=None):
        self.mode = self._mode()
        self.epochs = self.trainer.params.get("epochs")
        self.steps = self.trainer.params.get("steps")

    def on_epoch_begin(self, epoch, logs=None):
        if self.mode == "off":
            return
        self.t0 = self.last_refresh = self.last_line = time.monotonic()
        self.samples = 0
        self.tokens = 0
        if self.mode == "bar":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn(f"epoch {epoch + 1}/{self.epochs}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("{task.fields[info]}"),
                console=Console(file=self.out), transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("train", total=self.steps, info="")

    def _speed(self, elapsed: float) -> str:
        return _rate(self.tokens, elapsed, "tokens") if self.tokens else _rate(self.samples, elapsed, "samples")

    def on_batch_end(self, batch, logs=None):
        if self.mode == "off":
            return
        logs = logs or {}
        self.samples += logs.get("size") or 0
        self.tokens += logs.get("tokens") or 0
        if self.mode == "epoch":
            return
        now = time.monotonic()
        if self.mode == "bar":
            self._progress.update(self._task, completed=batch + 1)
            if now - self.last_refresh >= self.refresh_s:
                self.last_refresh = now
                info = f"{format_logs(self.trainer.running_logs())} - {self._speed(now - self.t0)}"
                self._progress.update(self._task, info=info)
        elif now - self.last_line >= self.log_every_s:
            self.last_line = now
            total = f"/{self.steps}" if self.steps else ""
            print(f"epoch {self.trainer.epoch + 1}/{self.epochs} step {batch + 1}{total} - "
                  f"{format_logs(self.trainer.running_logs())} - {self._speed(now - self.t0)}",
                  file=self.out, flush=True)

    def on_epoch_end(self, epoch, logs=None):
        if self.mode == "off":
            return
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        elapsed = time.monotonic() - self.t0
        speed = f" - {self._speed(elapsed)}" if (self.samples or self.tokens) else ""
        print(f"epoch {epoch + 1}/{self.epochs} - {elapsed:.1f}s - {format_logs(dict(logs or {}))}{speed}",
              file=self.out, flush=True)

    def on_train_end(self, logs=None):
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
