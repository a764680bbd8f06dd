"""Safe extraction of downloaded tar and zip archives.

No current dataset ships as an archive (every file is fetched raw), but future
ones will (WikiText zips, UCI HAR).  Archives from the internet may be hostile
("tar slip", CVE-2007-4559): a member named ``/etc/x`` or ``../../x``, or a
symlink/hardlink pointing out of the target followed by a member written through
it.  :func:`extract_archive` checks every member *before* writing anything and
refuses the whole archive if one is unsafe.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from seqlab.errors import DataError

__all__ = ["extract_archive"]


def _unsafe_name(name: str) -> str | None:
    """Why a member name is unsafe, or None when it stays inside the target."""
    if not name:
        return "empty name"
    if "\0" in name:
        return "NUL byte in name"
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive or PureWindowsPath(name).root:
        return "absolute path"
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if ".." in parts:
        return "'..' component"
    return None


def _link_escapes(member_name: str, link_target: str, *, hard: bool) -> bool:
    """Whether a link named ``member_name`` pointing at ``link_target`` leaves the target dir."""
    if link_target.startswith("/") or PureWindowsPath(link_target).drive:
        return True
    # Symlinks resolve relative to the link's directory, hard links relative to the archive root.
    base = "" if hard else posixpath.dirname(member_name)
    resolved = posixpath.normpath(posixpath.join(base, link_target))
    return resolved == ".." or resolved.startswith("../")


def _check_tar(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for m in members:
        why = _unsafe_name(m.name)
        if why is None and (m.issym() or m.islnk()):
            if _link_escapes(m.name, m.linkname, hard=m.islnk()):
                why = f"link to {m.linkname!r} points outside the target directory"
        if why is None and (m.ischr() or m.isblk() or m.isfifo() or m.isdev()):
            why = "device or FIFO member"
        if why is not None:
            raise DataError(f"refusing to extract {tar.name}: member {m.name!r} is unsafe ({why}); nothing was extracted")
    return members


def _check_zip(archive: zipfile.ZipFile, source: Path) -> None:
    for info in archive.infolist():
        why = _unsafe_name(info.filename)
        mode = info.external_attr >> 16
        if why is None and stat.S_ISLNK(mode):
            target = archive.read(info).decode("utf-8", "replace")
            if _link_escapes(info.filename, target, hard=False):
                why = f"link to {target!r} points outside the target directory"
        if why is not None:
            raise DataError(f"refusing to extract {source}: member {info.filename!r} is unsafe ({why}); nothing was extracted")


def extract_archive(archive: str | os.PathLike, target_dir: str | os.PathLike) -> list[Path]:
    """Extract a ``.tar``/``.tar.gz``/``.tgz``/``.tar.bz2``/``.tar.xz`` or ``.zip`` into ``target_dir``.

    Every member is checked first; an absolute path, a ``..`` component, a link
    pointing outside ``target_dir`` or a device/FIFO member makes the whole call
    raise :class:`DataError` with nothing written.  Returns the extracted paths.
    """
    archive = Path(archive)
    target = Path(target_dir)
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            _check_zip(zf, archive)
            # zipfile never creates symlinks (a link member becomes a small text file).
            zf.extractall(target)
            return [target / name for name in zf.namelist()]
    try:
        tar = tarfile.open(archive)
    except tarfile.TarError as exc:
        raise DataError(f"{archive} is neither a zip nor a tar archive ({exc}); expected .zip or .tar[.gz|.bz2|.xz]") from None
    with tar:
        members = _check_tar(tar)
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: a second line of defence (PEP 706)
            tar.extractall(target, members=members, filter="data")
        else:  # pragma: no cover
            tar.extractall(target, members=members)
        return [target / m.name for m in members]
