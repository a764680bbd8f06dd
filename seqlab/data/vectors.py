"""Pre-trained word vectors (word2vec, GloVe) aligned to a vocabulary.

Kim (2014) initialises the embedding with the 300-d word2vec vectors trained on
Google News (Mikolov et al. 2013); words without a vector get U[-a, a] with
a = 0.25 ("so that the randomly initialized vectors have the same variance as the
pre-trained ones"), and ``<pad>`` gets zeros.  :func:`load_vectors` builds that
``(V, E)`` matrix.  Formats (:func:`detect_format`):

* ``word2vec-binary``: a header ``"<count> <dim>\\n"``, then per word its UTF-8 bytes,
  a space, ``dim`` little-endian float32 values (most files add ``\\n`` after each);
* ``word2vec-text``: the same header, then ``word v1 ... vE`` lines;
* ``glove``: ``word v1 ... vE`` lines, no header.

Files are streamed (:func:`iter_vectors`) and only vocabulary words are kept, so the
3.6 GB Google News file needs memory for ``V x E`` floats only.  No vector file is in
shared/data; pass the path of one you have.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from seqlab.data.vocab import Vocabulary
from seqlab.errors import ConfigurationError, DataError, DatasetNotFoundError

__all__ = ["FORMATS", "VectorCoverage", "detect_format", "iter_vectors", "load_vectors"]

FORMATS = ("word2vec-binary", "word2vec-text", "glove")
_SPECIALS = frozenset({"<pad>", "<unk>", "<bos>", "<eos>"})


@dataclass
class VectorCoverage:
    """How many vocabulary words (specials excluded) had a pre-trained vector."""

    found: int
    total: int
    missing: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        return self.found / self.total if self.total else 1.0

    def __str__(self) -> str:
        return f"pre-trained vectors for {self.found}/{self.total} vocabulary words ({100 * self.fraction:.1f}%)"


def _parse_header(line: bytes) -> tuple[int, int] | None:
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise DatasetNotFoundError(
            f"vector file {path} not found; download one (e.g. GoogleNews-vectors-negative300.bin for word2vec, "
            "glove.840B.300d.txt for GloVe) and pass its path"
        )


def detect_format(path: str | os.PathLike) -> str:
    """``"word2vec-binary"``, ``"word2vec-text"`` or ``"glove"`` from the file's first bytes."""
    path = Path(path)
    _check_exists(path)
    with open(path, "rb") as f:
        first = f.readline()
        rest = f.read(4096)
    if _parse_header(first) is None:
        return "glove"
    if path.suffix == ".bin" or b"\0" in rest:
        return "word2vec-binary"
    try:
        rest.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(rest) - 4:  # not just a multi-byte character cut at the chunk's end
            return "word2vec-binary"
    return "word2vec-text"


def _iter_binary(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    with open(path, "rb") as f:
        header = _parse_header(f.readline())
        if header is None:
            raise DataError(f"{path}: bad word2vec header; expected '<count> <dim>' on the first line")
        count, dim = header
        width = 4 * dim
        for n in range(count):
            word = bytearray()
            while True:
                ch = f.read(1)
                if not ch:
                    raise DataError(f"{path}: file is truncated: it ends after {n} of {count} vectors")
                if ch == b" ":
                    break
                if ch != b"\n" or word:  # skip the newline that ends the previous vector
                    word.extend(ch)
            raw = f.read(width)
            if len(raw) != width:
                raise DataError(f"{path}: file is truncated inside vector {n + 1} of {count}")
            yield word.decode("utf-8", errors="replace"), np.frombuffer(raw, dtype="<f4").copy()


def _iter_text(path: Path, has_header: bool) -> Iterator[tuple[str, np.ndarray]]:
    dim = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if lineno == 1 and has_header:
                header = _parse_header(line.encode())
                if header is None:
                    raise DataError(f"{path}: bad word2vec header {line.strip()!r}; expected '<count> <dim>'")
                dim = header[1]
                continue
            parts = line.rstrip("\n").rstrip().split(" ")
            if len(parts) < 2:
                continue  # blank line
            word, values = parts[0], parts[1:]
            if dim is None:
                dim = len(values)
            if len(values) != dim:
                raise DataError(f"{path} line {lineno}: vector has {len(values)} values, expected {dim}")
            try:
                vec = np.asarray(values, dtype=np.float32)
            except ValueError:
                raise DataError(f"{path} line {lineno}: non-numeric value in the vector of {word!r}") from None
            yield word, vec


def iter_vectors(path: str | os.PathLike, format: str | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """Stream ``(word, vector (E,) float32)`` pairs; ``format`` is detected when None."""
    path = Path(path)
    _check_exists(path)
    format = format or detect_format(path)
    if format == "word2vec-binary":
        yield from _iter_binary(path)
    elif format in ("word2vec-text", "glove"):
        yield from _iter_text(path, has_header=format == "word2vec-text")
    else:
        raise ConfigurationError(f"unknown vector format {format!r}; valid: {', '.join(FORMATS)}")


def _token_ids(vocab: Vocabulary | Sequence[str] | Mapping[str, int]) -> tuple[dict[str, int], int, set[int], int | None]:
    """(token -> id, V, ids of specials, pad id) for any vocabulary form."""
    if isinstance(vocab, Vocabulary):
        stoi = {t: i for i, t in enumerate(vocab.tokens)}
        return stoi, len(vocab), vocab.special_ids, vocab.pad_id
    if isinstance(vocab, Mapping):
        stoi = dict(vocab)
        size = max(stoi.values()) + 1 if stoi else 0
    else:
        stoi = {}
        for i, t in enumerate(vocab):
            stoi.setdefault(t, i)
        size = len(vocab)
    specials = {i for t, i in stoi.items() if t in _SPECIALS}
    return stoi, size, specials, stoi.get("<pad>")


def load_vectors(
    path: str | os.PathLike,
    vocab: Vocabulary | Sequence[str] | Mapping[str, int],
    *,
    dim: int | None = None,
    format: str | None = None,
    init_range: float = 0.25,
    seed: int = 0,
) -> tuple[torch.Tensor, VectorCoverage]:
    """The ``(V, E)`` embedding matrix for ``vocab`` and the coverage.

    Args:
        path: the vector file.
        vocab: a :class:`Vocabulary`, a token list (index = id) or a token -> id mapping.
        dim: expected E (DataError when the file differs); None accepts the file's.
        format: one of ``FORMATS``; detected when None.
        init_range: words without a vector get U[-init_range, init_range] (Kim: 0.25).
        seed: seeds those random rows.

    Returns:
        ``(weights (V, E) float32, VectorCoverage)``; the ``<pad>`` row is zeros.
    """
    stoi, size, specials, pad_id = _token_ids(vocab)
    rows: np.ndarray | None = None
    found = np.zeros(size, dtype=bool)
    for word, vec in iter_vectors(path, format):
        if rows is None:
            if dim is not None and vec.shape[0] != dim:
                raise DataError(f"{path}: vectors have dimension {vec.shape[0]}, expected {dim}")
            rows = np.empty((size, vec.shape[0]), dtype=np.float32)
        idx = stoi.get(word)
        if idx is not None and not found[idx]:
            rows[idx] = vec
            found[idx] = True
    if rows is None:
        raise DataError(f"{path}: no vectors in the file")
    missing = ~found
    rng = np.random.default_rng(seed)
    rows[missing] = rng.uniform(-init_range, init_range, size=(int(missing.sum()), rows.shape[1])).astype(np.float32)
    if pad_id is not None:
        rows[pad_id] = 0.0
    words = [(i, t) for t, i in stoi.items() if i not in specials]
    coverage = VectorCoverage(
        found=sum(bool(found[i]) for i, _ in words),
        total=len(words),
        missing=[t for i, t in sorted(words) if not found[i]],
    )
    return torch.from_numpy(rows), coverage
