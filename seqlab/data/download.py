"""Finding dataset files on disk, checking them, and downloading the missing ones.

Every dataset file is described by a :class:`RemoteFile`: its path relative to a
data directory (the same layout as ``shared/data``, e.g. ``kim2014/rt-polarity.all``),
its canonical URL (a raw URL of the origin repository at a pinned commit) and
what is known to check it by: exact size, sha256, and/or the git blob id.

Look-up order for a file (first hit wins)::

    1. the ``data_dir`` argument
    2. $SEQLAB_DATA_DIR                    (may hold several directories, os.pathsep-separated)
    3. the user cache: $SEQLAB_CACHE_DIR/data, else ~/.cache/seqlab/data

A file found nowhere is downloaded into the cache (3): streamed into a temporary
file beside its destination, checked (size, sha256, git blob id), and only then
renamed into place, so a half-written or corrupt file is never seen under the
real name.  ``SEQLAB_OFFLINE=1`` forbids downloads.

Local files are checked cheaply on every load (the size, when known); the full
sha256 is computed on download always and on request (``verify=True`` or
``seqlab datasets --verify``), since hashing 21 MB of FSDD on every load is slow.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from seqlab.errors import DataError, DatasetNotFoundError

__all__ = [
    "RemoteFile",
    "cache_dir",
    "data_search_dirs",
    "downloads_allowed",
    "download_file",
    "ensure_files",
    "find_file",
    "check_file",
    "file_sha256",
    "git_blob_id",
]

_CHUNK = 1 << 16
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: where it lives relative to a data directory and upstream.

    Attributes:
        path: relative path inside a data directory, ``/``-separated (``ptb/ptb.train.txt``).
        url: canonical download URL (raw file of the origin repository at a pinned commit).
        sha256: expected sha256 hex digest, or None when not recorded.
        size: expected size in bytes, or None when not recorded.
        git_blob: expected ``git hash-object`` id (sha1 of ``b"blob <size>\\0" + content``),
            used for files whose sha256 was never recorded (they were absent from the
            snapshot, but their blob id upstream is known).
        mirrors: further URLs tried in order when the canonical one cannot be reached.
    """

    path: str
    url: str
    sha256: str | None = None
    size: int | None = None
    git_blob: str | None = None
    mirrors: tuple[str, ...] = field(default=())

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.url, *self.mirrors)


# --------------------------------------------------------------------------- where


def cache_dir() -> Path:
    """The user cache root: ``$SEQLAB_CACHE_DIR`` or ``~/.cache/seqlab``."""
    value = os.environ.get("SEQLAB_CACHE_DIR")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "seqlab"


def data_search_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Directories searched for dataset files, in order (see the module docstring)."""
    dirs: list[Path] = []
    if data_dir is not None:
        dirs.append(Path(data_dir).expanduser())
    env = os.environ.get("SEQLAB_DATA_DIR")
    if env:
        dirs.extend(Path(p).expanduser() for p in env.split(os.pathsep) if p)
    dirs.append(cache_dir() / "data")
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def downloads_allowed(download: bool | None = None) -> bool:
    """Whether a download may be attempted: ``download`` if given, else not ``$SEQLAB_OFFLINE``."""
    if os.environ.get("SEQLAB_OFFLINE", "").strip().lower() in _TRUE:
        return False
    return True if download is None else bool(download)


def find_file(remote: RemoteFile, dirs: Sequence[Path]) -> Path | None:
    """The first existing ``dir / remote.path`` among ``dirs``, or None."""
    for d in dirs:
        candidate = d / remote.path
        if candidate.is_file():
            return candidate
    return None


# --------------------------------------------------------------------------- checks


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def git_blob_id(path: str | os.PathLike) -> str:
    """``git hash-object`` of a file: sha1 over ``b"blob <size>\\0"`` + content."""
    size = os.path.getsize(path)
    h = hashlib.sha1(f"blob {size}\0".encode())
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


_verified: dict[tuple[str, int, int], bool] = {}


def check_file(path: Path, remote: RemoteFile, *, full: bool = False, what: str = "file") -> None:
    """Raise :class:`DataError` unless ``path`` matches what ``remote`` records.

    Always checks the size (cheap); with ``full=True`` also sha256 and the git blob id.
    Full results are memoised per (path, size, mtime) for the process.
    """
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        hint = "truncated" if size < remote.size else "too long"
        raise DataError(
            f"{what} {path} has {size:,} bytes but {remote.path} should have {remote.size:,} "
            f"({hint}: an interrupted copy or a different version). Delete it and let seqlab "
            f"download it again, or fetch it by hand from {remote.url}"
        )
    if not full:
        return
    key = (str(path), size, path.stat().st_mtime_ns)
    if _verified.get(key):
        return
    if remote.sha256 is not None:
        got = file_sha256(path)
        if got != remote.sha256:
            raise DataError(
                f"checksum mismatch for {what} {path}: expected sha256 {remote.sha256}, got {got}. "
                f"The file is corrupt or a different version; delete it and download it again "
                f"from {remote.url}"
            )
    if remote.git_blob is not None:
        got = git_blob_id(path)
        if got != remote.git_blob:
            raise DataError(
                f"checksum mismatch for {what} {path}: expected git blob id {remote.git_blob}, got {got}. "
                f"The file is corrupt or a different version; delete it and download it again "
                f"from {remote.url}"
            )
    _verified[key] = True


# --------------------------------------------------------------------------- download


class _FetchFailed(Exception):
    """The URL could not be fetched (network, HTTP status); try the next one."""


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once: os.umask can only be read by setting it


def _show_progress(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return sys.stderr.isatty()


def _fetch(url: str, tmp: Path, *, label: str, progress: bool, timeout: float) -> None:
    """Stream ``url`` into ``tmp``; raise _FetchFailed (network) or DataError (truncated)."""
    request = urllib.request.Request(url, headers={"User-Agent": "seqlab-data/1"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (https/http only)
    except urllib.error.HTTPError as exc:
        raise _FetchFailed(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise _FetchFailed(f"{url}: {reason}") from None
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        received = 0
        bar = None
        if progress:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            bar.start()
            task = bar.add_task(label, total=total)
        try:
            with open(tmp, "wb") as out:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except http.client.IncompleteRead as exc:
                        out.write(exc.partial)
                        received += len(exc.partial)
                        break
                    except (OSError, socket.timeout) as exc:
                        raise _FetchFailed(f"{url}: connection lost after {received:,} bytes ({exc})") from None
                    if not chunk:
                        break
                    out.write(chunk)
                    received += len(chunk)
                    if bar is not None:
                        bar.update(task, advance=len(chunk))
        finally:
            if bar is not None:
                bar.stop()
    if total is not None and received != total:
        raise DataError(
            f"download of {label} from {url} was truncated: the server announced {total:,} bytes "
            f"(Content-Length) but sent {received:,}. Try again later or fetch it by hand."
        )


def download_file(
    remote: RemoteFile,
    dest: str | os.PathLike,
    *,
    progress: bool | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download ``remote`` to ``dest`` via a temporary file renamed into place once it checks out.

    Tries ``remote.url`` then each mirror.  Raises:
        DataError: the bytes arrived but are truncated, the wrong size or fail a checksum
            (no file is left behind).
        DatasetNotFoundError: no URL could be fetched (offline, DNS, HTTP 404, server down).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for url in remote.urls:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            try:
                _fetch(url, tmp, label=remote.path, progress=_show_progress(progress), timeout=timeout)
            except _FetchFailed as exc:
                failures.append(str(exc))
                continue
            check_file(tmp, remote, full=True, what=f"downloaded {remote.path} (from {url})")
            os.chmod(tmp, 0o644 & ~_UMASK)  # mkstemp makes 0600; give the usual file mode
            os.replace(tmp, dest)
            return dest
        finally:
            tmp.unlink(missing_ok=True)
    raise DatasetNotFoundError(
        f"could not download {remote.path}: " + "; ".join(failures) + f". Fetch {remote.url} by hand "
        f"and place it at <data dir>/{remote.path}."
    )


def ensure_files(
    dataset: str,
    remotes: Iterable[RemoteFile],
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
    verify: bool = False,
    progress: bool | None = None,
) -> dict[str, Path]:
    """Find every file of ``remotes`` (downloading what is missing into the cache) and check it.

    Returns ``{remote.path: local path}``.  Raises DatasetNotFoundError naming the
    dataset, every path looked at and the URL of each missing file when a file is
    neither on disk nor downloadable; DataError when a file fails its checks.
    """
    dirs = data_search_dirs(data_dir)
    remotes = list(remotes)
    found: dict[str, Path] = {}
    missing: list[RemoteFile] = []
    for remote in remotes:
        path = find_file(remote, dirs)
        if path is None:
            missing.append(remote)
        else:
            check_file(path, remote, full=verify)
            found[remote.path] = path
    if not missing:
        return found

    looked = ", ".join(str(d) for d in dirs)

    def not_found(reason: str) -> DatasetNotFoundError:
        lines = "\n".join(
            f"  {r.path}\n    looked at: {', '.join(str(d / r.path) for d in dirs)}\n    fetch: {r.url}"
            for r in missing
        )
        return DatasetNotFoundError(
            f"dataset {dataset!r}: {len(missing)} file(s) not found in {looked} and {reason}:\n{lines}\n"
            f"Download them into one of those directories (same relative paths), set SEQLAB_DATA_DIR, "
            f"or run `seqlab datasets --download {dataset}`."
        )

    if not downloads_allowed(download):
        why = "SEQLAB_OFFLINE is set" if os.environ.get("SEQLAB_OFFLINE") else "download=False"
        raise not_found(f"downloads are off ({why})")
    target = dirs[-1]  # the cache
    for remote in list(missing):
        try:
            found[remote.path] = download_file(remote, target / remote.path, progress=progress)
        except DatasetNotFoundError as exc:
            raise not_found(f"the download failed ({exc})") from None
        missing.remove(remote)
    return found
