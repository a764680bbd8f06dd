"""Exception types shared by every layer of seqlab.

Every error raised on bad user input says what happened, what was expected and
how to fix it (STYLE.md principle 11).  Each subclasses ``SeqlabError`` and the
matching builtin (``ValueError`` ...), so callers may catch either.
"""

from __future__ import annotations


class SeqlabError(Exception):
    """Base class of every error seqlab raises on purpose."""


class ConfigurationError(SeqlabError, ValueError):
    """A config key, value or argument combination is invalid."""


class ShapeError(SeqlabError, ValueError):
    """A tensor has the wrong rank, size or dtype for the call."""


class DataError(SeqlabError, ValueError):
    """A data file is missing, malformed, mis-encoded or fails its checksum."""


class DatasetNotFoundError(DataError, FileNotFoundError):
    """A dataset file is neither in the data directories nor downloadable."""


class CheckpointError(SeqlabError, ValueError):
    """A checkpoint is corrupt, truncated, foreign or incompatible."""


class TrainingError(SeqlabError, RuntimeError):
    """Training cannot continue (for example the loss became NaN)."""
