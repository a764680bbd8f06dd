"""Decoding of the text files of the dataset readers, with one clear error for a bad byte."""

from __future__ import annotations

from pathlib import Path

from seqlab.errors import DataError

__all__ = ["decode_text", "read_text"]


def decode_text(path: str | Path, raw: bytes, encoding: str) -> str:
    """``raw.decode(encoding)``; a byte that is not valid ``encoding`` raises a :class:`DataError`
    naming the file, the byte offset and the fix (issue 13 item 2), never a ``UnicodeDecodeError``.

    A damaged byte keeps the file size, so the size check of ``ensure_files`` passes; only the
    full checksum (``seqlab datasets --verify``) would have caught it.
    """
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.end]
        raise DataError(
            f"{path} is not valid {encoding}: byte offset {exc.start:,} (0x{bad.hex().upper()}) "
            f"{exc.reason}; the file is damaged or is not the one listed in SOURCES.md. Check it with "
            f"`seqlab datasets --verify`, then delete it and let seqlab download it again (or copy it again)"
        ) from None


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """The whole file decoded with :func:`decode_text`."""
    return decode_text(path, Path(path).read_bytes(), encoding)
